"""Spreadsheets and delimited text on generated files: XLSX sheets (made with openpyxl; cached
formula values and stale dimensions written as raw XML on top), CSV and TSV dialects and
encodings, and hostile tables. Every section and chunk must be an exact slice of the text."""

from __future__ import annotations

import datetime as dt
import re
import zipfile

import pytest

from ingest.loaders import LoadError, load_file
from loader_checks import assert_chunks_exact, assert_offsets_exact, rewrite_zip


# --- XLSX ----------------------------------------------------------------------------------


def test_xlsx_one_section_per_sheet_rows_under_header(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sales"
    sheet.append(["Name", "Amount", "When", "Paid"])
    sheet.append(["Ada", 1.5, dt.datetime(2024, 1, 2), True])
    sheet.append([None, None, None, None])
    sheet.append(["Bob", 0.1 + 0.2, dt.datetime(2024, 1, 2, 13, 5), False])
    sheet.append(["Cy  with\nnewline", 7, None, None])
    staff = book.create_sheet("Staff")
    staff.append([None, "Role"])
    staff.append(["Eve", "Engineer"])
    book.create_sheet("Empty")
    path = tmp_path / "book.xlsx"
    book.save(str(path))

    doc = load_file(path)
    sales = ("Name | Amount | When | Paid\nAda | 1.5 | 2024-01-02 | TRUE\nBob | 0.3 | 2024-01-02T13:05:00 | FALSE\n"
             "Cy with newline | 7")
    assert doc.texts[None] == sales + "\n\n | Role\nEve | Engineer"
    assert [(s.section, s.offset) for s in doc.sections] == [(("Sales",), 0), (("Staff",), len(sales) + 2)]
    assert doc.warnings == []
    assert_offsets_exact(doc)


def test_xlsx_large_sheet_repeats_header_in_every_block_and_chunk(tmp_path):
    import openpyxl

    from ingest.loaders.tabular import MAX_BLOCK_ROWS

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Log"
    sheet.append(["Id", "Event"])
    for number in range(1, 101):
        sheet.append([number, f"e{number}"])
    path = tmp_path / "big.xlsx"
    book.save(str(path))

    doc = load_file(path)
    assert len(doc.sections) == 3
    rows = [s.text.split("\n") for s in doc.sections]
    assert all(block[0] == "Id | Event" for block in rows)
    assert [len(block) - 1 for block in rows] == [MAX_BLOCK_ROWS, MAX_BLOCK_ROWS, 100 - 2 * MAX_BLOCK_ROWS]
    assert [line for block in rows for line in block[1:]] == [f"{n} | e{n}" for n in range(1, 101)]
    assert all(s.section == ("Log",) for s in doc.sections)
    assert_offsets_exact(doc)
    chunks = assert_chunks_exact(doc, chunk_size=400)
    assert len(chunks) == 3 and all(c.text.startswith("Id | Event\n") for c in chunks)


def test_xlsx_wide_rows_are_blocked_by_size_so_each_default_chunk_keeps_the_header(tmp_path):
    import openpyxl

    from ingest.split import SplitConfig

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Ticket", "Summary"])
    for number in range(60):
        sheet.append([number, f"Customer {number} reports that the pump stops after {number} minutes of running"])
    book.save(str(tmp_path / "wide.xlsx"))

    doc = load_file(tmp_path / "wide.xlsx")
    assert len(doc.sections) > 3
    chunks = assert_chunks_exact(doc, chunk_size=SplitConfig().chunk_size)
    assert all(c.text.startswith("Ticket | Summary\n") for c in chunks)


def test_xlsx_formulas_without_cached_values_are_counted_not_indexed(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Calc"
    sheet.append(["A", "B", "Total"])
    sheet.append([1, 2, "=A2+B2"])
    sheet.append([3, 4, "=A3+B3"])
    sheet.append([5, 6, "=A4+B4"])
    path = tmp_path / "calc.xlsx"
    book.save(str(path))
    with zipfile.ZipFile(path) as package:  # as if Excel had calculated the first formula
        xml = package.read("xl/worksheets/sheet1.xml").decode()
    xml, replaced = re.subn(r"(<f>A2\+B2</f>)(<v\s*/>|<v></v>)?", r"\1<v>3</v>", xml)
    assert replaced == 1
    rewrite_zip(path, {"xl/worksheets/sheet1.xml": xml.encode()})

    doc = load_file(path)
    assert doc.texts[None] == "A | B | Total\n1 | 2 | 3\n3 | 4\n5 | 6"
    assert "=" not in doc.texts[None]
    expected = ("2 formula cell(s) have no cached value (the file was saved without calculating "
                "them) and are read as empty: 'Calc' (2)")
    assert doc.warnings == [expected]
    assert doc.stats["formulas_without_value"] == 2


def test_xlsx_rows_beyond_a_stale_dimension_are_read(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    for row in (["k", "v"], ["a", 1], ["b", 2], [None, None, "late"]):
        book.active.append(row)
    path = tmp_path / "stale.xlsx"
    book.save(str(path))
    with zipfile.ZipFile(path) as package:
        xml = package.read("xl/worksheets/sheet1.xml").decode()
    xml, replaced = re.subn(r'<dimension ref="[^"]+"\s*/>', '<dimension ref="A1"/>', xml)
    assert replaced == 1
    rewrite_zip(path, {"xl/worksheets/sheet1.xml": xml.encode()})
    assert load_file(path).texts[None] == "k | v\na | 1\nb | 2\n |  | late"


def test_xlsx_without_values_fails_with_reason(tmp_path):
    import openpyxl

    openpyxl.Workbook().save(str(tmp_path / "empty.xlsx"))
    with pytest.raises(LoadError) as info:
        load_file(tmp_path / "empty.xlsx")
    assert (info.value.kind, info.value.reason) == ("no-text", "no text: the workbook has no cell values")


# --- CSV / TSV -----------------------------------------------------------------------------


def test_csv_semicolons_in_cp1252_are_sniffed_and_decoded(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_bytes("Produkt;Preis;Ort\nKäse;4,50 €;Zürich\n\"Brot; dunkel\";3,20 €;Genf\n".encode("cp1252"))
    doc = load_file(path)
    assert doc.texts[None] == "Produkt | Preis | Ort\nKäse | 4,50 € | Zürich\nBrot; dunkel | 3,20 € | Genf"
    assert [(s.section, s.offset) for s in doc.sections] == [((), 0)]


def test_csv_quoted_newlines_and_repeated_header_blocks(tmp_path):
    path = tmp_path / "notes.csv"
    rows = ['id,note'] + [f'{n},"line one\nline two {n}"' for n in range(45)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    doc = load_file(path)
    blocks = [s.text.split("\n") for s in doc.sections]
    assert len(blocks) > 1
    assert all(block[0] == "id | note" and 1 < len(block) <= 41 for block in blocks)
    assert [line for block in blocks for line in block[1:]] == [f"{n} | line one line two {n}" for n in range(45)]
    assert_offsets_exact(doc)


def test_tsv_uses_tabs(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("a\tb, c\n1\t2, 3\n", encoding="utf-8")
    assert load_file(path).texts[None] == "a | b, c\n1 | 2, 3"


@pytest.mark.parametrize(("content", "kind"), [(b"", "no-text"), (b"\n,,\n , ,\n", "no-text"),
                                               (bytes(range(256)) * 8, "binary")])
def test_csv_hostile_content(tmp_path, content, kind):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(LoadError) as info:
        load_file(path)
    assert info.value.kind == kind


def test_csv_with_a_cell_longer_than_the_csv_modules_default_limit(tmp_path):
    """Python's csv refuses fields over 128 KiB unless told otherwise: a CSV with one long text
    cell (an article, a log excerpt) failed as "corrupt"."""
    path = tmp_path / "articles.csv"
    body = " ".join(f"word{i}" for i in range(40000))  # ~270 KB in one quoted cell
    path.write_text(f'id,text\n1,"{body}"\n2,short\n')
    document = load_file(path)
    assert "word39999" in document.texts[None] and "2 | short" in document.texts[None]
