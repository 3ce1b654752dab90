"""DOCX via python-docx: body paragraphs and tables in document order.

Headings (``Heading N`` and ``Title`` styles) become the section path. A table row becomes one
line with its cells joined by `` | `` (merged cells are reported once per row).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from ingest.loaders.base import LoadedDocument, LoadError, LoadOptions, sections_with_headings

_HEADING = re.compile(r"^(?:heading|überschrift|titre)\s*(\d)$", re.IGNORECASE)


def _heading_level(paragraph) -> int | None:
    try:
        name = paragraph.style.name if paragraph.style is not None else ""
    except Exception:  # noqa: BLE001 - broken style parts should not fail the file
        return None
    if name and name.lower() == "title":
        return 1
    match = _HEADING.match(name or "")
    return int(match.group(1)) if match else None


def _table_lines(table) -> list[str]:
    lines = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous:  # horizontally merged cell
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            lines.append(" | ".join(cells))
    return lines


def load_docx(path: Path, options: LoadOptions) -> LoadedDocument:
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(str(path))
        blocks: list[tuple[str, int | None]] = []
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                text = block.text.strip()
                if text:
                    blocks.append((text.replace("\n", " "), _heading_level(block)))
            elif isinstance(block, Table):
                blocks.extend((line, None) for line in _table_lines(block))
    except zipfile.BadZipFile:
        raise LoadError("corrupt", "corrupt DOCX: not a zip archive") from None
    except Exception as exc:  # noqa: BLE001 - python-docx raises KeyError/ValueError on damaged parts
        raise LoadError("corrupt", f"corrupt DOCX: {type(exc).__name__}: {exc}") from None
    if not blocks:
        raise LoadError("no-text", "no text in the document body")
    text = "\n".join(line for line, _ in blocks)
    sections = sections_with_headings(blocks, text)
    return LoadedDocument(sections=sections, texts={None: text})
