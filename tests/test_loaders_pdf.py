"""PDF fidelity: OCR of pages without a text layer, page furniture, the metadata title.

PDFs are generated on the fly: text with fpdf2, scans as a Pillow-drawn PNG as the only page
content. OCR runs the real offline engine on small pages, a few seconds in all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.loaders import LoadError, LoadOptions, load_file
from ingest.loaders.furniture import furniture_keys, line_key, remove_furniture, strip_furniture
from ingest.loaders.ocr import (Box, find_gutter, gap_cuts, group_lines, ink_free_columns, reading_order,
                                split_at_gutter, text_from_boxes)
from ingest.loaders.pdf import document_title, hyphenated_words, page_ranges, resolve_hyphenation

SCAN_LINES = [
    ["Invoice 4711 was paid in March.", "The harvest reached record levels."],
    ["Second page mentions copper wire.", "Delivery is due next Friday."],
    ["Third page talks about glaciers.", "Nothing else happens here."],
]


# --- furniture: pure functions ------------------------------------------------------------


def test_line_key_ignores_digits_case_and_spacing():
    assert line_key("Page 3 of 10") == line_key("page  12 of10 ") == "page#of#"
    assert line_key("12") == line_key("7") == "#"
    assert line_key("Annual Report") != line_key("Annual Reports")


TOPICS = ["apples", "bananas", "cherries", "dates", "figs", "grapes", "kiwis", "lemons", "mangos"]


def _pages(count: int, header: str = "ACME Corp - Annual Report") -> list[str]:
    """Pages with a running header and footer; body lines differ in words, not just numbers."""
    return [f"{header}\nBody of page {n} about {TOPICS[n]}.\nMore on {TOPICS[n - 1]} here.\nPage {n} of {count}"
            for n in range(1, count + 1)]


def test_furniture_needs_four_pages_and_half_of_them():
    assert furniture_keys(_pages(3)) == set()
    keys = furniture_keys(_pages(4))
    assert ("top", "acmecorp-annualreport") in keys
    assert ("bottom", "page#of#") in keys
    assert not any("bodyofpage" in key for _, key in keys)
    # A line on 2 of 6 pages is content, not furniture.
    pages = _pages(6, header="Intro")
    pages[0] = "Special notice\n" + pages[0]
    pages[1] = "Special notice\n" + pages[1]
    assert ("top", "specialnotice") not in furniture_keys(pages)


def test_a_line_that_is_all_its_pages_hold_is_content():
    pages = ["Background\n", "Background", "Background\n", "", "Background"]
    assert furniture_keys(pages) == set()
    assert remove_furniture(pages) == (pages, 0)
    # ... while a page number on a few otherwise empty pages is still furniture.
    pages = _pages(6) + ["Page 7 of 8", "Page 8 of 8"]
    assert ("bottom", "page#of#") in furniture_keys(pages)


def test_a_repeated_line_that_also_stands_in_the_body_is_content():
    filler = "the same filler sentence again"
    pages = [f"{filler}\nunique {TOPICS[n]}\nmore {TOPICS[n + 1]}\n{filler}\nend {TOPICS[n - 1]}\nfin {n}\n{n}"
             for n in range(1, 7)]
    keys = furniture_keys(pages)
    assert ("top", line_key(filler)) not in keys
    assert ("bottom", "#") in keys


def test_furniture_is_removed_only_at_the_page_edges():
    keys = {("top", "acmecorp-annualreport"), ("bottom", "#")}
    text = "ACME Corp - Annual Report\nIntro\nline\nline\nline\nACME Corp - Annual Report\nline\nline\nline\n42"
    stripped, removed = strip_furniture(text, keys)
    assert removed == 2
    assert stripped == "Intro\nline\nline\nline\nACME Corp - Annual Report\nline\nline\nline"


def test_remove_furniture_counts_every_removed_line():
    cleaned, removed = remove_furniture(_pages(5))
    assert removed == 10
    assert all("ACME" not in text and "Page" not in text for text in cleaned)
    assert cleaned[2] == "Body of page 3 about dates.\nMore on cherries here."


# --- OCR: pure functions ------------------------------------------------------------------


def test_boxes_on_one_line_are_read_left_to_right_and_lines_top_down():
    boxes = [Box(300, 12, 400, 30, "world"), Box(10, 10, 100, 31, "hello"), Box(10, 50, 90, 70, "next")]
    assert [[b.text for b in line] for line in group_lines(boxes)] == [["hello", "world"], ["next"]]
    assert text_from_boxes(boxes) == "hello world\nnext"


def test_two_columns_are_read_one_after_the_other_below_a_full_width_title():
    title = [Box(100, 10, 900, 40, "A title across both columns")]
    left = [Box(100, 60 + 30 * i, 480, 80 + 30 * i, f"left {i}") for i in range(5)]
    right = [Box(520, 60 + 30 * i, 900, 80 + 30 * i, f"right {i}") for i in range(5)]
    lines = [" ".join(b.text for b in line) for line in reading_order(title + right + left)]
    assert lines == ["A title across both columns"] + [f"left {i}" for i in range(5)] + [f"right {i}" for i in range(5)]


def test_a_narrow_gutter_between_padded_boxes_is_found():
    """LaTeX's 10 pt column gap at 150 dpi: detected boxes of the two columns nearly touch."""
    left = [Box(148, 30 * i, 630 + (i % 3), 30 * i + 25, "l") for i in range(10)]
    right = [Box(641, 30 * i + 3, 1125, 30 * i + 28, "r") for i in range(10)]
    merged = [Box(148, 400, 1125, 425, "both")]  # a line detection merged across the gutter
    gutter = find_gutter(left + right + merged)
    assert gutter is not None and 630 < gutter < 645
    assert find_gutter([Box(148, 30 * i, 1125, 30 * i + 25, "prose") for i in range(20)]) is None


