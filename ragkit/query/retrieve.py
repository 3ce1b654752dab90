"""Hybrid retrieval as a chain of small steps over one :class:`~ragkit.models.SearchRequest`.

1. candidates: dense top-``pool`` from Chroma and BM25 top-``pool`` (filters on both sides, the
   lexical one pushed down into the index: its cost follows the matches, not the collection);
2. complete: every candidate gets a score on both sides (BM25 scores of dense-only candidates
   from one index lookup restricted to them; dense similarities of BM25-only candidates from
   their stored vectors);
3. fuse (:mod:`ragkit.query.fusion`): convex combination of min-max normalised scores, or RRF;
4. rerank (:mod:`ragkit.query.rerank`): an optional second-stage scorer over the fused top;
5. diversify (MMR, optional) and cut to ``k``;
6. look up text and metadata in the manifest (a chunk deleted meanwhile is dropped, never cited);
7. score each hit for display (:mod:`ragkit.query.calibration`): a chance of relevance from its raw
   cosine and term coverage, comparable across queries; the fused score stays as ``rank_score``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from ragkit.embedders.base import embed_queries
from ragkit.models import Filters, SearchHit, SearchRequest, SearchResult
from ragkit.query import calibration, fusion
from ragkit.query.filters import (POSTFILTER_FACTOR, POSTFILTER_MAX_FETCH, chroma_where_parts, chunk_filter,
                                  filter_after_search, lexical_mask, metadata_allowed)
from ragkit.query.scope import infer_scope
from ragkit.models import contextual_text
from ragkit.rerankers.base import Candidate, NoReranker, Reranker
from ragkit.stores.chroma import ChromaStore
from ragkit.stores.lexical import LexicalReader
from ragkit.stores.lexical.base import ChunkFilter

ChunkLookup = Callable[[Sequence[str]], dict[str, tuple[str, dict]]]


@dataclass
class _Candidates:
    """What the steps pass along: per-side scores and rankings for one request."""

    dense: dict[str, float] = field(default_factory=dict)
    dense_ranked: list[str] = field(default_factory=list)
    bm25: dict[str, float] = field(default_factory=dict)
    bm25_ranked: list[str] = field(default_factory=list)
    query_vector: np.ndarray | None = None

    @property
    def union(self) -> list[str]:
        return list(dict.fromkeys(self.dense_ranked + self.bm25_ranked))


class Retriever:
    """Stateless apart from its stores: safe to call from many threads at once."""

    def __init__(self, *, store: ChromaStore, lexical: Callable[[], LexicalReader], embedder,
                 chunk_lookup: ChunkLookup, reranker: Reranker | None = None,
                 document_labels: Callable[[], dict[str, str]] | None = None) -> None:
        """``lexical()`` returns the current BM25 index (it may change between calls as ingestion
        runs); ``chunk_lookup(ids) -> {id: (text, metadata)}`` resolves ids to text and metadata;
        ``document_labels() -> {path: label}`` names the documents, for ``infer_scope``."""
        self.document_labels = document_labels
        self._labels: tuple[int, dict[str, str]] = (-1, {})
        self.store = store
        self.lexical = lexical
        self.embedder = embedder
        self.chunk_lookup = chunk_lookup
        self.reranker = reranker or NoReranker()

    def search(self, request: SearchRequest) -> SearchResult:
        """Retrieve for ``request``; with ``infer_scope``, first within the documents the question
        names (:mod:`ragkit.query.scope`), and over everything when that finds nothing."""
        index = self.lexical()
        if request.infer_scope and not request.filters.active and self.document_labels is not None:
            labels = self._current_labels(index.generation)
            scope = infer_scope(request.query, labels)
            if scope is not None:
                result = self._search(replace(request, filters=Filters(paths=scope.paths)), index)
                if result.hits:
                    result.scope = scope.notice(labels)
                    return result
        return self._search(request, index)

    def _current_labels(self, generation: int) -> dict[str, str]:
        cached_generation, labels = self._labels
        if cached_generation != generation:
            labels = self.document_labels()
            self._labels = (generation, labels)
        return labels

    def _search(self, request: SearchRequest, index: LexicalReader) -> SearchResult:
        timings: dict[str, float] = {}
        found = _Candidates()
        if request.mode in ("hybrid", "dense"):
            self._dense(request, index, found, timings)
        lexical = request.mode in ("hybrid", "bm25")
        where = chunk_filter(request.filters, index) if lexical else None
        if lexical:
            self._lexical(request, index, where, found, timings)

        t = time.perf_counter()
        if lexical:
            self._complete_lexical(request, index, where, found)
        self._complete(request, found)
        scores = self._fuse(request, found)
        if request.doc_weight > 0 and request.mode == "hybrid" and len(index):
            scores = self._with_documents(request, index, scores)
        ranked = fusion.rank(scores)
        timings["fuse"] = time.perf_counter() - t
        if request.rerank and ranked:
            t = time.perf_counter()
            ranked, scores = self._rerank(request, ranked, scores)
            timings["rerank"] = time.perf_counter() - t
        if request.mmr and found.query_vector is not None and len(ranked) > request.k:
            ranked = self._mmr(request, ranked, scores)
        ranked = ranked[: request.k]

        t = time.perf_counter()
        hits = self._hits(request.query, ranked, scores, found)
        timings["lookup"] = time.perf_counter() - t
        best = max(found.dense.values()) if found.dense else None
        return SearchResult(query=request.query, mode=request.mode, hits=hits, best_similarity=best, timings=timings)

    # -- steps ---------------------------------------------------------------------------
    def _dense(self, request: SearchRequest, index: LexicalReader, found: _Candidates, timings: dict) -> None:
        t = time.perf_counter()
        found.query_vector = embed_queries(self.embedder, [request.query])[0]
        timings["embed_query"] = time.perf_counter() - t
        t = time.perf_counter()
        for hit in self._dense_hits(request, index, found.query_vector):
            found.dense[hit.id] = hit.similarity
            found.dense_ranked.append(hit.id)
        timings["dense"] = time.perf_counter() - t

    def _dense_hits(self, request: SearchRequest, index: LexicalReader, vector: np.ndarray) -> list:
        """The dense top ``pool`` under the filters. A filter listing many paths is applied to an
        unfiltered search's hits (:func:`~ragkit.query.filters.filter_after_search`), reading
        more while too few pass; a filter that selective after POSTFILTER_MAX_FETCH candidates is
        put inside the search, its path list in parts Chroma accepts. The hits are the same."""
        if filter_after_search(request.filters):
            where = chunk_filter(request.filters, index)
            fetch = request.pool * POSTFILTER_FACTOR
            while True:
                hits = self.store.query(vector, fetch, None, with_metadata=True)
                kept = [h for h in hits if where is None or metadata_allowed(where, h.metadata)]
                if len(kept) >= request.pool or len(hits) < fetch:
                    return kept[:request.pool]
                if fetch >= POSTFILTER_MAX_FETCH:
                    break
                fetch = min(fetch * 4, POSTFILTER_MAX_FETCH)
        found = [hit for part in chroma_where_parts(request.filters, index)
                 for hit in self.store.query(vector, request.pool, part)]
        return sorted(found, key=lambda hit: -hit.similarity)[:request.pool]

    @staticmethod
    def _lexical(request: SearchRequest, index: LexicalReader, where: ChunkFilter | None, found: _Candidates,
                 timings: dict) -> None:
        t = time.perf_counter()
        for chunk_id, score in index.top(request.query, request.pool, where):
            found.bm25[chunk_id] = score
            found.bm25_ranked.append(chunk_id)
        timings["bm25"] = time.perf_counter() - t

    @staticmethod
    def _complete_lexical(request: SearchRequest, index: LexicalReader, where: ChunkFilter | None,
                          found: _Candidates) -> None:
        """BM25 scores of the dense-only candidates (0 where the query or the filter misses them)."""
        if not len(index):
            return
        missing = [i for i in found.union if i not in found.bm25]
        scored = index.scores_for(request.query, missing, where) if missing else {}
        for chunk_id in missing:
            found.bm25[chunk_id] = scored.get(chunk_id, 0.0)

    def _complete(self, request: SearchRequest, found: _Candidates) -> None:
        union = found.union
        if found.query_vector is not None and request.mode == "hybrid":
            missing = [i for i in union if i not in found.dense]
            for chunk_id, vector in self.store.vectors(missing).items():
                found.dense[chunk_id] = float(np.dot(vector, found.query_vector))

    @staticmethod
    def _fuse(request: SearchRequest, found: _Candidates) -> dict[str, float]:
        if request.mode == "dense":
            return {i: found.dense[i] for i in found.dense_ranked}
        if request.mode == "bm25":
            return {i: found.bm25[i] for i in found.bm25_ranked}
        if request.fusion == "rrf":
            return fusion.rrf([found.dense_ranked, found.bm25_ranked], request.rrf_k)
        alpha = request.alpha
        if request.fusion == "adaptive":
            alpha = fusion.adaptive_alpha([found.dense[i] for i in found.dense_ranked],
                                          [found.bm25[i] for i in found.bm25_ranked], request.alpha)
        return fusion.convex(found.dense, found.bm25, found.union, alpha)

    @staticmethod
    def _with_documents(request: SearchRequest, index: LexicalReader, scores: dict[str, float]) -> dict[str, float]:
        by_chunk = index.document_scores(request.query)
        mask = lexical_mask(request.filters, index)
        if mask is not None:
            by_chunk = np.where(mask, by_chunk, 0.0)
        document = {}
        for chunk_id in scores:
            position = index.position(chunk_id)
            document[chunk_id] = float(by_chunk[position]) if position is not None else 0.0
        return fusion.with_document_evidence(scores, document, request.doc_weight)

    def _rerank(self, request: SearchRequest, ranked: list[str], scores: dict[str, float]):
        top = ranked[: request.pool]
        records = self.chunk_lookup(top)
        normalised = fusion.minmax({i: scores[i] for i in top})
        candidates = [Candidate(i, contextual_text(records[i][0], records[i][1].get("context", "")), normalised[i])
                      for i in top if i in records]
        new = self.reranker.rerank(request.query, candidates)
        scores = dict(scores) | new
        return fusion.rank({i: scores[i] for i in new}) + [i for i in ranked if i not in new], scores

    def _mmr(self, request: SearchRequest, ranked: list[str], scores: dict[str, float]) -> list[str]:
        pool = ranked[: max(request.pool, request.k)]
        vectors = self.store.vectors(pool)
        pool = [i for i in pool if i in vectors]
        return fusion.mmr(pool, scores, lambda a, b: float(vectors[a] @ vectors[b]), request.k, request.mmr_lambda)

    def _hits(self, query: str, ranked: list[str], scores: dict[str, float], found: _Candidates) -> list[SearchHit]:
        """Hits in ranked order, each scored by :func:`calibration.calibrated_score` (made
        non-increasing along the ranking) with the fused score kept as ``rank_score``."""
        records = self.chunk_lookup(ranked)
        live = [i for i in ranked if i in records]  # deleted between index and lookup: never cite a ghost
        coverage = calibration.term_coverage(
            calibration.query_terms(query),
            [contextual_text(records[i][0], records[i][1].get("context", "")) for i in live])
        calibrated = calibration.along_ranking(
            calibration.calibrated_score(found.dense.get(i), c) for i, c in zip(live, coverage))
        hits: list[SearchHit] = []
        for chunk_id, covered, score in zip(live, coverage, calibrated):
            text, meta = records[chunk_id]
            hits.append(SearchHit(
                rank=len(hits) + 1, chunk_id=chunk_id, text=text, source=meta.get("source", ""),
                path=meta.get("path", ""), page=meta.get("page"), section=meta.get("section", ""),
                start=int(meta.get("start", 0)), end=int(meta.get("end", 0)), score=score,
                dense_score=found.dense.get(chunk_id), bm25_score=found.bm25.get(chunk_id),
                title=meta.get("title", ""), rank_score=float(scores[chunk_id]), term_coverage=covered,
            ))
        return hits
