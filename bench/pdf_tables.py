"""Tables of figures in the MMLongBench PDFs: how they are chunked before and after
:func:`ingest.loaders.pdf_tables.separate_tables`.

Each PDF is loaded (OCR off), and every page is split twice with the default chunk size: as
extracted, and with its tables of figures set apart. Reported: tables found, tables that fit in
one chunk but were cut anyway, tables kept whole, and chunks that start inside a table and carry
its header line in their context.

Run with:  .venv/bin/python bench/pdf_tables.py
"""

from __future__ import annotations

import json
import sys

from common import ROOT, write_result

sys.path.insert(0, str(ROOT))

from ingest.loaders import LoadOptions  # noqa: E402
from ingest.loaders.base import LoadedDocument, Section  # noqa: E402
from ingest.loaders.furniture import remove_furniture  # noqa: E402
from ingest.loaders.pdf import _pdfium_pages  # noqa: E402
from ingest.loaders.pdf_tables import separate_tables  # noqa: E402
from ingest.split import SplitConfig, split_document  # noqa: E402
from quality import MMLB  # noqa: E402
from ragkit.config import Settings  # noqa: E402
from ragkit.text import figure_tables  # noqa: E402
from ragkit.tiktoken_offline import get_encoding  # noqa: E402


def pages_of(path) -> dict[int, str]:
    """The page texts the PDF loader splits, before tables are set apart (OCR off)."""
    extracted = _pdfium_pages(path, LoadOptions(ocr=False))
    pages, _removed = remove_furniture(extracted[0] if extracted else [])
    return {number: text for number, text in enumerate(pages, start=1) if text.strip()}


def measure(pages: dict[int, str], config: SplitConfig, source: str) -> dict:
    encoding = get_encoding("cl100k_base")
    doc = LoadedDocument(sections=[Section(text=t, page=p) for p, t in pages.items()], texts=pages)
    chunks = split_document(doc, source=source, path=source, file_sha256="x" * 64, config=config, name="")
    out = {"tables": 0, "fit_but_cut": 0, "fit_whole": 0, "chunks_starting_in_tables": 0,
           "chunks_in_tables_with_header": 0}
    for page, text in pages.items():
        on_page = [c for c in chunks if c.page == page]
        for start, end in figure_tables(text):
            out["tables"] += 1
            fits = len(encoding.encode(text[start:end], disallowed_special=())) <= config.chunk_size
            whole = any(c.start <= start and end <= c.end for c in on_page)
            out["fit_whole"] += fits and whole
            out["fit_but_cut"] += fits and not whole
            inside = [c for c in on_page if start < c.start < end]
            out["chunks_starting_in_tables"] += len(inside)
            out["chunks_in_tables_with_header"] += sum(1 for c in inside if "\n" in c.context)
    return out


def main() -> None:
    settings = Settings()
    config = SplitConfig(settings.chunk_size, settings.chunk_overlap, context=True)
    totals = {"before": {}, "after": {}}
    for path in sorted((MMLB / "docs").glob("*.pdf")):
        before = pages_of(path)
        after = {page: separate_tables(text) for page, text in before.items()}
        for label, pages in (("before", before), ("after", after)):
            for key, value in measure(pages, config, path.name).items():
                totals[label][key] = totals[label].get(key, 0) + value
    print(json.dumps(totals, indent=1))
    print(f"wrote {write_result('pdf-tables', {'corpus': 'mmlongbench-doc-dev docs, OCR off', **totals})}")


if __name__ == "__main__":
    main()