def test_a_line_merged_across_the_gutter_is_cut_there_but_a_title_is_not():
    line = np.full((48, 700, 3), 255, dtype=np.uint8)
    line[10:40, 0:300:3] = 0  # strokes, as letters have: ink is the minority of pixels
    line[10:40, 340:700:3] = 0
    rect = Box(0, 0, 350, 24, "")  # the crop was upscaled 2x to 48 px
    left, right = split_at_gutter(line, rect, gutter=160)
    cut = left[0].shape[1]
    assert 310 < cut < 330 and cut + right[0].shape[1] == 700  # in the middle of the blank run
    assert left[1].right == right[1].left == cut / 2 and (left[1].left, right[1].right) == (0, 350)
    title = line.copy()
    title[10:40, 300:315:3] = 0
    title[10:40, 327:340:3] = 0  # a word gap, narrower than half a line
    assert len(split_at_gutter(title, rect, gutter=160)) == 1


def test_a_table_like_single_column_is_not_split():
    rows = [[Box(100, 20 * i, 200, 20 * i + 15, f"a{i}"), Box(700, 20 * i, 800, 20 * i + 15, f"b{i}")] for i in range(3)]
    prose = [Box(100, 100 + 20 * i, 800, 115 + 20 * i, f"prose {i}") for i in range(4)]
    lines = [" ".join(b.text for b in line) for line in reading_order([b for row in rows for b in row] + prose)]
    assert lines[:3] == ["a0 b0", "a1 b1", "a2 b2"]


