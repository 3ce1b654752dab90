"""WordprocessingML walking: the text of paragraphs, tables and text boxes in document order.

The tree is read directly (lxml) rather than through python-docx so that content python-docx
skips is kept: text boxes, content controls (``w:sdt``), tracked insertions, nested tables, and
every part of a Strict OOXML file (whose namespaces :mod:`ingest.loaders.ooxml` has already
mapped to the transitional ones).

Rules that keep the text faithful to what a reader sees:

* deleted and moved-away text (``w:del``, ``w:moveFrom``) is left out, insertions are kept;
* ``mc:AlternateContent`` is read from its first ``mc:Choice``; the ``mc:Fallback`` (a VML copy
  of the same shape for old readers) is used only when there is no choice, so a text box is
  never read twice;
* a text box's paragraphs become their own lines right after the paragraph that anchors it;
* footnote and endnote references become ``[n]`` markers that match the notes' prefixes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lxml import etree

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_HEADING = re.compile(r"^(?:heading|überschrift|titre)\s*(\d)$", re.IGNORECASE)
_SKIPPED = {f"{W}del", f"{W}moveFrom", f"{W}sectPr", f"{W}pPr", f"{W}rPr", f"{W}tblPr", f"{W}tcPr",
            f"{W}trPr", f"{W}tblGrid", f"{W}instrText", f"{W}delText", f"{W}altChunk"}
_CHARS = {f"{W}tab": "\t", f"{W}ptab": "\t", f"{W}br": "\n", f"{W}cr": "\n", f"{W}noBreakHyphen": "-"}

Line = tuple[str, int | None]


def wval(element: etree._Element | None, default: str | None = None) -> str | None:
    """The ``w:val`` attribute, the usual carrier of a property's value."""
    return default if element is None else element.get(f"{W}val", default)


def alternate_children(element: etree._Element) -> list[etree._Element]:
    """What to read of an ``mc:AlternateContent``: its first choice, else its fallback."""
    choice = element.find(f"{MC}Choice")
    chosen = choice if choice is not None else element.find(f"{MC}Fallback")
    return [] if chosen is None else list(chosen)


@dataclass
class NoteNumbers:
    """Display numbers for notes in order of first reference, as Word numbers them."""

    prefix: str = ""
    numbers: dict[str, int] = field(default_factory=dict)

    def mark(self, note_id: str) -> str:
        number = self.numbers.setdefault(note_id, len(self.numbers) + 1)
        return f"[{self.prefix}{number}]"


