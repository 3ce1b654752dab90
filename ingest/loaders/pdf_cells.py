"""Tables of words in PDFs, found by where the text sits on the page.

PDFium gives a table row as one line with its cells joined by single spaces ("Alice Engineer
London"), which the text alone cannot tell from prose. The page's geometry can: PDFium's text
rectangles (``FPDFText_GetRect``: runs of characters of one font without a wide gap) of one row
sit on one baseline with gaps between cells far wider than a word space. A line whose
rectangles form at least :data:`MIN_CELLS` cells, in at least :data:`MIN_ROWS` consecutive lines
of the page text, is a table row; it is written ``cell | cell | cell`` so that the rest of
ingest treats it as any other table (:func:`ragkit.text.table_spans`: kept together in one chunk
when it fits, its first row repeated as the header of the chunks cut from inside it).

Rows of figures are left as they are: :mod:`ingest.loaders.pdf_tables` sets those apart from the
text alone, and that was measured (MMLongBench hit@5). Two-column body text has two cells a line
at most, so it never qualifies. Pure functions over rectangles; the loader collects them.
"""

from __future__ import annotations

from typing import Sequence

from ragkit.text import is_figure_row

Rect = tuple[float, float, float, float]  # left, bottom, right, top (PDF points, y upwards)

#: a row needs this many cells: two would take two-column body text for a table
MIN_CELLS = 3
#: and a table this many rows in a row
MIN_ROWS = 3
#: a gap between two runs of text on one line may be a cell boundary when it is at least this
#: many line heights wide (a word space is about a quarter of one) ...
LOOSE_GAP = 0.9
#: ... and is one when it is at least this many of the line's average character widths: measured
#: on the shared PDFs, the columns of real tables are 3 or more apart, while monospaced code and
#: spaced-out prompt text, whose runs break at every word, have gaps of 1.6 to 2.4
CELL_GAP_CHARS = 2.6


def _bands(rects: Sequence[Rect]) -> list[list[int]]:
    """Rectangle indices grouped by line (top to bottom), each line left to right. PDFium's boxes
    are tight around the glyphs ("=" is a third the height of "y"), so a rectangle is on a line
    when it overlaps the line's tallest box by half its own height."""
    order = sorted(range(len(rects)), key=lambda i: -(rects[i][1] + rects[i][3]) / 2)
    bands: list[list[int]] = []
    low = high = 0.0
    for i in order:
        _, bottom, _, top = rects[i]
        tall = max(top - bottom, 0.1)
        if bands and min(top, high) - max(bottom, low) >= 0.5 * min(tall, high - low):
            bands[-1].append(i)
            if tall > high - low:
                low, high = bottom, top
        else:
            bands.append([i])
            low, high = bottom, bottom + tall
    for band in bands:
        band.sort(key=lambda i: rects[i][0])
    return bands


def _split(band: Sequence[int], rects: Sequence[Rect], min_gap: float) -> list[list[int]]:
    cells: list[list[int]] = [[band[0]]]
    right_edge = rects[band[0]][2]
    for i in band[1:]:
        if rects[i][0] - right_edge >= min_gap:
            cells.append([i])
        else:
            cells[-1].append(i)
        right_edge = max(right_edge, rects[i][2])
    return cells


def candidate_lines(rects: Sequence[Rect]) -> list[list[int]]:
    """Lines (rectangle indices, left to right) with at least :data:`MIN_CELLS` runs of text
    :data:`LOOSE_GAP` line heights apart: the only ones worth reading the text of."""
    found = []
    for band in _bands(rects):
        line_height = max(rects[i][3] - rects[i][1] for i in band)
        if len(_split(band, rects, LOOSE_GAP * line_height)) >= MIN_CELLS:
            found.append(band)
    return found


def line_cells(band: Sequence[int], rects: Sequence[Rect], lengths: Sequence[int]) -> list[list[int]] | None:
    """The cells of a candidate line (lists of rectangle indices), split where the gap is at least
    :data:`CELL_GAP_CHARS` average character widths; ``lengths[i]`` is the number of characters
    in rectangle ``band[i]``. None when fewer than :data:`MIN_CELLS` cells remain."""
    characters = sum(lengths)
    if not characters:
        return None
    width = sum(rects[i][2] - rects[i][0] for i in band) / characters
    cells = _split(band, rects, CELL_GAP_CHARS * width)
    return cells if len(cells) >= MIN_CELLS else None


def _words(text: str) -> str:
    return " ".join(text.split())


def mark_cell_rows(text: str, rows: Sequence[Sequence[str]]) -> str:
    """``text`` with each run of at least :data:`MIN_ROWS` consecutive lines that are cell rows
    (a line whose words are exactly a row's cells, in order) written ``cell | cell``; runs made
    mostly of rows of figures, and lines that already hold a ``|``, are left alone."""
    if not rows:
        return text
    by_words = {_words(" ".join(cells)): [_words(c) for c in cells] for cells in rows}
    lines = text.split("\n")
    found = [by_words.get(_words(line)) if "|" not in line else None for line in lines]
    index = 0
    while index < len(lines):
        if found[index] is None:
            index += 1
            continue
        end = index
        while end < len(lines) and found[end] is not None:
            end += 1
        run = range(index, end)
        figures = sum(1 for i in run if is_figure_row(lines[i]))
        if len(run) >= MIN_ROWS and 2 * figures < len(run):
            for i in run:
                lines[i] = " | ".join(found[i])
        index = end
    return "\n".join(lines)
