"""Every typed record that crosses a seam: ingest results, search requests and hits, answers.

Records live here, in one module with no dependencies above :mod:`ragkit.errors`, so that every
layer (stores, ingest, query, generators, surfaces) can import them without importing each other.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.config import Settings

Mode = Literal["hybrid", "dense", "bm25"]
Fusion = Literal["adaptive", "convex", "rrf"]


def contextual_text(text: str, context: str) -> str:
    """A chunk as retrieval sees it. One function, so ingest (embedding) and the BM25 index agree."""
    return f"{context}\n{text}" if context else text


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
    #: what the chunk is part of, for retrieval only: "document title > section path". It is
    #: embedded and indexed with the text (a table page still knows its report) but is never
    #: quoted, so citation offsets refer to ``text`` alone.
    context: str = ""
    #: the document's title as ragkit read it (metadata, first heading, or readable file name)
    title: str = ""
    #: the text was recognised from a page image (OCR), not extracted from a text layer
    ocr: bool = False

    @property
    def embed_text(self) -> str:
        """What the embedder and BM25 see: the context line, then the text."""
        return contextual_text(self.text, self.context)

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
            "context": self.context,
            "title": self.title,
            "ocr": self.ocr or None,
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
    #: the loader's counts, e.g. {"ocr_pages": 3, "furniture_lines": 120}
    stats: dict[str, int] = field(default_factory=dict)


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
            "ocr_pages": sum(f.stats.get("ocr_pages", 0) for f in self.files),
            "furniture_lines": sum(f.stats.get("furniture_lines", 0) for f in self.files),
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "summary": self.summary(), "files": [asdict(f) for f in self.files]}


@dataclass(frozen=True)
class Record:
    """A document given as text rather than as a file (e.g. one BEIR corpus entry)."""

    id: str
    text: str
    title: str = ""


# -- stage two: retrieval -----------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    """Restrict retrieval. ``sources`` are globs over the document's relative path (or its name);
    ``paths`` are exact absolute paths (what a server that tracks files by id filters on)."""

    sources: tuple[str, ...] = ()
    file_types: tuple[str, ...] = ()
    page_min: int | None = None
    page_max: int | None = None
    paths: tuple[str, ...] | None = None

    @property
    def active(self) -> bool:
        return bool(self.sources or self.file_types or self.page_min is not None
                    or self.page_max is not None or self.paths is not None)

    @classmethod
    def parse(cls, expressions: Sequence[str]) -> "Filters":
        """Parse CLI filters: ``source=GLOB``, ``type=pdf``, ``page=3`` or ``page=2-5``."""
        from ragkit.errors import UsageError

        sources: list[str] = []
        types: list[str] = []
        page_min = page_max = None
        for expression in expressions:
            key, sep, value = expression.partition("=")
            key = key.strip().lower()
            value = value.strip()
            if not sep or not value:
                raise UsageError(f"filter {expression!r} must look like source=GLOB, type=pdf or page=2-5")
            if key in ("source", "file", "path"):
                sources.append(value)
            elif key in ("type", "file_type", "ext"):
                types.extend(v.strip().lower().lstrip(".") for v in value.split(",") if v.strip())
            elif key == "page":
                low, dash, high = value.partition("-")
                try:
                    page_min = int(low) if low else None
                    page_max = int(high) if high else (None if dash else page_min)
                except ValueError:
                    raise UsageError(f"filter {expression!r}: page must be N or N-M") from None
                if page_min is not None and page_max is not None and page_min > page_max:
                    raise UsageError(f"filter {expression!r}: the page range runs backwards; write page="
                                     f"{page_max}-{page_min}")
            else:
                raise UsageError(f"unknown filter key {key!r} in {expression!r} (use source, type or page)")
        return cls(tuple(sources), tuple(types), page_min, page_max)


@dataclass(frozen=True)
class SearchRequest:
    """Everything one retrieval needs, built once by a surface (CLI, API, server) and passed down."""

    query: str
    k: int = 5
    mode: Mode = "hybrid"
    filters: Filters = field(default_factory=Filters)
    fusion: Fusion = "convex"
    alpha: float = 0.5
    rrf_k: int = 60
    #: weight of whole-document BM25 evidence mixed into each chunk's fused score (0: off)
    doc_weight: float = 0.0
    #: limit retrieval to the documents the question names, when it names some (query/scope.py)
    infer_scope: bool = False
    rerank: bool = False
    mmr: bool = False
    mmr_lambda: float = 0.7
    #: candidates taken from each side before fusion (None: max(50, 4k))
    candidates: int | None = None

    @classmethod
    def from_settings(cls, settings: "Settings", query: str, **overrides: Any) -> "SearchRequest":
        """The request the settings describe, with per-call overrides (None means: the setting)."""
        base = cls(query=query, k=settings.top_k, mode=settings.mode, fusion=settings.fusion,
                   alpha=settings.alpha, rrf_k=settings.rrf_k, doc_weight=settings.doc_weight,
                   infer_scope=settings.infer_scope,
                   rerank=settings.reranker != "none",
                   mmr=settings.mmr, mmr_lambda=settings.mmr_lambda)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def pool(self) -> int:
        return self.candidates or max(50, self.k * 4)


@dataclass
class SearchHit:
    """One retrieved chunk. ``score`` is the calibrated chance of relevance in [0, 1]
    (:mod:`ragkit.query.calibration`), comparable across queries and stores; ``rank_score`` is
    the fusion's score that ordered the hits, meaningful only within one query."""

    rank: int
    chunk_id: str
    text: str
    source: str
    path: str
    page: int | None
    section: str
    start: int
    end: int
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    title: str = ""
    #: the fused (or reranked) score the ranking used; None when built outside retrieval
    rank_score: float | None = None
    #: share of the query's content terms found in the chunk: the calibration's lexical signal
    term_coverage: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: list[SearchHit]
    #: best dense cosine similarity among the candidates (None in bm25 mode): the refusal signal
    best_similarity: float | None
    timings: dict[str, float] = field(default_factory=dict)
    #: set when retrieval was limited to documents the question names (``infer_scope``): which, and why
    scope: str | None = None


