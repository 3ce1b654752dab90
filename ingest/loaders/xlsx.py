"""XLSX via openpyxl (read-only, cached values): one section per sheet, rows under their header.

Rows are rendered and blocked by :mod:`ingest.loaders.tabular`, so every block of rows repeats
the sheet's header line and the section path is the sheet name.

Cells are read with ``data_only=True``: what Excel showed, not the formula. A file written by a
program that never calculated it (many report generators) has formulas without a cached value;
openpyxl returns None for those, indistinguishable from an empty cell. Emitting the formula text
instead would index ``=SUM(B2:B9)`` as if it were content, so such cells stay empty and the file
gets a warning that counts them per sheet (found by one streaming pass over the sheet XML).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from lxml import etree

from ingest.loaders.base import LoadedDocument, LoadError, LoadOptions
from ingest.loaders.ooxml import main_part, open_package, read_xml, relationships
from ingest.loaders.tabular import BlockText, row_blocks

_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def load_xlsx(path: Path, options: LoadOptions) -> LoadedDocument:
    with open_package(path, "XLSX") as package:
        missing = _formulas_without_values(package)
    try:
        import openpyxl

        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except LoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types on damaged parts
        raise LoadError("corrupt", f"corrupt XLSX: {type(exc).__name__}: {exc}") from None
    built = BlockText()
    try:
        for sheet in workbook.worksheets:
            # Read every row the sheet has: some writers leave a stale <dimension> (e.g. "A1"),
            # and openpyxl's read-only mode would stop there without a word.
            sheet.reset_dimensions()
            for block in row_blocks(sheet.iter_rows(values_only=True)):
                built.add(block, (sheet.title,))
    except Exception as exc:  # noqa: BLE001
        raise LoadError("corrupt", f"corrupt XLSX: {type(exc).__name__}: {exc}") from None
    finally:
        workbook.close()
    if not built.sections:
        raise LoadError("no-text", "no text: the workbook has no cell values")
    document = LoadedDocument(sections=built.sections, texts={None: built.text})
    if missing:
        total = sum(missing.values())
        where = ", ".join(f"{name!r} ({count})" for name, count in missing.items())
        document.warnings.append(
            f"{total} formula cell(s) have no cached value (the file was saved without calculating "
            f"them) and are read as empty: {where}"
        )
        document.stats["formulas_without_value"] = total
    return document


def _formulas_without_values(package: zipfile.ZipFile) -> dict[str, int]:
    """Sheet name -> number of formula cells without a cached ``<v>`` value."""
    workbook_part = main_part(package, "XLSX", strict_ok=False)
    workbook = read_xml(package, workbook_part)
    if workbook is None:
        raise LoadError("corrupt", f"corrupt XLSX: no workbook part {workbook_part}")
    targets = {rel.id: rel.target for rel in relationships(package, workbook_part)}
    counts: dict[str, int] = {}
    for sheet in workbook.iter(f"{_S}sheet"):
        target = targets.get(sheet.get(f"{_R}id", ""))
        if target and target in package.namelist():
            count = _count_uncached(package, target)
            if count:
                counts[sheet.get("name", target)] = count
    return counts


def _count_uncached(package: zipfile.ZipFile, part: str) -> int:
    """Streamed so a sheet of a million rows costs little memory: finished rows are dropped."""
    count = 0
    try:
        with package.open(part) as stream:
            for _, element in etree.iterparse(stream, tag=(f"{_S}c", f"{_S}row"), resolve_entities=False,
                                              no_network=True):
                if element.tag == f"{_S}c":
                    if element.find(f"{_S}f") is not None and not element.findtext(f"{_S}v"):
                        count += 1
                    continue
                element.clear()
                while element.getprevious() is not None:
                    del element.getparent()[0]
    except (etree.XMLSyntaxError, zipfile.BadZipFile, EOFError) as exc:
        raise LoadError("corrupt", f"corrupt XLSX: malformed XML in {part} ({exc})") from None
    return count
