"""Hybrid retrieval: dense (Chroma) + lexical (BM25), fused; filters on both sides; optional MMR.

Fusion methods (both selectable; the default was chosen by evaluation, see README):

* ``convex``: for the union of both candidate lists, the exact score on each side (BM25 scores
  are available for every chunk; dense similarities of BM25-only candidates are computed from
  their stored vectors), min-max normalised per query, then ``alpha * dense + (1 - alpha) * bm25``.
* ``rrf``: reciprocal rank fusion, ``sum(1 / (rrf_k + rank))`` over the two ranked lists.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Sequence

import numpy as np

from ragkit.lexical import LexicalIndex
from ragkit.models import source_matches
from ragkit.store import ChromaStore

Mode = Literal["hybrid", "dense", "bm25"]
Fusion = Literal["convex", "rrf"]


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval. ``sources`` are globs over the document's relative path (or its name)."""

    sources: tuple[str, ...] = ()
    file_types: tuple[str, ...] = ()
    page_min: int | None = None
    page_max: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.sources or self.file_types or self.page_min is not None or self.page_max is not None)

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
            else:
                raise UsageError(f"unknown filter key {key!r} in {expression!r} (use source, type or page)")
        return cls(tuple(sources), tuple(types), page_min, page_max)


@dataclass
class SearchHit:
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