# -- stage two: answers -------------------------------------------------------------------------
@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    page: int | None
    chunk_id: str
    quote: str
    #: where ``quote`` sits inside the chunk's text
    quote_start: int
    quote_end: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Generation:
    """Raw generator output: text with ``[n]`` markers referring to the numbered sources."""

    text: str
    generator: str
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: the generator found nothing in the sources that answers the question
    refused: bool = False
    #: presentation text before the answer proper (e.g. "Extractive answer (quoted …):")
    preamble: str = ""


@dataclass
class Answer:
    """A grounded answer. ``sources`` are the numbered chunks the generator saw ([1] is sources[0])."""

    question: str
    text: str
    citations: list[Citation]
    sources: list[SearchHit]
    refused: bool
    generator: str
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    invalid_citations: list[int] = field(default_factory=list)
    best_similarity: float | None = None
    preamble: str = ""

    @property
    def body(self) -> str:
        """The answer without its preamble: what answer metrics compare with gold answers."""
        if self.preamble and self.text.startswith(self.preamble):
            return self.text[len(self.preamble):].strip()
        return self.text

    @property
    def cited_sources(self) -> list[SearchHit]:
        cited = {c.n for c in self.citations}
        return [hit for n, hit in enumerate(self.sources, start=1) if n in cited]

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "generator": self.generator,
            "model": self.model,
            "citations": [c.to_dict() for c in self.citations],
            "sources": [h.to_dict() for h in self.sources],
            "invalid_citations": self.invalid_citations,
            "warnings": self.warnings,
            "usage": self.usage,
            "timings": {k: round(v, 6) for k, v in self.timings.items()},
            "best_similarity": self.best_similarity,
        }


@dataclass(frozen=True)
class Status:
    collection: str
    documents: int
    failed_documents: int
    chunks: int
    store_chunks: int
    embedder: str
    store: str
    home: str
    last_ingest: float | None
    #: documents whose content is byte-identical (the same PDF under two names), by source
    duplicates: list[list[str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
