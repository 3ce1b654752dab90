"""Page furniture: running headers, footers and page numbers repeated on most pages of a PDF.

Repeated on every page, such lines end up in every chunk's neighbourhood: they match queries
for the journal's or company's name everywhere and push real content out of chunks. A line is
furniture when it stands among the first or last few lines of a page (:data:`EDGE_LINES`) and
the same line, digits ignored ("Page 3 of 10" ~ "Page 7 of 10", "12" ~ "13"), stands at the
same edge of at least half the pages of a document of at least :data:`MIN_PAGES` pages.

Removal returns new page texts (line removed with its line break); the loader uses those as
the page texts that chunk offsets and citations refer to, so offsets stay exact.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

#: How many non-blank lines at the top and at the bottom of a page can be furniture.
EDGE_LINES = 3
#: Shorter documents do not repeat lines often enough to tell furniture from content.
MIN_PAGES = 4
#: A line must stand at the same edge of at least this share of the pages.
MIN_SHARE = 0.5

_DIGITS = re.compile(r"\d+")

Key = tuple[str, str]  # ("top" | "bottom", normalised line)


def line_key(line: str) -> str:
    """A line's comparison form: digit runs as '#', case and spaces ignored (OCR drops or adds
    spaces: "HILL+ KNOWLTON" on one slide is "HILL+KNOWLTON" on the next)."""
    return "".join(_DIGITS.sub("#", line).lower().split())


def _edge_indices(lines: Sequence[str], edge: int) -> tuple[list[int], list[int]]:
    """Indices of the first and of the last ``edge`` non-blank lines."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return filled[:edge], filled[-edge:] if edge else []


def edge_keys(text: str, edge: int = EDGE_LINES) -> set[Key]:
    """The keys of a page's top and bottom lines (a line can be both on a short page)."""
    lines = text.split("\n")
    top, bottom = _edge_indices(lines, edge)
    keys = {("top", line_key(lines[i])) for i in top} | {("bottom", line_key(lines[i])) for i in bottom}
    return {key for key in keys if key[1]}


def furniture_keys(pages: Iterable[str], edge: int = EDGE_LINES, min_pages: int = MIN_PAGES,
                   min_share: float = MIN_SHARE) -> set[Key]:
    """The edge lines that repeat on at least ``min_share`` of the pages that have text.

    Only pages that also carry other text count: a line that is all its pages hold (a label
    under each image of a picture book) is their content, not a header above it.
    """
    texts = [text for text in pages if text.strip()]
    if len(texts) < min_pages:
        return set()
    per_page = [edge_keys(text, edge) for text in texts]
    needed = max(2, min_share * len(texts))
    counts = Counter(key for keys in per_page for key in keys)
    candidates = {key for key, count in counts.items() if count >= needed}
    repeated = {line for _, line in candidates}
    with_content = Counter(
        key
        for text, keys in zip(texts, per_page)
        if any(line_key(line) not in repeated for line in text.split("\n") if line.strip())
        for key in keys & candidates
    )
    in_body = Counter(key for text in texts for key in body_keys(text, edge))
    return {key for key in candidates
            if with_content[key] >= needed and not (_has_letters(key[1]) and in_body[key[1]] > 0.1 * len(texts))}


def body_keys(text: str, edge: int = EDGE_LINES) -> set[str]:
    """The keys of the lines between a page's edges.

    A repeated line that also stands in the body of pages is repeated content (boilerplate
    prose, filler text), not a running header. Bare numbers are exempt: table cells are
    often numbers on lines of their own.
    """
    lines = text.split("\n")
    top, bottom = _edge_indices(lines, edge)
    edges = set(top) | set(bottom)
    return {line_key(line) for i, line in enumerate(lines) if i not in edges and line.strip()}


def _has_letters(key: str) -> bool:
    return any(ch.isalpha() for ch in key)


def strip_furniture(text: str, keys: set[Key], edge: int = EDGE_LINES) -> tuple[str, int]:
    """``text`` without its furniture lines, and how many lines were removed.

    Only lines at the page's edges are removed: the same words in the body are content.
    """
    if not keys:
        return text, 0
    lines = text.split("\n")
    top, bottom = _edge_indices(lines, edge)
    drop = {i for i in top if ("top", line_key(lines[i])) in keys}
    drop |= {i for i in bottom if ("bottom", line_key(lines[i])) in keys}
    if not drop:
        return text, 0
    return "\n".join(line for i, line in enumerate(lines) if i not in drop), len(drop)


def remove_furniture(pages: Sequence[str], edge: int = EDGE_LINES) -> tuple[list[str], int]:
    """Every page without the document's furniture, and the number of lines removed."""
    keys = furniture_keys(pages, edge)
    cleaned, removed = [], 0
    for text in pages:
        new, count = strip_furniture(text, keys, edge)
        cleaned.append(new)
        removed += count
    return cleaned, removed
