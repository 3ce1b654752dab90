"""The one process-wide lock around PDFium.

PDFium (pypdfium2) is not thread-safe: two threads inside it at once can corrupt its state or
crash the process. Parse workers are separate processes, but within one process the ingest
loaders, OCR page rendering and the server's page renderer may all run at the same time (the
server ingests in a worker thread while a request renders a cited page). Every PDFium call in
the process must therefore hold this same lock, so it lives in ragkit's foundation, where both
stage one (``ingest.loaders``) and the surfaces can import it without importing each other.
"""

from __future__ import annotations

import threading

#: hold this around every PDFium call (open, text extraction, rendering, close)
PDFIUM_LOCK = threading.Lock()
