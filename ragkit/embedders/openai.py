"""Embeddings from the OpenAI API or any OpenAI-compatible server (``base_url``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from ragkit.embedders.base import l2_normalise
from ragkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.config import Settings


class OpenAIEmbedder:
    """``client.embeddings.create`` in batches; vectors re-normalised so cosine == dot product."""

    #: OpenAI's embedding models read 8,191 tokens; longer inputs are rejected, not truncated
    max_tokens = 8191

    def __init__(self, client, model: str, batch_size: int = 128) -> None:
        self.truncated = 0
        self._client = client
        self.model = model
        self.batch_size = batch_size
        self.id = f"openai:{model}"
        self._dimension: int | None = None

    @classmethod
    def from_settings(cls, settings: "Settings") -> "OpenAIEmbedder":
        from ragkit.llm import make_client

        if settings.api_key is None and settings.base_url is None:
            raise ConfigError(
                "embedder=openai needs an API key (OPENAI_API_KEY or RAGKIT_API_KEY) or a base_url "
                "(RAGKIT_BASE_URL) for an OpenAI-compatible server"
            )
        return cls(make_client(settings), settings.embedding_model)

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self.embed(["dimension probe"]).shape[1])
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from ragkit.llm import translate_api_error

        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                response = self._client.embeddings.create(model=self.model, input=batch)
            except Exception as exc:  # noqa: BLE001 - translated into a user-facing error or re-raised
                raise translate_api_error(exc, what=f"embedding model {self.model!r}") from exc
            rows.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        if not rows:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        vectors = l2_normalise(np.asarray(rows, dtype=np.float32))
        self._dimension = vectors.shape[1]
        return vectors
