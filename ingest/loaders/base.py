"""What every loader returns, and how it says a file cannot be read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ragkit.ingest_options import LoadOptions

#: ``LoadOptions`` is defined in ragkit's foundation (surfaces build it); re-exported here
__all__ = [
    "LoadError", "LoadOptions", "LoadedDocument", "Loader", "Section", "sections_with_headings",
]


@dataclass(frozen=True)
class Section:
    """A run of text that shares one page and one section path.

    ``offset`` is where ``text`` starts inside its page's text (PDF) or the whole document's
    text (other formats), so chunk offsets can be reported against the page or document.
    """

    text: str
    page: int | None = None
    section: tuple[str, ...] = ()
    offset: int = 0
    #: the text was recognised from the page image (no text layer), not extracted
    ocr: bool = False


@dataclass
class LoadedDocument:
    sections: list[Section]
    pages: int | None = None
    #: per-file notes that are not failures, e.g. "2 of 5 pages have no extractable text"
    warnings: list[str] = field(default_factory=list)
    #: the full text each offset refers to: page number (or None for the whole document) -> text
    texts: dict[int | None, str] = field(default_factory=dict)
    #: the document's own title (PDF/DOCX metadata, first heading), when it has a usable one;
    #: retrieval adds it to every chunk's context so a table page still knows its document
    title: str | None = None
    #: counts worth reporting per file, e.g. {"ocr_pages": 3, "furniture_lines": 120}
    stats: dict[str, int] = field(default_factory=dict)


class LoadError(Exception):
    """This file cannot be ingested. ``kind`` is a stable word for reports: encrypted, corrupt,
    no-text, binary, unsupported, too-large, unreadable."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class Loader(Protocol):
    def __call__(self, path: Path, options: LoadOptions) -> LoadedDocument: ...


def sections_with_headings(lines: list[tuple[str, int | None]], text: str) -> list[Section]:
    """Split ``text`` into sections at heading lines.

    ``lines`` holds ``(line, level)`` for each line of ``text`` in order (``level`` is the
    heading level or None). Heading lines start a new section and become part of its path; the
    heading text itself stays in the section so that chunks still read naturally.
    """
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    start = 0
    cursor = 0
    current: tuple[str, ...] = ()
    for line, level in lines:
        if level is not None:
            if cursor > start and text[start:cursor].strip():
                sections.append(Section(text[start:cursor], None, current, start))
            start = cursor
            path = [(lvl, title) for lvl, title in path if lvl < level]
            path.append((level, line.strip().lstrip("#").strip()))
            current = tuple(title for _, title in path)
        cursor += len(line) + 1
    if text[start:].strip():
        sections.append(Section(text[start:], None, current, start))
    return sections
