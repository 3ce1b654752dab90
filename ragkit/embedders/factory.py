"""Settings -> embedder. Backends import lazily: onnxruntime or openai load only if used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragkit.embedders.base import Embedder

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.config import Settings


def make_embedder(settings: "Settings") -> Embedder:
    """The embedder the settings ask for."""
    if settings.embedder == "minilm-onnx":
        from ragkit.embedders.minilm_onnx import MiniLMOnnxEmbedder

        return MiniLMOnnxEmbedder(batch_size=settings.embed_batch_size)
    if settings.embedder == "bge-onnx":
        from ragkit.embedders.bge_onnx import BgeOnnxEmbedder

        return BgeOnnxEmbedder()  # one text per run: see the module on batching and int8
    if settings.embedder == "openai":
        from ragkit.embedders.openai import OpenAIEmbedder

        return OpenAIEmbedder.from_settings(settings)
    raise AssertionError(settings.embedder)  # pydantic already restricted the value
