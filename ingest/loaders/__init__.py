"""Loader registry: file extension -> loader. One module per format."""

from __future__ import annotations

from pathlib import Path

from ingest.loaders.base import LoadedDocument, LoadError, LoadOptions, Section
from ingest.loaders.docx import load_docx
from ingest.loaders.html import load_html
from ingest.loaders.pdf import load_pdf
from ingest.loaders.pptx import load_pptx
from ingest.loaders.tabular import load_csv
from ingest.loaders.text import load_markdown, load_text
from ingest.loaders.xlsx import load_xlsx

LOADERS = {
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".pptx": load_pptx,
    ".xlsx": load_xlsx,
    ".csv": load_csv,
    ".tsv": load_csv,
    ".txt": load_text,
    ".text": load_text,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
}

__all__ = ["LOADERS", "LoadError", "LoadOptions", "LoadedDocument", "Section", "is_supported", "load_file"]


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load_file(path: Path, options: LoadOptions | None = None) -> LoadedDocument:
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoadError("unsupported", f"unsupported file type {path.suffix or '(none)'!r}")
    try:
        return loader(path, options or LoadOptions())
    except LoadError:
        raise
    except OSError as exc:
        raise LoadError("unreadable", f"cannot read file: {exc.strerror or exc}") from None
