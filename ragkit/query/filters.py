"""Filters as the two sides of retrieval need them: a Chroma ``where`` clause and a BM25 mask.

Both are computed from the same :class:`~ragkit.models.Filters` and the lexical index's per-chunk
fields, so the dense and the lexical side always agree on what is allowed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ragkit.models import Filters, source_matches
from ragkit.stores.lexical import LexicalIndex


def allowed_sources(filters: Filters, index: LexicalIndex) -> set[str]:
    return {s for s in set(index.sources.tolist()) if source_matches(s, filters.sources)}


def lexical_mask(filters: Filters, index: LexicalIndex) -> np.ndarray | None:
    """A boolean mask over the index's chunks, or None when nothing is filtered."""
    if not filters.active:
        return None
    mask = np.ones(len(index), dtype=bool)
    if filters.sources:
        allowed = allowed_sources(filters, index)
        mask &= np.fromiter((s in allowed for s in index.sources), dtype=bool, count=len(mask))
    if filters.paths is not None:
        paths = set(filters.paths)
        mask &= np.fromiter((p in paths for p in index.paths), dtype=bool, count=len(mask))
    if filters.file_types:
        mask &= np.isin(index.file_types, list(filters.file_types))
    if filters.page_min is not None:
        mask &= index.pages >= filters.page_min
    if filters.page_max is not None:
        mask &= (index.pages <= filters.page_max) & (index.pages >= 0)
    return mask


def chroma_where(filters: Filters, index: LexicalIndex) -> dict[str, Any] | None:
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
