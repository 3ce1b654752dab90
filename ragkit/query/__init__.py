"""Stage two's retrieval: the retriever chain, fusion functions, filters and the reranking seam."""

from ragkit.query.retrieve import Retriever

__all__ = ["Retriever"]
