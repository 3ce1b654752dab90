"""ragkit: point it at a folder of documents, get answers with citations you can check.

The public entry point is :class:`ragkit.api.KnowledgeBase`. It is imported lazily so that
``import ragkit`` (and the CLI's ``--help``) stays fast; Chroma and onnxruntime load only when
a knowledge base is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["KnowledgeBase", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.api import KnowledgeBase


def __getattr__(name: str):
    if name == "KnowledgeBase":
        from ragkit.api import KnowledgeBase

        return KnowledgeBase
    raise AttributeError(f"module 'ragkit' has no attribute {name!r}")
