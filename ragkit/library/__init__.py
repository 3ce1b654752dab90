"""The library of vector stores: OpenAI's vector-store semantics over ragkit's knowledge bases.

:class:`Library` holds what serving stores takes (state database, knowledge bases, the ingest
worker, the answer cache); :mod:`.retrieval`, :mod:`.answering`, :mod:`.filters` and
:mod:`.history` are what a surface calls. Nothing here knows about HTTP.
"""

from ragkit.library.engine import AnswerCache, Library

__all__ = ["AnswerCache", "Library"]