@dataclass
class Walker:
    """Turns block-level WordprocessingML into ``(line, heading level)`` pairs.

    ``style_level`` maps a paragraph style id to its heading level. Comment anchors are
    collected as the walk passes them so the comments section can quote what was commented on.
    """

    style_level: Callable[[str | None], int | None]
    footnotes: NoteNumbers = field(default_factory=NoteNumbers)
    endnotes: NoteNumbers = field(default_factory=lambda: NoteNumbers("e"))
    anchors: dict[str, list[str]] = field(default_factory=dict)
    _open_comments: set[str] = field(default_factory=set)

    def blocks(self, container: etree._Element, *, headings: bool = True, separator: str = " | ") -> Iterator[Line]:
        """Lines of every paragraph and table under ``container``, in document order.

        ``separator`` joins the cells of a table row; inside a cell it is a space, so that a
        nested table's cells do not pass for columns of the outer table.
        """
        for child in container:
            tag = child.tag
            if tag == f"{W}p":
                yield from self.paragraph(child, headings=headings)
            elif tag == f"{W}tbl":
                yield from ((line, None) for line in self.table(child, separator))
            elif tag == f"{MC}AlternateContent":
                for chosen in alternate_children(child):
                    yield from self.blocks(_wrap(chosen), headings=headings, separator=separator)
            elif tag in (f"{W}commentRangeStart", f"{W}commentRangeEnd"):  # a range may open between paragraphs
                self._comment_range(child)
            elif isinstance(tag, str) and tag not in _SKIPPED:  # w:sdt, w:sdtContent, w:customXml, w:ins ...
                yield from self.blocks(child, headings=headings, separator=separator)

    def paragraph(self, element: etree._Element, *, headings: bool = True) -> Iterator[Line]:
        """The paragraph's own line, then the lines of the text boxes anchored in it."""
        parts: list[str] = []
        boxes: list[etree._Element] = []
        self._inline(element, parts, boxes)
        text = "".join(parts).replace("\n", " ").strip()
        if text:
            level = self.style_level(wval(element.find(f"{W}pPr/{W}pStyle"))) if headings else None
            yield text, level
        for box in boxes:
            yield from self.blocks(box, headings=False)

    def _inline(self, element: etree._Element, parts: list[str], boxes: list[etree._Element]) -> None:
        """Collect run text into ``parts`` and text box contents into ``boxes``."""
        for child in element:
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIPPED:
                continue
            if tag == f"{W}t":
                self._text(child.text or "", parts)
            elif tag in _CHARS:
                self._text(_CHARS[tag], parts)
            elif tag == f"{W}txbxContent":
                boxes.append(child)
            elif tag == f"{MC}AlternateContent":
                for chosen in alternate_children(child):
                    self._inline(_wrap(chosen), parts, boxes)
            elif tag == f"{W}footnoteReference":
                self._text(self.footnotes.mark(child.get(f"{W}id", "")), parts)
            elif tag == f"{W}endnoteReference":
                self._text(self.endnotes.mark(child.get(f"{W}id", "")), parts)
            elif tag in (f"{W}commentRangeStart", f"{W}commentRangeEnd"):
                self._comment_range(child)
            else:
                self._inline(child, parts, boxes)

    def _comment_range(self, marker: etree._Element) -> None:
        comment_id = marker.get(f"{W}id", "")
        if marker.tag == f"{W}commentRangeStart":
            self._open_comments.add(comment_id)
        else:
            self._open_comments.discard(comment_id)

    def _text(self, text: str, parts: list[str]) -> None:
        parts.append(text)
        for comment_id in self._open_comments:
            self.anchors.setdefault(comment_id, []).append(text)

    def table(self, element: etree._Element, separator: str = " | ") -> list[str]:
        """One ``cell | cell`` line per row; a vertically merged cell repeats its value per row."""
        lines: list[str] = []
        merged: dict[int, str] = {}
        for row in _children(element, f"{W}tr"):
            column = _int(wval(row.find(f"{W}trPr/{W}gridBefore")), 0)
            cells: list[str] = []
            for cell in _children(row, f"{W}tc"):
                span = _int(wval(cell.find(f"{W}tcPr/{W}gridSpan")), 1)
                vmerge = cell.find(f"{W}tcPr/{W}vMerge")
                if vmerge is not None and wval(vmerge, "continue") == "continue":
                    text = merged.get(column, "")
                else:
                    text = self.cell_text(cell)
                    merged[column] = text
                cells.append(text)
                column += max(span, 1)
            if any(cells):
                lines.append(separator.join(cells))
        return lines

    def cell_text(self, cell: etree._Element) -> str:
        """All text in a cell (nested tables and text boxes included) on one line."""
        return " ".join(" ".join(line for line, _ in self.blocks(cell, headings=False, separator=" ")).split())


def _int(value: str | None, default: int) -> int:
    """A numeric attribute, or ``default`` when absent or malformed: layout hints must not fail a file."""
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _children(element: etree._Element, tag: str) -> Iterator[etree._Element]:
    """Direct children with ``tag``, looking through content controls and custom XML wrappers."""
    for child in element:
        if child.tag == tag:
            yield child
        elif child.tag == f"{MC}AlternateContent":
            for chosen in alternate_children(child):
                yield from _children(_wrap(chosen), tag)
        elif isinstance(child.tag, str) and child.tag not in _SKIPPED and child.tag not in (f"{W}tr", f"{W}tc"):
            yield from _children(child, tag)


def _wrap(element: etree._Element) -> list[etree._Element]:
    """A one-element container so that a chosen child is walked like a container's child."""
    return [element]


def style_levels(styles: etree._Element | None) -> Callable[[str | None], int | None]:
    """Heading level by paragraph style id: ``Title`` is 1, ``Heading N`` is N.

    Built-in style names are English in the file even in localized Word ("heading 1"), so the
    name decides; the id is the fallback when there is no styles part or no such style.
    """
    names: dict[str, str] = {}
    if styles is not None:
        for style in styles.iter(f"{W}style"):
            if style.get(f"{W}type") == "paragraph" and style.get(f"{W}styleId"):
                names[style.get(f"{W}styleId")] = wval(style.find(f"{W}name"), "") or ""

    def level(style_id: str | None) -> int | None:
        if not style_id:
            return None
        name = names.get(style_id, style_id)
        if name.lower() == "title":
            return 1
        match = _HEADING.match(name)
        return int(match.group(1)) if match else None

    return level


def note_paragraphs(walker: Walker, root: etree._Element | None, tag: str) -> dict[str, str]:
    """Note id -> its text on one line, for real notes (separator notes have a ``w:type``)."""
    notes: dict[str, str] = {}
    if root is None:
        return notes
    for note in root.iter(tag):
        if note.get(f"{W}type") not in (None, "normal"):
            continue
        text = " ".join(line for line, _ in walker.blocks(note, headings=False))
        if text.strip():
            notes[note.get(f"{W}id", "")] = " ".join(text.split())
    return notes