def test_long_lines_are_cut_in_the_widest_word_gaps():
    height = 10
    # letters with 1-column gaps between them, word gaps at 45-48 and 80-84
    free = np.zeros(150, dtype=bool)
    free[5::5] = True
    free[45:48] = True
    free[80:84] = True
    assert gap_cuts(free, height, max_ratio=10) == [82]
    assert gap_cuts(free[:90], height, max_ratio=10) == []  # short enough: whole
    assert gap_cuts(np.zeros(300, dtype=bool), height, max_ratio=10) == []  # no gap: whole
    # letter-spaced capitals: 3-column letter gaps are not word gaps, the 8-column one is
    spaced = np.zeros(150, dtype=bool)
    for start in range(6, 150, 9):
        spaced[start:start + 3] = True
    spaced[60:68] = True
    assert gap_cuts(spaced, height, max_ratio=10) == [64]


def test_ink_free_columns_find_the_gap_between_words_in_light_or_dark_print():
    line = np.full((20, 60), 255, dtype=np.uint8)
    line[5:15, 5:25] = 0
    line[5:15, 35:55] = 0
    free = ink_free_columns(line)
    assert free[30] and not free[10] and not free[40]
    assert (ink_free_columns(255 - line) == free).all()


# --- PDF helpers --------------------------------------------------------------------------


def test_page_ranges_are_one_based_and_compact():
    assert page_ranges([1, 2, 3, 7, 9, 10]) == "2-4, 8, 10-11"
    assert page_ranges([0]) == "1"


@pytest.mark.parametrize("raw, expected", [
    ("Geometrie und Topologie", "Geometrie und Topologie"),
    ("Microsoft Word - Annual Report 2020.docx", "Annual Report 2020"),
    ("Microsoft PowerPoint - Q3 results.pptx", "Q3 results"),
    ("Microsoft Word - x.docx", None),
    ("untitled", None),
    ("Untitled-1", None),
    ("", None),
    ("   ", None),
    (None, None),
    ("thesis_final_v2.pdf", None),
    ("C:\\Users\\bob\\My report.doc", None),
    ("scan-0042\x00", None),  # the file's own name
])
def test_document_title_keeps_real_titles_only(raw, expected):
    assert document_title(raw, "scan-0042") == expected


# --- whole PDFs ---------------------------------------------------------------------------


def _text_pdf(path: Path, pages: int, title: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    if title is not None:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=11)
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.cell(0, 8, "Northwind Traders - Internal Handbook", new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 6, f"Chapter {n} explains the {TOPICS[n]} policy, number {n * 11}. Employees "
                             f"read about {TOPICS[n - 1]} in detail, with exceptions for {TOPICS[n + 1]}.")
        pdf.set_y(-20)
        pdf.cell(0, 8, f"Page {n} of {pages}")
    pdf.output(str(path))
    return path


def test_running_header_and_page_numbers_are_removed_and_counted(tmp_path):
    document = load_file(_text_pdf(tmp_path / "handbook.pdf", 6))
    assert document.stats["furniture_lines"] == 12
    assert len(document.sections) == 6
    for section in document.sections:
        assert "Northwind" not in section.text and "Page " not in section.text
        assert f"Chapter {section.page} explains the {TOPICS[section.page]} policy" in section.text
        page_text = document.texts[section.page]
        assert page_text[section.offset:section.offset + len(section.text)] == section.text


def test_keep_furniture_keeps_headers_and_footers(tmp_path):
    document = load_file(_text_pdf(tmp_path / "handbook.pdf", 6), LoadOptions(keep_furniture=True))
    assert document.stats["furniture_lines"] == 0
    assert all("Northwind Traders" in s.text and f"Page {s.page} of 6" in s.text for s in document.sections)


def test_short_documents_keep_their_repeated_lines(tmp_path):
    document = load_file(_text_pdf(tmp_path / "short.pdf", 3))
    assert document.stats["furniture_lines"] == 0
    assert all("Northwind Traders" in s.text for s in document.sections)


def test_title_comes_from_metadata_without_the_office_prefix(tmp_path):
    named = load_file(_text_pdf(tmp_path / "a.pdf", 1, title="Microsoft Word - Employee Handbook.docx"))
    assert named.title == "Employee Handbook"
    assert load_file(_text_pdf(tmp_path / "b.pdf", 1, title="untitled")).title is None
    assert load_file(_text_pdf(tmp_path / "c.pdf", 1)).title is None


