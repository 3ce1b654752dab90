"""DOCX (transitional and Strict OOXML): the body, then notes, comments and optionally headers.

The package is read with lxml (see :mod:`ingest.loaders.docx_xml` for why not python-docx).
Paragraphs and tables come in document order, a table row becomes one ``cell | cell`` line, and
headings (``Heading N``/``Title`` styles) become the section path. After the body, each kind of
side text gets its own section so a citation says where the words came from:

* ``Footnotes`` / ``Endnotes``: one line per note, ``[n] text`` (``[en] text`` for endnotes),
  numbered in order of first reference; the same marker is left in the body at the reference,
  so a note can be traced to its sentence;
* ``Comments`` (``LoadOptions.docx_comments``, on by default): reviewers' remarks are often the
  only place a decision is written down; each line names the author and the commented words;
* ``Headers and footers`` (``LoadOptions.docx_headers_footers``, off by default): they repeat on
  every page and are mostly furniture, but some documents keep their classification or owner
  there.

The title is ``dc:title`` from the core properties, else the first ``Title``/``Heading 1``
paragraph.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from lxml import etree

from ingest.loaders.base import LoadedDocument, LoadError, LoadOptions, sections_with_headings
from ingest.loaders.docx_xml import Line, NoteNumbers, W, Walker, note_paragraphs, style_levels
from ingest.loaders.ooxml import core_title, main_part, open_package, read_xml, relationships

_SIDE_PARTS = ("styles", "footnotes", "endnotes", "comments", "header", "footer")


def load_docx(path: Path, options: LoadOptions) -> LoadedDocument:
    with open_package(path, "DOCX") as package:
        try:
            return _load(package, options)
        except LoadError:
            raise
        except (zipfile.BadZipFile, EOFError) as exc:
            raise LoadError("corrupt", f"corrupt DOCX: {exc}") from None
        except (ValueError, KeyError, TypeError, RecursionError) as exc:  # malformed values, absurd nesting
            raise LoadError("corrupt", f"corrupt DOCX: {type(exc).__name__}: {exc}") from None


def _load(package: zipfile.ZipFile, options: LoadOptions) -> LoadedDocument:
    document_part = main_part(package, "DOCX")
    root = read_xml(package, document_part)
    body = None if root is None else root.find(f"{W}body")
    if body is None:
        raise LoadError("corrupt", f"corrupt DOCX: no document body in {document_part}")
    parts = _side_parts(package, document_part)
    walker = Walker(style_levels(_first(package, parts, "styles")))
    lines = list(walker.blocks(body))
    body_lines = len(lines)
    anchors = {comment_id: "".join(texts) for comment_id, texts in walker.anchors.items()}
    lines += _notes_section("Footnotes", walker.footnotes, note_paragraphs(
        walker, _first(package, parts, "footnotes"), f"{W}footnote"))
    lines += _notes_section("Endnotes", walker.endnotes, note_paragraphs(
        walker, _first(package, parts, "endnotes"), f"{W}endnote"))
    if options.docx_comments:
        lines += _comments_section(walker, _first(package, parts, "comments"), anchors)
    if options.docx_headers_footers:
        lines += _headers_footers_section(walker, package, parts)
    if not lines:
        raise LoadError("no-text", "no text in the document body")
    text = "\n".join(line for line, _ in lines)
    title = core_title(package) or next((line for line, level in lines[:body_lines] if level == 1), None)
    return LoadedDocument(sections=sections_with_headings(lines, text), texts={None: text}, title=title)


def _side_parts(package: zipfile.ZipFile, document_part: str) -> dict[str, list[str]]:
    """Part names by relationship type, for the parts this loader reads besides the body."""
    parts: dict[str, list[str]] = {}
    for rel in relationships(package, document_part):
        if rel.type in _SIDE_PARTS and rel.target not in parts.get(rel.type, []):
            parts.setdefault(rel.type, []).append(rel.target)
    return parts


def _first(package: zipfile.ZipFile, parts: dict[str, list[str]], rel_type: str) -> etree._Element | None:
    names = parts.get(rel_type)
    return read_xml(package, names[0]) if names else None


def _notes_section(title: str, numbers: NoteNumbers, notes: dict[str, str]) -> list[Line]:
    """``[n] text`` per note in reference order; notes never referenced come last."""
    if not notes:
        return []
    ordered = sorted(notes, key=lambda note_id: (note_id not in numbers.numbers, numbers.numbers.get(note_id, 0)))
    return [(title, 1)] + [(f"{numbers.mark(note_id)} {notes[note_id]}", None) for note_id in ordered]


def _comments_section(walker: Walker, root: etree._Element | None, anchors: dict[str, str]) -> list[Line]:
    """``Author on "commented words": remark`` per comment; ``anchors`` holds the commented body text."""
    if root is None:
        return []
    lines: list[Line] = []
    for comment in root.iter(f"{W}comment"):
        remark = " ".join(" ".join(line for line, _ in walker.blocks(comment, headings=False)).split())
        if not remark:
            continue
        author = " ".join((comment.get(f"{W}author") or "").split()) or "Unknown"
        anchor = " ".join(anchors.get(comment.get(f"{W}id", ""), "").split())
        if len(anchor) > 120:
            anchor = anchor[:117].rstrip() + "..."
        lines.append((f'{author} on "{anchor}": {remark}' if anchor else f"{author}: {remark}", None))
    return [("Comments", 1)] + lines if lines else []


def _headers_footers_section(walker: Walker, package: zipfile.ZipFile, parts: dict[str, list[str]]) -> list[Line]:
    """Each distinct header and footer line once (first-page, even and default often repeat)."""
    seen: dict[str, None] = {}
    for name in parts.get("header", []) + parts.get("footer", []):
        root = read_xml(package, name)
        if root is not None:
            for line, _ in walker.blocks(root, headings=False):
                seen.setdefault(line)
    return [("Headers and footers", 1)] + [(line, None) for line in seen] if seen else []