class Retriever:
    def __init__(self, *, store: ChromaStore, lexical: LexicalIndex, embedder, chunk_lookup) -> None:
        """``chunk_lookup(ids) -> {id: (text, metadata)}`` resolves ids to their text and metadata."""
        self.store = store
        self.lexical = lexical
        self.embedder = embedder
        self.chunk_lookup = chunk_lookup

    # -- filters -------------------------------------------------------------------------
    def _mask(self, filters: Filters) -> np.ndarray | None:
        if not filters.active:
            return None
        mask = np.ones(len(self.lexical), dtype=bool)
        if filters.sources:
            allowed = {s for s in set(self.lexical.sources.tolist()) if source_matches(s, filters.sources)}
            mask &= np.fromiter((s in allowed for s in self.lexical.sources), dtype=bool, count=len(mask))
        if filters.file_types:
            mask &= np.isin(self.lexical.file_types, list(filters.file_types))
        if filters.page_min is not None:
            mask &= self.lexical.pages >= filters.page_min
        if filters.page_max is not None:
            mask &= (self.lexical.pages <= filters.page_max) & (self.lexical.pages >= 0)
        return mask

    def _where(self, filters: Filters) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if filters.sources:
            allowed = sorted(s for s in set(self.lexical.sources.tolist()) if source_matches(s, filters.sources))
            clauses.append({"source": {"$in": allowed or ["\x00no-match"]}})
        if filters.file_types:
            clauses.append({"file_type": {"$in": list(filters.file_types)}})
        if filters.page_min is not None:
            clauses.append({"page": {"$gte": filters.page_min}})
        if filters.page_max is not None:
            clauses.append({"page": {"$lte": filters.page_max}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    # -- search --------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        k: int = 5,
        mode: Mode = "hybrid",
        fusion: Fusion = "convex",
        alpha: float = 0.5,
        rrf_k: int = 60,
        filters: Filters = Filters(),
        mmr: bool = False,
        mmr_lambda: float = 0.7,
        candidates: int | None = None,
    ) -> SearchResult:
        timings: dict[str, float] = {}
        pool = candidates or max(50, k * 4)
        dense: dict[str, float] = {}
        bm25_all: np.ndarray | None = None
        bm25_ranked: list[str] = []
        dense_ranked: list[str] = []
        query_vector = None

        if mode in ("hybrid", "dense"):
            t = time.perf_counter()
            query_vector = self.embedder.embed([query])[0]
            timings["embed_query"] = time.perf_counter() - t
            t = time.perf_counter()
            for hit in self.store.query(query_vector, pool, self._where(filters)):
                dense[hit.id] = hit.similarity
                dense_ranked.append(hit.id)
            timings["dense"] = time.perf_counter() - t
        if mode in ("hybrid", "bm25"):
            t = time.perf_counter()
            mask = self._mask(filters)
            bm25_all = self.lexical.scores(query)
            if bm25_all.size and mask is not None:
                bm25_all = np.where(mask, bm25_all, 0.0)
            positive = np.flatnonzero(bm25_all > 0) if bm25_all.size else np.zeros(0, dtype=int)
            if positive.size:
                n = min(pool, positive.size)
                top = positive[np.argpartition(-bm25_all[positive], n - 1)[:n]]
                top = top[np.argsort(-bm25_all[top], kind="stable")]
                bm25_ranked = [self.lexical.ids[i] for i in top]
            timings["bm25"] = time.perf_counter() - t

        t = time.perf_counter()
        union = list(dict.fromkeys(dense_ranked + bm25_ranked))
        bm25_scores: dict[str, float] = {}
        if bm25_all is not None and bm25_all.size:
            for chunk_id in union:
                position = self.lexical.position(chunk_id)
                bm25_scores[chunk_id] = float(bm25_all[position]) if position is not None else 0.0
        vectors: dict[str, np.ndarray] = {}
        if query_vector is not None and mode == "hybrid":
            missing = [i for i in union if i not in dense]
            if missing:
                vectors = self.store.vectors(missing)
                for chunk_id, vector in vectors.items():
                    dense[chunk_id] = float(np.dot(vector, query_vector))

        if mode == "dense":
            fused = {i: dense[i] for i in dense_ranked}
        elif mode == "bm25":
            fused = {i: bm25_scores[i] for i in bm25_ranked}
        elif fusion == "rrf":
            fused = {}
            for ranked in (dense_ranked, bm25_ranked):
                for rank, chunk_id in enumerate(ranked, start=1):
                    fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (rrf_k + rank)
        else:
            d = _minmax({i: dense.get(i, 0.0) for i in union})
            b = _minmax({i: bm25_scores.get(i, 0.0) for i in union})
            fused = {i: alpha * d[i] + (1 - alpha) * b[i] for i in union}

        ranked = sorted(fused, key=lambda i: (-fused[i], i))
        if mmr and query_vector is not None and len(ranked) > k:
            ranked = self._mmr(ranked[: max(pool, k)], fused, query_vector, k, mmr_lambda)
        ranked = ranked[:k]
        timings["fuse"] = time.perf_counter() - t

        t = time.perf_counter()
        records = self.chunk_lookup(ranked)
        hits: list[SearchHit] = []
        for chunk_id in ranked:
            if chunk_id not in records:
                continue  # deleted between index and lookup; never cite a ghost
            text, meta = records[chunk_id]
            hits.append(SearchHit(
                rank=len(hits) + 1, chunk_id=chunk_id, text=text, source=meta.get("source", ""),
                path=meta.get("path", ""), page=meta.get("page"), section=meta.get("section", ""),
                start=int(meta.get("start", 0)), end=int(meta.get("end", 0)), score=float(fused[chunk_id]),
                dense_score=dense.get(chunk_id), bm25_score=bm25_scores.get(chunk_id),
            ))
        timings["lookup"] = time.perf_counter() - t
        best = max(dense.values()) if dense else None
        return SearchResult(query=query, mode=mode, hits=hits, best_similarity=best, timings=timings)

    def _mmr(self, ranked: list[str], fused: dict[str, float], query_vector, k: int, lam: float) -> list[str]:
        vectors = self.store.vectors(ranked)
        relevance = _minmax({i: fused[i] for i in ranked})
        chosen: list[str] = []
        remaining = [i for i in ranked if i in vectors]
        while remaining and len(chosen) < k:
            def gain(i: str) -> float:
                redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
                return lam * relevance[i] - (1 - lam) * redundancy
            best = max(remaining, key=gain)
            chosen.append(best)
            remaining.remove(best)
        return chosen


def _minmax(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    values = np.fromiter(scores.values(), dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return {i: (1.0 if high > 0 else 0.0) for i in scores}
    return {i: (v - low) / (high - low) for i, v in scores.items()}
