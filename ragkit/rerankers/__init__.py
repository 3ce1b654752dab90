"""Second-stage rerankers behind :class:`ragkit.rerankers.base.Reranker`: one module per backend."""

from ragkit.rerankers.base import Candidate, NoReranker, Reranker
from ragkit.rerankers.factory import make_reranker

__all__ = ["Candidate", "NoReranker", "Reranker", "make_reranker"]
