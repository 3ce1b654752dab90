"""Retrieval over one or more vector stores, with OpenAI filters: shared by search, Responses
and chat completions, so the three always agree on what a filter means and what is found.

Per store: the filter becomes allowed file paths and a page range (pushed down into ragkit's
hybrid retrieval on both the dense and the BM25 side) plus an exact per-hit check; when part of a
filter can only be checked afterwards, more candidates are fetched so ``k`` survive it. Hits are
mapped back to the store's file ids; a chunk of a file that is not (or no longer) ``completed``
in the store is never returned. Results of several stores or queries are merged by score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from typing import TYPE_CHECKING

from ragkit.errors import NotFound
from ragkit.library.filters import Filter, Plan
from ragkit.library.registry import StoreGone
from ragkit.models import Filters, SearchHit

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.library.engine import Library

#: candidates fetched per query when hits must be filtered after retrieval
POST_FILTER_POOL = 200


@dataclass
class Found:
    """One retrieved chunk with the OpenAI identity of its file."""

    hit: SearchHit
    vector_store_id: str
    file_id: str
    filename: str
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """The hit's calibrated chance of relevance (ragkit.query.calibration): the same scale for
        every query and store, so ``score_threshold`` filters by relevance, not by rank."""
        return max(0.0, min(1.0, float(self.hit.score)))

    def result_attributes(self) -> dict[str, Any]:
        """The file's attributes exactly as they were set on the vector store file, as OpenAI
        returns them; where the chunk sits (page, chunk id) goes in the result's own fields."""
        return dict(self.attributes)


@dataclass
class Retrieved:
    found: list[Found]
    best_similarity: float | None
    generations: tuple[tuple[str, int], ...]
    #: seconds per retrieval step, summed over stores and queries (for the audit log)
    timings: dict[str, float] = field(default_factory=dict)


def _attributes(row: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(row["attributes"]) if row.get("attributes") else {}


def retrieve(library: Library, stores: Sequence[dict[str, Any]], queries: Sequence[str], k: int,
             node: Filter | None = None, *, score_threshold: float | None = None,
             alpha: float | None = None) -> Retrieved:
    found: dict[tuple[str, str], Found] = {}
    best: float | None = None
    generations: list[tuple[str, int]] = []
    timings: dict[str, float] = {}
    for store in stores:
        kb = library.registry.kb(store)
        generations.append((store["id"], kb.manifest.generation()))
        if node is None:
            # No filter: name only the files of the hits (a store may hold thousands of files).
            if not library.state.has_completed(store["id"]):
                continue
            plan = Plan.build(None, [])
            rows_for = lambda paths, vs_id=store["id"]: library.state.completed_by_path(vs_id, paths)  # noqa: E731
        else:
            files = library.state.vs_files(store["id"], ("completed",))
            plan = Plan.build(node, files)
            if not files or plan.empty:
                continue
            by_path = {f["path"]: f for f in files}
            rows_for = lambda paths, by_path=by_path: by_path  # noqa: E731
        fetch = max(k, POST_FILTER_POOL) if plan.post_filter else k
        filters = Filters(paths=plan.paths, page_min=plan.page_min, page_max=plan.page_max)
        for query in queries:
            try:
                with library.registry.lease(store) as kb:  # not dropped while it is being read
                    result = kb.search(query, k=fetch, filters=filters, alpha=alpha)
            except StoreGone:
                raise NotFound("vector store", store["id"], "vector_store_id") from None
            except Exception:
                if library.state.store(store["id"]) is None:  # dropped by another worker process meanwhile
                    raise NotFound("vector store", store["id"], "vector_store_id") from None
                raise
            for step, seconds in result.timings.items():
                timings[step] = timings.get(step, 0.0) + seconds
            if result.best_similarity is not None:
                best = result.best_similarity if best is None else max(best, result.best_similarity)
            rows = rows_for([hit.path for hit in result.hits])
            for hit in result.hits:
                row = rows.get(hit.path)
                if row is None or not plan.keep(hit.path, hit.page):
                    continue
                key = (store["id"], hit.chunk_id)
                if key not in found or found[key].hit.score < hit.score:
                    found[key] = Found(hit, store["id"], row["file_id"], row["filename"], _attributes(row))
    # calibrated scores are comparable across stores and queries (and non-increasing within one
    # result), so sorting by them merges without reordering any one store's ranking
    ranked = sorted(found.values(), key=lambda f: (-f.score, f.hit.rank, f.hit.chunk_id))
    if score_threshold is not None:
        ranked = [f for f in ranked if f.score >= score_threshold]
    ranked = ranked[:k]
    for rank, item in enumerate(ranked, start=1):
        item.hit.rank = rank
    return Retrieved(ranked, best, tuple(generations), timings)


def audit_timings(timings: dict[str, float]) -> dict[str, float]:
    return {step: round(seconds * 1000, 2) for step, seconds in timings.items()}


def audit_hits(found: Sequence[Found]) -> list[dict[str, Any]]:
    return [{"chunk_id": f.hit.chunk_id, "score": round(f.hit.score, 4), "file_id": f.file_id,
             "page": f.hit.page} for f in found]
