"""Real documents with known content, generated on the fly (fpdf2, python-docx)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def make_pdf(path: Path, pages: Sequence[str], *, password: str | None = None) -> Path:
    """A PDF with one page per string (an empty string makes a page with no text layer)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 6, text)
        else:
            pdf.rect(20, 20, 50, 50)  # a drawing, but no text
    if password is not None:
        pdf.set_encryption(owner_password="owner-" + password, user_password=password)
    pdf.output(str(path))
    return path


def make_docx(path: Path, blocks: Sequence[tuple]) -> Path:
    """Blocks: ("h1".."h3", text), ("p", text), ("table", [[cell, ...], ...])."""
    import docx

    document = docx.Document()
    for kind, content in blocks:
        if kind.startswith("h"):
            document.add_heading(content, level=int(kind[1]))
        elif kind == "p":
            document.add_paragraph(content)
        elif kind == "table":
            table = document.add_table(rows=0, cols=len(content[0]))
            for row in content:
                cells = table.add_row().cells
                for cell, value in zip(cells, row):
                    cell.text = value
    document.save(str(path))
    return path
