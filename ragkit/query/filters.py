"""Filters as the two sides of retrieval need them: a Chroma ``where`` clause and a lexical filter.

Both are computed from the same :class:`~ragkit.models.Filters` and the lexical index's distinct
source values, so the dense and the lexical side always agree on what is allowed. Source
patterns (globs over the relative path or the file name, :func:`~ragkit.models.source_matches`)
are resolved to the exact source values they match, once per snapshot and pattern set (the
last few are kept), never by looking at every chunk.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ragkit.models import Filters, source_matches
from ragkit.stores.lexical import LexicalReader
from ragkit.stores.lexical.base import ChunkFilter


def allowed_sources(filters: Filters, index: LexicalReader) -> frozenset[str]:
    """The index's source values that ``filters.sources`` match."""
    values = index.source_values()
    patterns = tuple(filters.sources)
    key = (id(values), patterns)
    with _LOCK:
        cached = _RESOLVED.get(key)
    if cached is not None and cached[0] is values:
        return cached[1]
    allowed = frozenset(value for value in values if source_matches(value, patterns))
    with _LOCK:
        if len(_RESOLVED) >= _KEPT:
            del _RESOLVED[next(iter(_RESOLVED))]
        _RESOLVED[key] = (values, allowed)
    return allowed


#: (id of a snapshot's source list, patterns) -> (that list, the sources allowed): a snapshot
#: returns the same list object every time, and the entry keeps it alive so the id stays its own
_RESOLVED: dict[tuple[int, tuple[str, ...]], tuple[Sequence[str], frozenset[str]]] = {}
_LOCK = threading.Lock()
_KEPT = 4


def chunk_filter(filters: Filters, index: LexicalReader) -> ChunkFilter | None:
    """What the lexical side passes to the index (exact values), or None when nothing is filtered."""
    if not filters.active:
        return None
    return ChunkFilter(
        sources=allowed_sources(filters, index) if filters.sources else None,
        paths=frozenset(filters.paths) if filters.paths is not None else None,
        file_types=frozenset(filters.file_types) if filters.file_types else None,
        page_min=filters.page_min, page_max=filters.page_max)


def lexical_mask(filters: Filters, index: LexicalReader) -> np.ndarray | None:
    """A boolean mask over the index's chunk positions, or None when nothing is filtered: for the
    dense view only (document-level evidence), which reads every chunk's fields."""
    where = chunk_filter(filters, index)
    return None if where is None else where.mask(index.sources, index.paths, index.file_types, index.pages)


def chroma_where(filters: Filters, index: LexicalReader) -> dict[str, Any] | None:
    """The same restriction as a Chroma metadata filter."""
    clauses: list[dict[str, Any]] = []
    if filters.sources:
        allowed = sorted(allowed_sources(filters, index))
        clauses.append({"source": {"$in": allowed or ["\x00no-match"]}})
    if filters.paths is not None:
        clauses.append({"path": {"$in": sorted(filters.paths) or ["\x00no-match"]}})
    if filters.file_types:
        clauses.append({"file_type": {"$in": list(filters.file_types)}})
    if filters.page_min is not None:
        clauses.append({"page": {"$gte": filters.page_min}})
    if filters.page_max is not None:
        clauses.append({"page": {"$lte": filters.page_max}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


#: above this many allowed paths the dense side filters after the search instead of inside it:
#: Chroma's ``$in`` costs per listed value (10,000 paths: ~265 ms of a 300 ms query at 137k
#: chunks, docs/benchmarks-scale.md), while an unfiltered search of a few hundred candidates costs
#: a few milliseconds
POSTFILTER_MIN_PATHS = 200
#: how many unfiltered candidates per wanted one the dense side reads first; it reads 4x more
#: while too few pass, up to POSTFILTER_MAX_FETCH, then puts the filter inside Chroma
POSTFILTER_FACTOR = 10
POSTFILTER_MAX_FETCH = 5000
#: paths per Chroma ``$in``: its SQLite refuses a statement with more than 32,766 variables, so a
#: long list is searched in parts and the parts' best hits merged (the same hits as one search)
CHROMA_IN_BATCH = 5000


def chroma_where_parts(filters: Filters, index: LexicalReader) -> list[dict[str, Any] | None]:
    """:func:`chroma_where` split into clauses of at most :data:`CHROMA_IN_BATCH` paths each."""
    if filters.paths is None or len(filters.paths) <= CHROMA_IN_BATCH:
        return [chroma_where(filters, index)]
    paths = sorted(filters.paths)
    return [chroma_where(replace(filters, paths=tuple(paths[at:at + CHROMA_IN_BATCH])), index)
            for at in range(0, len(paths), CHROMA_IN_BATCH)]


def filter_after_search(filters: Filters) -> bool:
    """Should the dense side search unfiltered and keep the allowed hits (many allowed paths)?"""
    return filters.paths is not None and len(filters.paths) > POSTFILTER_MIN_PATHS


def metadata_allowed(where: ChunkFilter, metadata: dict[str, Any] | None) -> bool:
    """Does a chunk with this stored metadata pass ``where``? (page -1: the chunk has none)."""
    meta = metadata or {}
    page = meta.get("page")
    return where.allows(meta.get("source", ""), meta.get("path", ""), meta.get("file_type", ""),
                        int(page) if page is not None else -1)

