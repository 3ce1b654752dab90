"""Tables in the MMLongBench PDFs: how they are chunked before and after
:func:`ingest.loaders.pdf_tables.separate_tables` and :mod:`ingest.loaders.pdf_cells`.

Each PDF is loaded (OCR off), and every page is split twice with the default chunk size: as
PDFium's text gives it, and with its tables set apart (tables of figures found in the text,
tables of words found from the page's geometry and written ``cell | cell``). Reported per kind:
tables found, tables that fit in one chunk but were cut anyway, tables kept whole, and chunks that
start inside a table and carry its header line in their context. A table of words is found in the
"before" text by its rows' words, one line each.

Run with:  .venv/bin/python bench/pdf_tables.py
"""

from __future__ import annotations

import json
import sys
import time

import pypdfium2

from common import ROOT, write_result

sys.path.insert(0, str(ROOT))

from ingest.loaders import LoadOptions  # noqa: E402
from ingest.loaders.base import LoadedDocument, Section  # noqa: E402
from ingest.loaders.furniture import remove_furniture  # noqa: E402
from ingest.loaders import pdf  # noqa: E402
from ingest.loaders.pdf_tables import separate_tables  # noqa: E402
from ingest.split import SplitConfig, split_document  # noqa: E402
from quality import MMLB  # noqa: E402
from ragkit.config import Settings  # noqa: E402
from ragkit.text import table_runs  # noqa: E402
from ragkit.tiktoken_offline import get_encoding  # noqa: E402


def pages_of(path, cells: bool) -> dict[int, str]:
    """The page texts the PDF loader splits, before tables are set apart (OCR off); without
    ``cells``, as PDFium gives them (no table of words written as cells)."""
    found_cells = pdf._cell_rows
    if not cells:
        pdf._cell_rows = lambda textpage: []
    try:
        extracted = pdf._pdfium_pages(path, LoadOptions(ocr=False))
    finally:
        pdf._cell_rows = found_cells
    pages, _removed = remove_furniture(extracted[0] if extracted else [])
    return {number: text for number, text in enumerate(pages, start=1) if text.strip()}


def _plain(line: str) -> str:
    return " ".join(line.replace(" | ", " ").split())


def spans_of(tables: dict[int, list[tuple[int, int, str]]], pages: dict[int, str], kind: str):
    """(page, start, end) of each table of ``kind`` in ``pages``: where it is in these texts."""
    for page, runs in tables.items():
        text = pages[page]
        for start, end, run_kind, rows in runs:
            if run_kind != kind:
                continue
            if text[start:end] == rows:  # these are the texts the tables were found in
                yield page, start, end
                continue
            lines = rows.split("\n")  # a table of words in the text without cells: its rows' words
            first, last = _plain(lines[0]), _plain(lines[-1])
            plain_lines = text.split("\n")
            offsets = [0]
            for line in plain_lines:
                offsets.append(offsets[-1] + len(line) + 1)
            for index, line in enumerate(plain_lines):
                if _plain(line) == first:
                    for stop in range(index, min(len(plain_lines), index + len(lines) + 5)):
                        if _plain(plain_lines[stop]) == last:
                            yield page, offsets[index], offsets[stop] + len(plain_lines[stop])
                            break
                    break


def measure(pages: dict[int, str], tables, config: SplitConfig, source: str) -> dict:
    encoding = get_encoding("cl100k_base")
    doc = LoadedDocument(sections=[Section(text=t, page=p) for p, t in pages.items()], texts=pages)
    chunks = split_document(doc, source=source, path=source, file_sha256="x" * 64, config=config, name="")
    out = {}
    for kind, label in (("figures", "figures"), ("pipes", "words")):
        counts = {"tables": 0, "fit_but_cut": 0, "fit_whole": 0, "chunks_starting_in_tables": 0,
                  "chunks_in_tables_with_header": 0}
        for page, start, end in spans_of(tables, pages, kind):
            text = pages[page]
            on_page = [c for c in chunks if c.page == page]
            counts["tables"] += 1
            fits = len(encoding.encode(text[start:end], disallowed_special=())) <= config.chunk_size
            whole = any(c.start <= start and end <= c.end for c in on_page)
            counts["fit_whole"] += fits and whole
            counts["fit_but_cut"] += fits and not whole
            inside = [c for c in on_page if start < c.start < end]
            counts["chunks_starting_in_tables"] += len(inside)
            counts["chunks_in_tables_with_header"] += sum(1 for c in inside if "\n" in c.context)
        out[label] = counts
    return out


def main() -> None:
    settings = Settings()
    config = SplitConfig(settings.chunk_size, settings.chunk_overlap, context=True)
    totals: dict = {"before": {}, "after": {}}
    seconds = {"with_cells": 0.0, "without": 0.0}
    page_count = 0
    for path in sorted((MMLB / "docs").glob("*.pdf")):
        started = time.perf_counter()
        with_cells = pages_of(path, cells=True)
        seconds["with_cells"] += time.perf_counter() - started
        started = time.perf_counter()
        before = pages_of(path, cells=False)
        seconds["without"] += time.perf_counter() - started
        page_count += len(pypdfium2.PdfDocument(str(path)))
        after = {page: separate_tables(text) for page, text in with_cells.items()}
        tables = {page: [(s, e, kind, text[s:e]) for s, e, kind in table_runs(text)] for page, text in after.items()}
        for label, pages in (("before", before), ("after", after)):
            for kind, counts in measure(pages, tables, config, path.name).items():
                for key, value in counts.items():
                    totals[label].setdefault(kind, {})[key] = totals[label].get(kind, {}).get(key, 0) + value
    totals["text_seconds"] = {k: round(v, 2) for k, v in seconds.items()} | {"pages": page_count}
    print(json.dumps(totals, indent=1))
    print(f"wrote {write_result('pdf-tables', {'corpus': 'mmlongbench-doc-dev docs, OCR off', **totals})}")


if __name__ == "__main__":
    main()
