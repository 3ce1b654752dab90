"""Typed records that cross the seams between stages."""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence


def source_matches(source: str, patterns: Sequence[str]) -> bool:
    """Does a document's relative path (or its file name) match any of the glob patterns?"""
    name = source.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(source, p) or fnmatch.fnmatch(name, p) for p in patterns)


@dataclass(frozen=True)
class Chunk:
    """A piece of one document, small enough to embed, with everything a citation needs.

    ``text == page_or_doc_text[start:end]`` where the reference text is the page's text for a
    PDF (``page`` set) and the whole document's text otherwise.
    """

    id: str
    text: str
    source: str  # path relative to the ingested root
    path: str  # absolute path
    file_sha256: str
    page: int | None
    section: str
    start: int
    end: int
    index: int
    n_tokens: int

    @property
    def file_type(self) -> str:
        dot = self.source.rfind(".")
        return self.source[dot + 1 :].lower() if dot >= 0 else ""

    def metadata(self) -> dict[str, Any]:
        """What Chroma stores beside the vector (None values dropped by the store)."""
        return {
            "source": self.source,
            "path": self.path,
            "file_sha256": self.file_sha256,
            "file_type": self.file_type,
            "page": self.page,
            "section": self.section,
            "start": self.start,
            "end": self.end,
            "chunk_index": self.index,
            "n_tokens": self.n_tokens,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FileResult:
    """What happened to one input file in an ingest run."""

    path: str
    source: str
    status: str  # added | updated | unchanged | failed | skipped | removed
    reason: str | None = None
    chunks: int = 0
    embedded: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    collection: str
    files: list[FileResult] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    embedded: int = 0
    embed_cache_hits: int = 0
    truncated_chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def summary(self) -> dict[str, Any]:
        return {
            status: self.count(status)
            for status in ("added", "updated", "unchanged", "removed", "failed", "skipped")
        } | {
            "chunks_added": self.chunks_added,
            "chunks_removed": self.chunks_removed,
            "embedded": self.embedded,
            "embed_cache_hits": self.embed_cache_hits,
            "truncated_chunks": self.truncated_chunks,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "summary": self.summary(), "files": [asdict(f) for f in self.files]}
