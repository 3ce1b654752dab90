"""PPTX via python-pptx: one page per slide, so a citation names the slide.

A slide's text is its title, then the text of every other shape in the slide's own order
(grouped shapes included, tables as ``cell | cell`` rows, chart titles), then the speaker notes
under a ``Speaker notes:`` line: notes often carry the explanation the bullets leave out.
``texts[n]`` is slide n's text and its section path is the slide title. Slides without any text
(a picture, a blank divider) are counted in a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ingest.loaders.base import LoadedDocument, LoadError, LoadOptions, Section
from ingest.loaders.ooxml import main_part, open_package


def load_pptx(path: Path, options: LoadOptions) -> LoadedDocument:
    with open_package(path, "PPTX") as package:
        main_part(package, "PPTX", strict_ok=False)
    try:
        from pptx import Presentation

        presentation = Presentation(str(path))
        slides = [_slide(slide) for slide in presentation.slides]
        core_title = " ".join((presentation.core_properties.title or "").split())
    except LoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - python-pptx raises KeyError/ValueError on damaged parts
        raise LoadError("corrupt", f"corrupt PPTX: {type(exc).__name__}: {exc}") from None
    document = LoadedDocument(sections=[], pages=len(slides))
    for number, (title, text) in enumerate(slides, start=1):
        if text:
            document.texts[number] = text
            document.sections.append(Section(text, number, (title,) if title else ()))
    if not document.sections:
        raise LoadError("no-text", f"no text on any of the {len(slides)} slide(s)")
    empty = len(slides) - len(document.sections)
    if empty:
        document.warnings.append(f"{empty} of {len(slides)} slide(s) have no text (pictures or blank slides)")
    document.title = core_title or next((title for title, _ in slides if title), None)
    return document


def _slide(slide) -> tuple[str, str]:
    """``(title, text)`` of one slide; both "" when it has none."""
    title_shape = slide.shapes.title
    title = _one_line(title_shape.text_frame.text) if title_shape is not None else ""
    lines = [title] if title else []
    skip = title_shape.shape_id if title_shape is not None else None
    lines += [line for line in _shape_lines(slide.shapes, skip) if line]
    notes = _notes(slide)
    if notes:
        lines += ["Speaker notes:", *notes]
    return title, "\n".join(lines)


def _shape_lines(shapes: Iterable, skip: int | None) -> Iterator[str]:
    """Text lines of shapes in order, descending into groups."""
    from pptx.shapes.group import GroupShape

    for shape in shapes:
        if shape.shape_id == skip:
            continue
        if isinstance(shape, GroupShape):
            yield from _shape_lines(shape.shapes, skip)
        elif getattr(shape, "has_table", False) and shape.has_table:
            yield from _table_lines(shape.table)
        elif getattr(shape, "has_chart", False) and shape.has_chart:
            chart = shape.chart
            if chart.has_title and chart.chart_title.has_text_frame:
                yield _one_line(chart.chart_title.text_frame.text)
        elif shape.has_text_frame:
            yield from (_one_line(paragraph.text) for paragraph in shape.text_frame.paragraphs)


def _table_lines(table) -> Iterator[str]:
    """``cell | cell`` per row; a merged cell is reported once, in its top-left position."""
    for row in table.rows:
        cells = [_one_line(cell.text) for cell in row.cells if not cell.is_spanned]
        if any(cells):
            yield " | ".join(cells)


def _notes(slide) -> list[str]:
    if not slide.has_notes_slide:
        return []
    frame = slide.notes_slide.notes_text_frame
    if frame is None:
        return []
    return [line for line in (_one_line(p.text) for p in frame.paragraphs) if line]


def _one_line(text: str) -> str:
    """Soft line breaks (vertical tab in python-pptx) and runs of spaces become one space."""
    return " ".join(text.replace("\v", " ").split())
