"""The embedder Protocol every backend implements."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    ``id`` names the vector space (model and anything that changes vectors). A collection
    records the id of the embedder that built it, and the embedding cache is keyed by it, so two
    embedders with different ids never mix vectors.

    ``max_tokens`` is how many of its own tokens the model reads before it silently drops the
    rest; ``truncated`` counts texts that were longer since the embedder was made (ingest
    reports the difference over a run).
    """

    id: str
    max_tokens: int
    truncated: int

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape ``(len(texts), dimension)``, rows L2-normalised."""
        ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


def embed_queries(embedder: Embedder, queries: Sequence[str]) -> np.ndarray:
    """Embed search queries. Asymmetric models (bge) expose ``embed_query``, which adds the
    instruction they were trained with; symmetric ones embed queries like passages."""
    embed_query = getattr(embedder, "embed_query", None)
    return embed_query(queries) if callable(embed_query) else embedder.embed(queries)
