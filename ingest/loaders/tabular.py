"""Tables as text (CSV/TSV here, XLSX in :mod:`ingest.loaders.xlsx`): rows under a repeated header.

A row of numbers means nothing without its column names, and a chunk cut from the middle of a
long sheet would lose them. So the rows are cut into blocks of at most :data:`MAX_BLOCK_ROWS`
rows and about :data:`MAX_BLOCK_CHARS` characters (roughly one default-sized chunk), and every
block starts with the header row. Each block is its own :class:`Section`, and the document text
is the blocks joined by blank lines, header copies included, so offsets stay exact
(``texts[None][s.offset:s.offset + len(s.text)] == s.text``).

A row is one line, cells joined by `` | `` like DOCX table rows; the first non-empty row is the
header.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.loaders.base import LoadedDocument, LoadError, LoadOptions, Section
from ingest.loaders.text import read_text

MAX_BLOCK_ROWS = 40
MAX_BLOCK_CHARS = 600
_SEPARATOR = "\n\n"
_DELIMITERS = ",;\t|"


def cell_text(value: object) -> str:
    """A cell value as a reader would see it: one line, no float noise, dates without 00:00."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return f"{value:.15g}"
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return " ".join(str(value).split())


def row_line(values: Sequence[object]) -> str:
    """``cell | cell`` with trailing empty cells dropped; "" for an empty row."""
    cells = [cell_text(value) for value in values]
    while cells and not cells[-1]:
        cells.pop()
    return " | ".join(cells)


def row_blocks(rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """Blocks of row lines, each starting with the header line (the first non-empty row)."""
    header: str | None = None
    block: list[str] = []
    size = 0
    for values in rows:
        line = row_line(values)
        if not line:
            continue
        if header is None:
            header = line
            continue
        if block and (len(block) >= MAX_BLOCK_ROWS or size + 1 + len(line) > MAX_BLOCK_CHARS):
            yield "\n".join([header, *block])
            block = []
        if not block:
            size = len(header)
        block.append(line)
        size += 1 + len(line)
    if header is not None:
        yield "\n".join([header, *block])


@dataclass
class BlockText:
    """Concatenates blocks into one document text, remembering each block's section and offset."""

    parts: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    _length: int = 0

    def add(self, block: str, section: tuple[str, ...] = ()) -> None:
        if self.parts:
            self.parts.append(_SEPARATOR)
            self._length += len(_SEPARATOR)
        self.sections.append(Section(block, None, section, self._length))
        self.parts.append(block)
        self._length += len(block)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _dialect(sample: str, suffix: str) -> type[csv.Dialect] | csv.Dialect:
    """Tab for ``.tsv``; otherwise the sniffed dialect, falling back to plain commas."""
    if suffix == ".tsv":
        return csv.excel_tab
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:  # one column, or too irregular to tell: commas are the safe reading
        return csv.excel


def load_csv(path: Path, options: LoadOptions) -> LoadedDocument:
    """CSV/TSV with the text loader's encoding detection and a sniffed delimiter."""
    text, _ = read_text(path)
    if not text.strip():
        raise LoadError("no-text", "no text: empty file")
    # The csv module refuses a field over 128 KiB by default ("field larger than field limit"), so a
    # sheet with one long text cell failed as corrupt; a field can be as long as the file is.
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text[: 1 << 16], path.suffix.lower()))
    built = BlockText()
    try:
        for block in row_blocks(reader):
            built.add(block)
    except csv.Error as exc:
        raise LoadError("corrupt", f"corrupt CSV: line {reader.line_num}: {exc}") from None
    if not built.sections:
        raise LoadError("no-text", "no text: only empty rows")
    return LoadedDocument(sections=built.sections, texts={None: built.text})
