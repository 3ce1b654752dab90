"""The second-stage seam: a Reranker rescores the fused candidates before the top k are cut.

Retrieval calls ``reranker.rerank(query, candidates)`` with the fused top candidates (text and
fused score) and keeps the order it returns. The default is :class:`NoReranker`, which changes
nothing; backends are chosen by :func:`make_reranker` from the ``reranker`` setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.config import Settings


@dataclass(frozen=True)
class Candidate:
    chunk_id: str
    text: str
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


def make_reranker(settings: "Settings", embedder=None) -> Reranker:
    """The configured reranker; ``embedder`` is the collection's, for rerankers that embed."""
    if settings.reranker == "none":
        return NoReranker()
    raise AssertionError(settings.reranker)  # pydantic already restricted the value
