"""Chat threads: a view of the conversation model in the home's state database (``<kb.home>/ragkit.sqlite``).

A thread is a conversation with one collection; its messages are the user's questions and the
answers, each answer with its citations and the sources it was given, and each message with the
standalone query that was actually searched. Keeping the standalone query is what lets a resumed
thread rewrite its next follow-up exactly as an uninterrupted one would.

Threads are conversations of kind ``chat`` and messages their items
(:mod:`ragkit.state.conversations`), stored like the server's Assistants threads and Responses
conversations: :class:`Thread` and :class:`Message` are this surface's view of them. They are
shared by surfaces (the CLI, the page) and so by OS threads: every OS thread gets its own
connection, and WAL mode lets readers run while one writer commits. ``owner`` is the name of the
API key that created the thread (None locally).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from ragkit.errors import UsageError
from ragkit.state import FILENAME as _STATE_FILE
from ragkit.state import StateDB, open_home
from ragkit.state import conversations
from ragkit.state.conversation_model import Conversation, Item, new_item_id
from ragkit.state.tables import Tables

#: the file of a home that holds its threads: the home's state database
FILENAME = _STATE_FILE
Role = Literal["user", "assistant"]
KIND = "chat"

#: longest title kept, in characters (the first question, cut at a word)
TITLE_CHARS = 80


@dataclass(frozen=True)
class Thread:
    id: str
    title: str
    collection: str
    owner: str | None
    created_at: float
    updated_at: float
    messages: int = 0

    @classmethod
    def of(cls, conversation: Conversation) -> "Thread":
        return cls(conversation.id, conversation.title or "", conversation.collection or "", conversation.owner,
                   conversation.created_at, conversation.updated_at, conversation.items)


@dataclass(frozen=True)
class Message:
    """One stored message. ``citations`` and ``sources`` are the answer's, as plain dicts
    (:meth:`ragkit.models.Citation.to_dict`, :meth:`ragkit.models.SearchHit.to_dict`).
    ``id`` is the item's place in the store (its ``seq``)."""

    id: int
    thread_id: str
    role: Role
    content: str
    created_at: float
    citations: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    standalone: str | None = None

    @classmethod
    def of(cls, item: Item) -> "Message":
        """Any surface's message item as a turn of a conversation."""
        return cls(item.seq, item.conversation_id, item.role, item.content,  # type: ignore[arg-type]
                   item.created_at, item.citations, item.sources, item.standalone)


def title_from(text: str, limit: int = TITLE_CHARS) -> str:
    """A thread title from its first question: one line, cut at a word boundary."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line or "untitled"
    cut = line.rfind(" ", 0, limit - 1)
    return line[: cut if cut > limit // 2 else limit - 1].rstrip() + "…"


class ThreadStore(Tables):
    """Create, list, read and delete threads; append and read their messages."""

    def __init__(self, target: StateDB | str | Path) -> None:
        """``target`` is a state database, or the file of one (a scratch store of its own)."""
        super().__init__(target if isinstance(target, StateDB) else Path(target))

    @classmethod
    def for_home(cls, home: str | Path, database_url: str | None = None) -> "ThreadStore":
        """The store of a knowledge base directory (in its state database)."""
        return cls(open_home(Path(home), database_url))

    def close(self) -> None:
        """Close this OS thread's connection; threads still using the store keep theirs."""
        self._connections.close()

    def __enter__(self) -> "ThreadStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- threads -------------------------------------------------------------------------
    def create_thread(self, title: str, collection: str, owner: str | None = None) -> Thread:
        now = time.time()
        made = Conversation(id=secrets.token_hex(6), kind=KIND, owner=owner, collection=collection,
                            title=title_from(title), created_at=now, updated_at=now)
        return Thread.of(conversations.create(self, made))

    def get_thread(self, thread_id: str) -> Thread | None:
        found = conversations.get(self, thread_id, KIND)
        return Thread.of(found) if found else None

    def find_thread(self, reference: str, collection: str | None = None) -> Thread:
        """A thread by its id or an unambiguous id prefix (what a person types)."""
        found = self.get_thread(reference)
        if found is not None:
            return found
        matches = [t for t in self.list_threads(collection) if t.id.startswith(reference)] if reference else []
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UsageError(f"no conversation thread {reference!r}")
        raise UsageError(f"{reference!r} matches {len(matches)} threads: give more of the id")

    def list_threads(self, collection: str | None = None, owner: str | None = None,
                     limit: int | None = None) -> list[Thread]:
        """Threads, most recently used first; optionally of one collection and/or one owner."""
        return [Thread.of(c) for c in conversations.listed(self, KIND, collection=collection, owner=owner,
                                                           limit=limit)]

    def delete_thread(self, thread_id: str) -> bool:
        """Delete a thread and its messages; False when there was no such thread."""
        return conversations.delete(self, thread_id, KIND)

    # -- messages ------------------------------------------------------------------------
    def append_message(self, thread_id: str, role: Role, content: str, *,
                       citations: Sequence[dict[str, Any]] = (), sources: Sequence[dict[str, Any]] = (),
                       standalone: str | None = None) -> Message:
        if role not in ("user", "assistant"):
            raise UsageError(f"role must be 'user' or 'assistant', not {role!r}")
        item = Item(conversation_id=thread_id, id=new_item_id(), role=role, content=content,
                    citations=list(citations), sources=list(sources), standalone=standalone, created_at=time.time())
        try:
            stored, = conversations.append(self, [item], KIND)
        except conversations.MissingConversation:
            raise UsageError(f"no conversation thread {thread_id!r}") from None
        return Message.of(stored)

    def messages(self, thread_id: str, limit: int | None = None) -> list[Message]:
        """The thread's messages in the order they were written (the last ``limit`` only, if given)."""
        return [Message.of(item) for item in self.items(thread_id, limit)]

    def items(self, thread_id: str, limit: int | None = None) -> list[Item]:
        """The thread's items in the model's form (what :func:`ragkit.conversations.session.history_pairs` reads)."""
        return conversations.items(self, thread_id, limit=limit)
