"""Embedders: one small module per backend, all behind :class:`ragkit.embedders.base.Embedder`."""

from ragkit.embedders.base import Embedder
from ragkit.embedders.factory import make_embedder

__all__ = ["Embedder", "make_embedder"]
