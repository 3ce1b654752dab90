"""The lexical side's pushed-down path against the dense path it replaced, on a real collection.

Before, a query scored every chunk (``scores``), masked the scores with every chunk's filter
fields (``lexical_mask``) and took the best ``pool``; the dense-only candidates read their BM25
from the same array. Now the index returns the best ``k`` under the filter (``top``) and the
scores of just the candidates (``scores_for``). On the sample corpus plus a few hundred NFCorpus
abstracts, with and without each kind of filter, both give the same ranked chunks and scores
(equal scores by position in both) and the same hybrid results end to end; the postgres
backend's SQL gives what its own dense view gives.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS, shared_dir
from ragkit.models import Filters, Record, SearchRequest
from ragkit.query.filters import chunk_filter, lexical_mask
from ragkit.query.retrieve import Retriever
from ragkit.stores.lexical.base import scores_from_dense, top_from_scores

N_RECORDS = 200
QUERIES = ["How long is the warranty?", "battery replacement", "firmware update rollback", "API rate limit",
           "safety goggles first aid", "onboarding laptop", "vitamin D deficiency", "statin breast cancer",
           "fish oil omega-3 heart", "processed meat colorectal", "soy isoflavones", "the of and"]
FILTERS = {
    "none": Filters(),
    "source glob": Filters(sources=("*.md", "MED-1*")),
    "source by name": Filters(sources=("support-faq.txt",)),
    "source matching nothing": Filters(sources=("nothing-*",)),
    "file type": Filters(file_types=("pdf", "docx")),
    "page range": Filters(page_min=1, page_max=2),
    "page from": Filters(page_min=2),
    "page up to": Filters(page_max=1),
    "paths": None,  # filled in from the collection: every third document
    "no paths": Filters(paths=()),
    "combined": Filters(sources=("*",), file_types=("pdf",), page_min=1),
}


@pytest.fixture(scope="module")
def kb(tmp_path_factory, embedder):
    from ragkit import KnowledgeBase

    corpus = shared_dir("beir", "nfcorpus") / "corpus.jsonl"
    with corpus.open() as handle:
        rows = [json.loads(line) for line in itertools.islice(handle, N_RECORDS)]
    opened = KnowledgeBase(tmp_path_factory.mktemp("top") / "kb", embedder=embedder)
    assert opened.ingest([CORPUS]).ok
    assert opened.ingest_records([Record(r["_id"], r["text"], r.get("title", "")) for r in rows]).ok
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def filters(kb) -> dict[str, Filters]:
    paths = sorted({meta["path"] for _, _, meta in kb.manifest.iter_chunks()})
    return {name: value if value is not None else Filters(paths=tuple(paths[::3])) for name, value in FILTERS.items()}


def _assert_same_ranking(new: list[tuple[str, float]], old: list[tuple[str, float]], dense: dict[str, float]) -> None:
    """The same chunks in the same order (equal scores by position, lowest first, in both), with
    the scores the dense path gives them."""
    assert [i for i, _ in new] == [i for i, _ in old]
    assert [s for _, s in new] == pytest.approx([s for _, s in old], rel=1e-6)
    assert [s for _, s in new] == pytest.approx([dense[i] for i, _ in new], rel=1e-6)


def _dense(index, query: str, mask: np.ndarray | None) -> dict[str, float]:
    """The old path's view: every chunk's score, masked."""
    scores = index.scores(query)
    if mask is not None:
        scores = np.where(mask, scores, 0.0)
    return {index.ids[i]: float(scores[i]) for i in np.flatnonzero(scores > 0)}


@pytest.mark.parametrize("name", list(FILTERS))
def test_top_ranks_as_the_masked_dense_scores_did(kb, filters, name):
    index = kb.lexical_index()
    assert len(index) > 2 * N_RECORDS
    mask = lexical_mask(filters[name], index)
    where = chunk_filter(filters[name], index)
    for query, k in itertools.product(QUERIES, (5, 40)):
        old = top_from_scores(index.ids, index.scores(query), k, mask)
        _assert_same_ranking(index.top(query, k, where), old, _dense(index, query, mask))
    if name == "none":
        assert where is None and index.top("warranty", 5)
    found = [index.top(query, 40, where) for query in QUERIES]
    if name in ("source matching nothing", "no paths"):
        assert not any(found)
    else:
        assert sum(bool(f) for f in found) >= 3  # the comparison above compared something


@pytest.mark.parametrize("name", ["none", "source glob", "file type", "page range", "paths"])
def test_scores_for_gives_the_chosen_chunks_the_dense_scores(kb, filters, name):
    index = kb.lexical_index()
    mask = lexical_mask(filters[name], index)
    where = chunk_filter(filters[name], index)
    every = list(index.ids)
    scored = 0
    for query in QUERIES:  # matched or not, inside the filter or not
        chosen = every[::5] + [chunk_id for chunk_id, _ in index.top(query, 30)] + ["no-such-chunk"]
        expected = scores_from_dense(index.position, index.scores(query), chosen, mask)
        found = index.scores_for(query, chosen, where)
        assert found.keys() == expected.keys()
        assert list(found.values()) == pytest.approx([expected[i] for i in found], rel=1e-5)
        scored += len(found)
    assert scored >= 3


def test_source_values_are_the_distinct_sources(kb):
    index = kb.lexical_index()
    assert list(index.source_values()) == sorted(set(index.sources.tolist()))


@pytest.fixture(scope="module")
def postgres_index(kb, postgres_server):
    from ragkit.stores.lexical import PostgresTarget, sync_index

    return sync_index(kb.manifest, Path("/nonexistent-bm25"), None, PostgresTarget(postgres_server.database(), "top"))


@pytest.mark.parametrize("name", list(FILTERS))
def test_postgres_ranks_in_sql_as_its_dense_scores_do(kb, filters, postgres_index, name):
    """The postgres backend's filter and candidate scoring in SQL, against its own dense view."""
    index = postgres_index
    assert len(index) == len(kb.lexical_index())
    mask = lexical_mask(filters[name], index)
    where = chunk_filter(filters[name], index)
    for query, k in itertools.product(QUERIES, (5, 40)):
        old = top_from_scores(index.ids, index.scores(query), k, mask)
        _assert_same_ranking(index.top(query, k, where), old, _dense(index, query, mask))
        chosen = [chunk_id for chunk_id, _ in index.top(query, 30)] + list(index.ids)[::9] + ["no-such-chunk"]
        expected = scores_from_dense(index.position, index.scores(query), chosen, mask)
        found = index.scores_for(query, chosen, where)
        assert found.keys() == expected.keys()
        assert list(found.values()) == pytest.approx([expected[i] for i in found], rel=1e-6)


