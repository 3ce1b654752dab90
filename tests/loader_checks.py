"""Checks shared by the loader tests: offsets and chunks that are exact slices of the text,
and zip packages rewritten part by part (what office libraries cannot write)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ingest.loaders import LoadedDocument


def assert_offsets_exact(doc: LoadedDocument) -> None:
    """Every section is the slice of its page's (or the document's) text at its offset."""
    for section in doc.sections:
        text = doc.texts[section.page]
        assert text[section.offset : section.offset + len(section.text)] == section.text


def assert_chunks_exact(doc: LoadedDocument, chunk_size: int = 64) -> list:
    from ingest.split import SplitConfig, split_document

    chunks = split_document(doc, source="s", path="/s", file_sha256="0", config=SplitConfig(chunk_size, 8))
    for chunk in chunks:
        assert doc.texts[chunk.page][chunk.start : chunk.end] == chunk.text
    return chunks


def rewrite_zip(path: Path, replace: dict[str, bytes]) -> Path:
    """Rewrite ``path`` with some parts replaced or added."""
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts.update(replace)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path