def test_line_final_hyphens_that_belong_to_the_word_are_kept(tmp_path):
    from factories import make_pdf

    text = ("Our fact-checking works. We run LOGIC-\nLM and fact-\nchecking on the adip-\niscing data.\n"
            "Results for exam-\n57.87 and COVID-\n19 follow.")
    page = load_file(make_pdf(tmp_path / "h.pdf", [text])).sections[0].text
    assert "LOGIC-LM and fact-checking on the adipiscing data" in page
    assert "COVID-\n19" in page and "exam-\n57.87" in page  # a digit after a line-final hyphen: no join


def test_hyphenation_marks_are_resolved_by_what_follows():
    compounds = hyphenated_words(["a well-known fact-checking tool"])
    assert compounds == {"well-known", "fact-checking"}
    assert resolve_hyphenation("adip\x02iscing, fact\x02checking", compounds) == "adipiscing, fact-checking"
    assert resolve_hyphenation("Self\x02Refine and GPT\x024", compounds) == "Self-Refine and GPT-\n4"


def _scan_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF whose pages are only images of text (A6, the text drawn at 300 dpi)."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=40)
    pdf = FPDF(format=(105, 148))  # A6, in mm
    for number, lines in enumerate(pages):
        image = Image.new("RGB", (1240, 1748), "white")
        draw = ImageDraw.Draw(image)
        for row, line in enumerate(lines):
            draw.text((80, 120 + 90 * row), line, fill="black", font=font)
        png = path.with_name(f"{path.stem}-{number}.png")
        image.save(png)
        pdf.add_page()
        pdf.image(str(png), x=0, y=0, w=105, h=148)
    pdf.output(str(path))
    return path


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scans")
    return {
        "one": _scan_pdf(folder / "one.pdf", SCAN_LINES[:1]),
        "three": _scan_pdf(folder / "three.pdf", SCAN_LINES),
        "empty": _scan_pdf(folder / "empty.pdf", [[]]),
    }


def test_page_without_text_layer_is_read_by_ocr(scans):
    document = load_file(scans["one"])
    assert document.stats["ocr_pages"] == 1
    [section] = document.sections
    assert section.ocr and section.page == 1
    assert document.texts[1] == section.text
    words = section.text.lower()
    for word in ("invoice", "4711", "paid", "march", "harvest", "record", "levels"):
        assert word in words
    assert section.text.index("Invoice") < section.text.index("harvest")  # reading order


def test_ocr_off_keeps_the_old_failure_and_says_ocr_is_off(scans):
    with pytest.raises(LoadError) as info:
        load_file(scans["one"], LoadOptions(ocr=False))
    assert info.value.kind == "no-text"
    assert "OCR is off (--no-ocr or ocr = false)" in info.value.reason


def test_ocr_stops_at_the_page_budget_and_names_the_pages_not_read(scans):
    document = load_file(scans["three"], LoadOptions(ocr_max_pages=1))
    assert [s.page for s in document.sections] == [1]
    assert document.stats["ocr_pages"] == 1
    assert "copper" not in document.sections[0].text.lower()
    assert any("OCR stopped after 1 page(s)" in w and "pages 2-3 not read" in w for w in document.warnings)


def test_ocr_stops_at_the_time_budget(scans):
    with pytest.raises(LoadError) as info:
        load_file(scans["three"], LoadOptions(ocr_seconds=0))
    assert info.value.reason == ("no extractable text on any of 3 page(s); "
                                 "OCR stopped after 0 page(s) / 0 s (limit 0 s); pages 1-3 not read")


def test_ocr_that_finds_nothing_fails_with_that_reason(scans):
    with pytest.raises(LoadError) as info:
        load_file(scans["empty"])
    assert info.value.kind == "no-text"
    assert "OCR found no text" in info.value.reason