class _DensePath:
    """The lexical reader as retrieval used it before: every chunk scored, then masked. Answers
    ``top`` and ``scores_for`` from the dense view with base.py's fallbacks; the rest is the index's."""

    def __init__(self, index, filters: Filters) -> None:
        self._index = index
        self._filters = filters

    def __getattr__(self, name):
        return getattr(self._index, name)

    def __len__(self) -> int:
        return len(self._index)

    def _mask(self):
        return lexical_mask(self._filters, self._index)

    def top(self, query, k, where=None):
        return top_from_scores(self._index.ids, self._index.scores(query), k, self._mask())

    def scores_for(self, query, chunk_ids, where=None):
        return scores_from_dense(self._index.position, self._index.scores(query), chunk_ids, self._mask())


def _assert_same_hits(new, old, query: str) -> None:
    """The same chunks in the same order, with the same fused and BM25 scores."""
    assert [h.chunk_id for h in new] == [h.chunk_id for h in old], query
    assert [h.rank_score for h in new] == pytest.approx([h.rank_score for h in old], rel=1e-6), query
    assert [h.bm25_score for h in new] == pytest.approx([h.bm25_score for h in old], rel=1e-6, abs=1e-9), query


@pytest.mark.parametrize("name", ["none", "source glob", "file type", "page range", "paths", "combined"])
@pytest.mark.parametrize("mode", ["hybrid", "bm25"])
def test_retrieval_results_are_the_same_as_the_dense_paths(kb, filters, name, mode):
    index = kb.lexical_index()
    old = Retriever(store=kb.store, lexical=lambda: _DensePath(index, filters[name]), embedder=kb.embedder,
                    chunk_lookup=kb.retriever.chunk_lookup)
    for query in QUERIES:
        request = SearchRequest(query=query, k=10, mode=mode, filters=filters[name])
        _assert_same_hits(kb.retriever.search(request).hits, old.search(request).hits, query)
        if mode == "hybrid":  # document evidence (off by default) still reads the dense view
            weighted = replace(request, doc_weight=0.3)
            _assert_same_hits(kb.retriever.search(weighted).hits, old.search(weighted).hits, query)
