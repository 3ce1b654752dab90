"""How stage one reads and cuts files: the options both the ingest stage and its callers build.

``LoadOptions`` (what loaders may do with a file) and ``SplitConfig`` (how big a chunk is) are
built by the surfaces from :class:`ragkit.config.Settings` and consumed by ``ingest``. They live
in ragkit's foundation rather than in ``ingest`` so that a surface can configure stage one
while importing only its entry point (``ingest.pipeline``), and they sit in their own module
rather than in :mod:`ragkit.models` because they describe ingest settings, not records that
cross the retrieval seams. Plain frozen dataclasses with no imports: any layer can use them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoadOptions:
    """What a loader may do with one file (passwords, OCR budget, which parts to keep)."""

    pdf_password: str | None = None
    #: recognise text on PDF pages that have no text layer (offline OCR)
    ocr: bool = True
    #: at most this many pages of one file are OCRed ...
    ocr_max_pages: int = 50
    #: ... and OCR of one file stops after this many seconds (the rest is reported)
    ocr_seconds: float = 600.0
    #: keep lines repeated on most pages (running headers, footers, page numbers)
    keep_furniture: bool = False
    #: DOCX: add reviewers' comments as a "Comments" section after the body
    docx_comments: bool = True
    #: DOCX: add header and footer text as a "Headers and footers" section (they repeat per page)
    docx_headers_footers: bool = False


@dataclass(frozen=True)
class SplitConfig:
    """Chunk size and overlap in cl100k tokens, whether chunks carry a context line, and how many
    tokens one file may hold."""

    chunk_size: int = 200
    chunk_overlap: int = 40
    #: give each chunk its context line (document name, title, section): see ingest/context.py
    context: bool = True
    #: a file with more cl100k tokens than this fails instead of being embedded (0: no limit);
    #: 5,000,000 is OpenAI's own limit per file for file_search
    max_file_tokens: int = 5_000_000
