"""HTML with the standard library's parser: visible text only, ``<h1>``-``<h6>`` as section path."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from ingest.loaders.base import LoadedDocument, LoadError, LoadOptions, sections_with_headings
from ingest.loaders.text import read_text

_SKIP = {"script", "style", "noscript", "template", "head"}
_BLOCK = {"p", "div", "br", "li", "tr", "table", "section", "article", "pre", "blockquote", "ul", "ol", "dd", "dt"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[str, int | None]] = []
        self._buffer: list[str] = []
        self._skip = 0
        self._heading: int | None = None

    def _flush(self) -> None:
        text = " ".join("".join(self._buffer).split())
        if text:
            self.lines.append((text, self._heading))
        self._buffer = []

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self._skip += 1
        elif len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
            self._flush()
            self._heading = int(tag[1])
        elif tag in _BLOCK:
            self._flush()

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
            self._flush()
            self._heading = None
        elif tag in _BLOCK:
            self._flush()

    def handle_data(self, data):
        if not self._skip:
            self._buffer.append(data)


def load_html(path: Path, options: LoadOptions) -> LoadedDocument:
    raw, _ = read_text(path)
    parser = _TextExtractor()
    try:
        parser.feed(raw)
        parser.close()
    except Exception as exc:  # noqa: BLE001
        raise LoadError("corrupt", f"unparseable HTML: {exc}") from None
    parser._flush()
    if not parser.lines:
        raise LoadError("no-text", "no visible text")
    text = "\n".join(line for line, _ in parser.lines)
    return LoadedDocument(sections=sections_with_headings(parser.lines, text), texts={None: text})
