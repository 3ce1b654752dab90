"""The second-stage seam: a Reranker rescores the fused candidates before the top k are cut.

Retrieval hands ``rerank(query, candidates)`` the fused top candidates (text and fused score)
and orders them by the scores it returns. Backends, one module each, are chosen by
:func:`ragkit.rerankers.factory.make_reranker` from the ``reranker`` setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence


@dataclass(frozen=True)
class Candidate:
    chunk_id: str
    #: what retrieval matched: the chunk's context line and text
    text: str
    #: the fused first-stage score, min-max normalised over the candidates (0..1)
    score: float


class Reranker(Protocol):
    name: str

    def rerank(self, query: str, candidates: Sequence[Candidate]) -> dict[str, float]:
        """New scores by chunk id (higher is better) for the given candidates."""
        ...


class NoReranker:
    """Keeps the fused order: the scores it returns are the fused scores."""

    name = "none"

    def rerank(self, query: str, candidates: Sequence[Candidate]) -> dict[str, float]:
        return {c.chunk_id: c.score for c in candidates}


def blend(candidates: Sequence[Candidate], second: Sequence[float], weight: float) -> dict[str, float]:
    """``(1 - weight) * first stage + weight * second stage``, the second min-max normalised, so a
    reranker refines the fused ranking rather than replacing it."""
    if not candidates:
        return {}
    low, high = min(second), max(second)
    span = (high - low) or 1.0
    return {c.chunk_id: (1 - weight) * c.score + weight * (s - low) / span for c, s in zip(candidates, second)}
