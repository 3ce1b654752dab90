"""Cited PDF pages: rendering to a cached PNG and locating a quote's lines with PDFium char boxes.

The PDFs are generated here (fpdf2) and read back with real PDFium; a highlight is checked by
asking PDFium which text lies inside each returned rectangle.
"""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image

from ragkit.pages import RENDER_SCALE, PageError, find_quote, rendered_page

WRAPPED = ("The coolant filter of the Aurora pump is replaced every 180 days, and the old filter is "
           "returned to the depot in the sealed grey container.")
TWICE = "Check the seal."


def make_pdf(path: Path) -> Path:
    """Two A4 pages: an intro, then maintenance text with a sentence wrapped over two lines and a
    short sentence that occurs twice."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Aurora Station Handbook\n\nThis handbook describes the Aurora pump station.")
    pdf.add_page()
    pdf.multi_cell(0, 8, "Maintenance\n\n" + TWICE + " The Aurora pump must be serviced every 90 days by a "
                   "certified technician.")
    pdf.ln(4)
    pdf.multi_cell(110, 8, WRAPPED)
    pdf.ln(4)
    pdf.multi_cell(0, 8, "After servicing: " + TWICE)
    pdf.output(str(path))
    return path


def letters(text: str) -> str:
    return "".join(c.casefold() for c in text if c.isalnum())


def text_inside(path: Path, page: int, rects: list[dict[str, float]]) -> str:
    """What PDFium finds inside each rectangle (shrunk a little, so a neighbour line's loose box
    does not count), joined."""
    document = pdfium.PdfDocument(str(path))
    try:
        pdf_page = document[page - 1]
        width, height = pdf_page.get_size()
        textpage = pdf_page.get_textpage()
        found = []
        for r in rects:
            left, right = r["x"] * width, (r["x"] + r["w"]) * width
            top, bottom = height - r["y"] * height, height - (r["y"] + r["h"]) * height
            pad = 0.2 * (top - bottom)
            found.append(textpage.get_text_bounded(left + 0.5, bottom + pad, right - 0.5, top - pad))
        return " ".join(found)
    finally:
        document.close()


@pytest.fixture(scope="module")
def pdf(tmp_path_factory) -> Path:
    return make_pdf(tmp_path_factory.mktemp("render") / "aurora.pdf")


def test_a_wrapped_quote_gets_one_rectangle_per_line(pdf):
    found = find_quote(pdf, 2, WRAPPED)
    assert found.matched and found.pages == 2 and found.page == 2
    assert (round(found.width), round(found.height)) == (595, 842)  # A4, not a fallback box
    assert len(found.rects) >= 2  # 110 mm wide: the sentence wraps
    assert all(0 <= r["x"] < 1 and 0 <= r["y"] < 1 and 0 < r["w"] <= 1 and 0 < r["h"] < 0.1 for r in found.rects)
    tops = [r["y"] for r in found.rects]
    assert tops == sorted(tops) and len(set(tops)) == len(tops)  # top-left origin, one box per line
    assert letters(text_inside(pdf, 2, found.rects)) == letters(WRAPPED)


def test_a_quote_inside_a_line_is_marked_alone(pdf):
    quote = "serviced every 90 days"
    found = find_quote(pdf, 2, quote)
    assert len(found.rects) == 1
    assert letters(text_inside(pdf, 2, found.rects)) == letters(quote)


def test_the_occurrence_inside_the_cited_chunk_is_marked(pdf):
    first = find_quote(pdf, 2, TWICE)
    second = find_quote(pdf, 2, TWICE, chunk="After servicing: " + TWICE)
    assert first.matched and second.matched
    assert second.rects[0]["y"] > first.rects[0]["y"] + 0.05
    assert letters(text_inside(pdf, 2, second.rects)) == letters(TWICE)


def test_a_quote_matches_across_hyphens_spaces_and_case(pdf):
    found = find_quote(pdf, 2, "the  AURORA-pump must be")
    assert found.matched
    assert letters(text_inside(pdf, 2, found.rects)) == letters("the Aurora pump must be")


def test_a_quote_not_on_the_page_is_not_matched(pdf):
    assert not find_quote(pdf, 1, WRAPPED).matched  # it is on page 2
    assert not find_quote(pdf, 2, "").matched


def test_a_page_past_the_end_is_an_error(pdf, tmp_path):
    with pytest.raises(PageError, match="page 3 does not exist: the document has 2 page"):
        find_quote(pdf, 3, WRAPPED)
    with pytest.raises(PageError, match="page 0 does not exist"):
        rendered_page(pdf, "abc", 0, tmp_path)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"not a pdf")
    with pytest.raises(PageError, match="cannot be opened"):
        find_quote(broken, 1, "x")


def test_pages_are_rendered_once_into_the_cache(pdf, tmp_path):
    cache = tmp_path / "page-cache"
    png = rendered_page(pdf, "f" * 64, 2, cache)
    assert png.parent == cache / ("f" * 64) and png.suffix == ".png"
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size == (round(595.28 * RENDER_SCALE), round(841.89 * RENDER_SCALE))
    stamp = png.stat().st_mtime_ns
    assert rendered_page(pdf, "f" * 64, 2, cache) == png
    assert png.stat().st_mtime_ns == stamp  # served from the cache, not drawn again
    assert not list(cache.rglob("*.tmp"))
