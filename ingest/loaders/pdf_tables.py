"""Tables in PDF text: kept together, as one paragraph, with their header.

PDFium gives a table as lines of words and figures ("InstructGPT 53.6 54.6 57.2"), one row a
line, inside the page's running text. The splitter packs lines into chunks greedily, so a table
that would fit in one chunk could still be cut wherever the previous paragraph ended. Setting the
table (its header line and its rows, as :func:`ragkit.text.figure_tables` finds them) apart with
blank lines makes it a paragraph of its own: the splitter keeps it whole when it fits, and cuts it
between rows when it does not, where the later chunks get the header in their context
(:func:`ragkit.text.header_above`). Tables of words, which :mod:`ingest.loaders.pdf_cells` writes
``cell | cell`` from the page's geometry, are set apart the same way; their first row is the header.
"""

from __future__ import annotations

from ragkit.text import is_figure_row, table_runs


def separate_tables(text: str) -> str:
    """``text`` with a blank line before each table (above the header line of a table of figures)
    and after it."""
    blocks = table_runs(text)
    if not blocks:
        return text
    pieces: list[str] = []
    cursor = 0
    for start, end, kind in blocks:
        begin = start if kind == "pipes" else _with_header_line(text, start)
        before = text[cursor:begin]
        pieces.append(before)
        if before and not before.endswith("\n\n"):
            pieces.append("\n" if before.endswith("\n") else "\n\n")
        pieces.append(text[begin:end])
        after = text[end:end + 2]
        if after and after != "\n\n":
            pieces.append("\n")
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _with_header_line(text: str, start: int) -> int:
    """Where a table of figures starting at ``start`` begins with its header: the line above it,
    unless that is another row of figures or a paragraph rather than a header."""
    line_above = text.rfind("\n", 0, max(0, start - 1)) + 1 if start > 0 else start
    header = text[line_above:start].strip()
    return line_above if header and not is_figure_row(header) and len(header) <= 200 else start
