"""A cited PDF page as a picture, and where on it the quote stands.

The web page shows a PDF citation as the page itself, so a reader sees the quote in its place
(tables, headings, the lines around it) rather than as extracted text. PDFium renders the page
to a PNG once; the file is cached under the knowledge base's home, keyed by the PDF's sha256,
so a re-uploaded or changed file never shows a stale picture.

The highlight is found on PDFium's text page, not in ragkit's cleaned page text: the quote is a
span of the cleaned text (hyphenation joined, running headers removed), so both sides are
compared as their letters and digits only, and the matching characters' boxes are merged into
one rectangle per line. Rectangles are fractions of the rendered (crop) box, so the browser can
place them over the image at any size. A page without a text layer (OCR) has no boxes: the
answer is ``matched: false`` and the page shows the quote as text instead.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

# PDFium is not thread-safe; the ingest loaders take this same lock around every PDFium call,
# and the server may be ingesting in another thread while a page is rendered.
from ragkit.pdfium import PDFIUM_LOCK as _PDFIUM_LOCK

RENDER_SCALE = 1.5  # 108 dpi: the page's text stays readable at a typical panel width
_render_lock = threading.Lock()


@dataclass
class Highlight:
    """Where ``quote`` stands on one page: rectangles as fractions of the page (0..1, top-left origin)."""

    page: int
    pages: int
    width: float  # points
    height: float
    rects: list[dict[str, float]] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return bool(self.rects)


class PageError(ValueError):
    """The page cannot be shown: a page number past the end, or a file PDFium cannot open."""


def _letters(text: str) -> tuple[str, list[int]]:
    """``text`` reduced to lower-cased letters and digits, and each kept character's index."""
    kept, where = [], []
    for index, char in enumerate(text):
        if char.isalnum():
            kept.append(char.casefold()[0])
            where.append(index)
    return "".join(kept), where


def _open(path: Path, page_number: int):
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise PageError(f"the PDF cannot be opened: {exc}") from None
    if not 1 <= page_number <= len(document):
        total = len(document)
        document.close()
        raise PageError(f"page {page_number} does not exist: the document has {total} page(s)")
    return document, document[page_number - 1]


def find_quote(path: Path, page_number: int, quote: str, chunk: str = "") -> Highlight:
    """The line rectangles of ``quote`` on page ``page_number`` (1-based) of the PDF at ``path``.

    A quote can occur twice on a page ("see table 2"); when the ``chunk`` it was cut from is
    found on the page, the occurrence inside that chunk is the one marked."""
    import pypdfium2.raw as pdfium_c

    with _PDFIUM_LOCK:
        document, page = _open(path, page_number)
        try:
            left, top, width, height = _visible_box(page)
            found = Highlight(page=page_number, pages=len(document), width=width, height=height)
            textpage = page.get_textpage()
            try:
                count = textpage.count_chars()
                chars = "".join(chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, i) or 32) for i in range(count))
                haystack, where = _letters(chars)
                needle, _ = _letters(quote)
                around = haystack.find(_letters(chunk)[0]) if chunk else -1
                start = haystack.find(needle, max(around, 0)) if needle else -1
                start = haystack.find(needle) if start < 0 and needle else start
                if start < 0:
                    return found
                indices = where[start:start + len(needle)]
                boxes = [textpage.get_charbox(i) for i in range(indices[0], indices[-1] + 1)
                         if not chars[i].isspace()]
            finally:
                textpage.close()
        finally:
            page.close()
            document.close()
    found.rects = [_fraction(box, left, top, found.width, found.height) for box in _lines(boxes)]
    return found


def _visible_box(page) -> tuple[float, float, float, float]:
    """(left, top, width, height) of what PDFium renders, in PDF units.

    The page's own crop or media box when it has one; otherwise the box is inherited from the
    page tree, which pypdfium2 reports as a US Letter fallback, so the rendered size (which
    does follow inheritance) is used with the usual origin at 0, 0."""
    box = page.get_cropbox(fallback_ok=False) or page.get_mediabox(fallback_ok=False)
    if box is not None:
        left, bottom, right, top = box
        return left, top, right - left, top - bottom
    width, height = page.get_size()
    return 0.0, height, width, height


def _lines(boxes: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Character boxes (left, bottom, right, top) merged into one box per line of text."""
    lines: list[list[float]] = []
    for l, b, r, t in boxes:
        if r <= l or t <= b:
            continue
        if lines:
            cur = lines[-1]
            middle = (b + t) / 2
            if cur[1] <= middle <= cur[3] and l >= cur[0] - 1:
                cur[0], cur[1], cur[2], cur[3] = min(cur[0], l), min(cur[1], b), max(cur[2], r), max(cur[3], t)
                continue
        lines.append([l, b, r, t])
    return [(l, b, r, t) for l, b, r, t in lines]


def _fraction(box: tuple[float, float, float, float], left: float, top: float, width: float,
              height: float) -> dict[str, float]:
    l, b, r, t = box
    return {"x": round((l - left) / width, 5), "y": round((top - t) / height, 5),
            "w": round((r - l) / width, 5), "h": round((t - b) / height, 5)}


def rendered_page(path: Path, sha256: str, page_number: int, cache_dir: Path) -> Path:
    """The page as a PNG under ``cache_dir``, rendered on first use."""
    target = cache_dir / sha256 / f"p{page_number}-x{RENDER_SCALE:g}.png"
    if target.is_file():
        return target
    with _render_lock:  # one render per page, even when the browser asks twice at once
        if target.is_file():
            return target
        with _PDFIUM_LOCK:
            document, page = _open(path, page_number)
            try:
                image = page.render(scale=RENDER_SCALE).to_pil()
            finally:
                page.close()
                document.close()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        image.save(partial, format="PNG", optimize=True)
        os.replace(partial, target)  # another worker process may be writing the same page
    return target
