"""Score fusion and diversification as pure functions over ``{chunk_id: score}`` maps.

* :func:`convex`: min-max normalise each side per query, then ``alpha * dense + (1 - alpha) * bm25``.
* :func:`adaptive_alpha`: the dense weight for one query, from how decisive each side's scores are.
* :func:`rrf`: reciprocal rank fusion, ``sum(1 / (rrf_k + rank))`` over ranked lists.
* :func:`mmr`: maximal marginal relevance, trading relevance against redundancy.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np


def minmax(scores: Mapping[str, float]) -> dict[str, float]:
    """Scale to [0, 1] per query; a constant list maps to 1 (if positive) or 0."""
    if not scores:
        return {}
    values = np.fromiter(scores.values(), dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return {i: (1.0 if high > 0 else 0.0) for i in scores}
    return {i: (v - low) / (high - low) for i, v in scores.items()}


def convex(dense: Mapping[str, float], lexical: Mapping[str, float], ids: Sequence[str], alpha: float) -> dict[str, float]:
    """Convex combination of per-query min-max normalised scores over ``ids`` (missing = 0)."""
    d = minmax({i: dense.get(i, 0.0) for i in ids})
    b = minmax({i: lexical.get(i, 0.0) for i in ids})
    return {i: alpha * d[i] + (1 - alpha) * b[i] for i in ids}


#: how far a query's own evidence moves alpha away from the configured one (0: fixed alpha)
ADAPTIVE_SHRINK = 0.5


def confidence(scores: Sequence[float], top: int = 10) -> float:
    """How decisive a ranked list is: the best score's lead over the next ones, in units of the
    list's spread. A flat list (long, instruction-laden questions make BM25 flat) scores near 0;
    a list with a clear winner scores high. Scale-free, so BM25 and cosine can be compared."""
    values = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if values.size < 3:
        return 0.0
    spread = float(values.std())
    if spread < 1e-12:
        return 0.0
    return max(0.0, float((values[0] - values[1:top].mean()) / spread))


def adaptive_alpha(dense: Sequence[float], lexical: Sequence[float], alpha: float,
                   shrink: float = ADAPTIVE_SHRINK) -> float:
    """The dense side's weight for this query: the configured ``alpha`` moved towards the share
    of confidence the dense side has. A weak side cannot drag the fusion below the strong one as
    far as a fixed weight lets it."""
    c_dense, c_lexical = confidence(dense), confidence(lexical)
    if c_dense + c_lexical <= 0:
        return alpha
    return (1 - shrink) * alpha + shrink * c_dense / (c_dense + c_lexical)


def with_document_evidence(chunk: Mapping[str, float], document: Mapping[str, float], weight: float) -> dict[str, float]:
    """Mix each chunk's fused score with its document's lexical score, both min-max normalised
    over the candidates (so the weight means the same after convex fusion and after RRF)."""
    if weight <= 0 or not document:
        return dict(chunk)
    c, d = minmax(chunk), minmax(document)
    return {i: (1 - weight) * c[i] + weight * d.get(i, 0.0) for i in chunk}


def rrf(ranked_lists: Sequence[Sequence[str]], k: int = 60) -> dict[str, float]:
    fused: dict[str, float] = {}
    for ranked in ranked_lists:
        for rank, chunk_id in enumerate(ranked, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return fused


def rank(scores: Mapping[str, float]) -> list[str]:
    """Ids by descending score, ties broken by id so results are deterministic."""
    return sorted(scores, key=lambda i: (-scores[i], i))


def mmr(ranked: Sequence[str], relevance: Mapping[str, float], similarity: Callable[[str, str], float],
        k: int, lam: float) -> list[str]:
    """Greedy MMR: each pick maximises ``lam * relevance - (1 - lam) * max similarity to picks``.

    ``relevance`` is min-max normalised here so ``lam`` means the same for every fusion method."""
    rel = minmax({i: relevance[i] for i in ranked})
    chosen: list[str] = []
    remaining = list(ranked)
    while remaining and len(chosen) < k:
        def gain(i: str) -> float:
            redundancy = max((similarity(i, j) for j in chosen), default=0.0)
            return lam * rel[i] - (1 - lam) * redundancy
        best = max(remaining, key=gain)
        chosen.append(best)
        remaining.remove(best)
    return chosen
