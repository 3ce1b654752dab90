"""Conversations: threads on disk, follow-ups made standalone, retrieval as tools.

* :mod:`.store`: threads and messages in the home's state database (``<kb.home>/ragkit.sqlite``);
* :mod:`.rewrite` (with :mod:`.phrases`): offline, deterministic follow-up rewriting;
* :mod:`.condense`: the same with the chat model (prompt ``condense_v1``);
* :mod:`.session`: :class:`ChatSession`, which ties them to a knowledge base;
* :mod:`.tools`: the agent loop, where a chat model calls ``search_documents`` and ``read_passage``.
"""

from ragkit.conversations.rewrite import Context, Rewrite, rewrite
from ragkit.conversations.session import ChatSession, Turn
from ragkit.conversations.store import Message, Thread, ThreadStore

__all__ = ["ChatSession", "Context", "Message", "Rewrite", "Thread", "ThreadStore", "Turn", "rewrite"]
