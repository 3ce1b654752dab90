"""Tables of words in PDFs (ingest/loaders/pdf_cells.py): found by the page's geometry, written
``cell | cell``, kept in one chunk when they fit, their header repeated when they do not; prose in
two columns and monospaced code are not tables."""

from __future__ import annotations

import pytest
from ingest.loaders import LoadOptions, load_file
from ingest.loaders.pdf_cells import candidate_lines, line_cells, mark_cell_rows
from ingest.split import SplitConfig, split_document

STAFF = [["Name", "Role", "Office"], ["Alice Martin", "Site engineer", "Lyon"],
         ["Bruno Costa", "Finance director", "Porto"], ["Chen Wei", "Safety officer", "Leeds"],
         ["Dana Ionescu", "Plant manager", "Cluj"], ["Emil Novak", "Buyer", "Brno"]]
PROSE = ("The plant runs two shifts. Each shift reports its figures to the office, which checks them "
         "against the week before and publishes them on Monday. ")


def _table_pdf(path, rows, *, before=PROSE, after=PROSE, font="Helvetica"):
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font(font, size=10)
    pdf.multi_cell(0, 5, before)
    pdf.ln(4)
    with pdf.table(borders_layout="NONE", text_align="LEFT") as table:
        for row in rows:
            line = table.row()
            for cell in row:
                line.cell(cell)
    pdf.ln(4)
    pdf.multi_cell(0, 5, after)
    pdf.output(str(path))
    return path


def _two_column_pdf(path):
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    left = ("Reports are due on the first Monday of each month and go to the regional office "
            "by mail. ") * 4
    right = ("Late reports are chased by telephone, and a second delay is noted in the annual "
             "review. ") * 4
    y = pdf.get_y()
    pdf.multi_cell(85, 5, left)
    pdf.set_xy(110, y)
    pdf.multi_cell(85, 5, right)
    pdf.output(str(path))
    return path


def test_a_table_of_words_is_written_as_cells_and_set_apart(tmp_path):
    page = load_file(_table_pdf(tmp_path / "staff.pdf", STAFF), LoadOptions(ocr=False)).texts[1]
    assert "Name | Role | Office\nAlice Martin | Site engineer | Lyon\nBruno Costa | Finance director | Porto" in page
    table = page[page.index("Name | Role"):]
    assert page[page.index("Name | Role") - 2:page.index("Name | Role")] == "\n\n"  # its own paragraph
    assert "Emil Novak | Buyer | Brno\n\n" in table
    assert "The plant runs two shifts." in page and " | " not in page[:page.index("Name | Role")]


def test_a_table_that_fits_is_one_chunk_and_a_long_one_repeats_its_header(tmp_path):
    path = _table_pdf(tmp_path / "staff.pdf", STAFF)
    doc = load_file(path, LoadOptions(ocr=False))
    chunks = split_document(doc, source=path.name, path=str(path), file_sha256="x" * 64, config=SplitConfig(200, 20))
    holding = [c for c in chunks if "Alice Martin" in c.text]
    assert len(holding) == 1 and all(row[0] in holding[0].text for row in STAFF)

    tags = [a + b for a in "BCDF" for b in "aeiou"]
    many = [STAFF[0]] + [[f"Person {tag}", f"Role {tag}", f"Office {tag}"] for tag in tags]
    path = _table_pdf(tmp_path / "long.pdf", many)
    doc = load_file(path, LoadOptions(ocr=False))
    chunks = split_document(doc, source=path.name, path=str(path), file_sha256="x" * 64, config=SplitConfig(80, 10))
    later = [c for c in chunks if "Person Fo |" in c.text]
    assert later and "Name | Role | Office" not in later[0].text
    assert later[0].context.endswith("Name | Role | Office")  # retrieved with its header
    for chunk in chunks:
        for line in chunk.text.splitlines():
            if "Person" in line:
                assert line.count(" | ") == 2  # rows are never cut


def test_prose_in_two_columns_is_not_a_table(tmp_path):
    page = load_file(_two_column_pdf(tmp_path / "columns.pdf"), LoadOptions(ocr=False)).texts[1]
    assert "|" not in page and "first Monday" in page and "chased by telephone" in page


def test_words_set_two_characters_apart_are_not_a_table(tmp_path):
    """Spaced-out monospaced text (a prompt or code in a paper) puts every word in its own run,
    two character widths from the next: wide for a word space, narrow for a column."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Courier", size=10)
    step = pdf.get_string_width("x")
    lines = [["for", "row", "in", "rows"], ["x", "=", "y", "+", "z"], ["if", "a", "is", "b"], ["print", "(", "z", ")"]]
    for number, words in enumerate(lines):
        x = 20.0
        for word in words:
            pdf.text(x, 30 + 6 * number, word)
            x += pdf.get_string_width(word) + 2 * step
    pdf.output(str(tmp_path / "code.pdf"))
    page = load_file(tmp_path / "code.pdf", LoadOptions(ocr=False)).texts[1]
    assert "|" not in page and "print ( z )" in " ".join(page.split())


def test_cells_need_wide_gaps_and_three_per_line():
    # one line, three runs of 10 characters each at 50 points: gaps of 40 points are cell boundaries
    rects = [(0, 0, 50, 10), (90, 0, 140, 10), (180, 0, 230, 10)]
    [band] = candidate_lines(rects)
    assert line_cells(band, rects, [10, 10, 10]) == [[0], [1], [2]]
    # the same gaps in text of 20-point characters are word spaces of 2 characters: no table
    assert line_cells(band, rects, [2, 2, 3]) is None
    # two runs a line are two columns of prose, never a table
    assert candidate_lines([(0, 0, 200, 10), (260, 0, 460, 10)]) == []
    # rectangles a little higher or lower on the same line are one line
    assert len(candidate_lines([(0, 0, 50, 10), (90, 1, 140, 11), (180, -1, 230, 9)])) == 1


@pytest.mark.parametrize("rows, marked", [(2, False), (3, True)])
def test_a_table_needs_three_rows_that_are_lines_of_the_text(rows, marked):
    cells = [["Name", "Role", "Office"], ["Alice", "Engineer", "Lyon"], ["Bruno", "Director", "Porto"]][:rows]
    text = "Intro.\n" + "\n".join(" ".join(row) for row in cells) + "\nEnd."
    result = mark_cell_rows(text, cells)
    assert ("Name | Role | Office" in result) is marked
    assert result.startswith("Intro.\n") and result.endswith("\nEnd.")
    # rows of figures are left to the figure-table rules
    figures = [["North", "12", "14"], ["South", "9", "11"], ["East", "7", "8"]]
    plain = "\n".join(" ".join(row) for row in figures)
    assert mark_cell_rows(plain, figures) == plain


@pytest.mark.slow
def test_the_specification_table_of_a_real_manual_is_read_as_cells():
    """MMLongBench's monitor manual: its specification table (page 31) has words in every cell."""
    from conftest import shared_dir

    path = shared_dir("pdf-qa", "mmlongbench-doc-dev", "docs", "91521110100M_4K_UHD_Display_User_Manual_V1.1.pdf")
    page = load_file(path, LoadOptions(ocr=False)).texts[31]
    assert "Native Resolution | 3840 x 2160 (UHD 4K) | 3840 x 2160 (UHD 4K)" in page
    assert "Response Time | 12ms (Gray to Gray) | 12ms (Gray to Gray)" in page
