"""Conversation threads on disk, in the home's state database (``<kb.home>/ragkit.sqlite``).

A thread is a conversation with one collection; its messages are the user's questions and the
answers, each answer with its citations and the sources it was given (JSON), and each message
with the standalone query that was actually searched. Keeping the standalone query is what lets a
resumed thread rewrite its next follow-up exactly as an uninterrupted one would.

Threads are shared by surfaces (the CLI, a future server) and so by OS threads: like the ingest
manifest, every OS thread gets its own SQLite connection, and WAL mode lets readers run while one
writer commits. ``owner`` is the name of the API key that created the thread (None locally). The
tables are created by the state layer's migrations (:mod:`ragkit.state`).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from ragkit.errors import UsageError
from ragkit.state import FILENAME as _STATE_FILE
from ragkit.state import StateDB, open_database, open_home

#: the file of a home that holds its threads: the home's state database
FILENAME = _STATE_FILE
Role = Literal["user", "assistant"]

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


@dataclass(frozen=True)
class Message:
    """One stored message. ``citations`` and ``sources`` are the answer's, as plain dicts
    (:meth:`ragkit.models.Citation.to_dict`, :meth:`ragkit.models.SearchHit.to_dict`)."""

    id: int
    thread_id: str
    role: Role
    content: str
    created_at: float
    citations: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    standalone: str | None = None


def title_from(text: str, limit: int = TITLE_CHARS) -> str:
    """A thread title from its first question: one line, cut at a word boundary."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line or "untitled"
    cut = line.rfind(" ", 0, limit - 1)
    return line[: cut if cut > limit // 2 else limit - 1].rstrip() + "…"


class ThreadStore:
    """Create, list, read and delete threads; append and read their messages."""

    def __init__(self, target: StateDB | str | Path) -> None:
        """``target`` is a state database, or the file of one (a scratch store of its own)."""
        self.state = target if isinstance(target, StateDB) else open_database(Path(target))
        self.path = self.state.path
        self._connections = self.state.connections()

    @classmethod
    def for_home(cls, home: str | Path, database_url: str | None = None) -> "ThreadStore":
        """The store of a knowledge base directory (in its state database)."""
        return cls(open_home(Path(home), database_url))

    @property
    def _db(self) -> sqlite3.Connection:
        """This OS thread's connection, opened on first use."""
        return self._connections.db

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
        thread_id = secrets.token_hex(6)
        self._db.execute(
            "INSERT INTO threads(id, title, collection, owner, created_at, updated_at) VALUES(?,?,?,?,?,?)",
            (thread_id, title_from(title), collection, owner, now, now))
        return Thread(thread_id, title_from(title), collection, owner, now, now, 0)

    def get_thread(self, thread_id: str) -> Thread | None:
        row = self._db.execute(_THREAD_SELECT + " WHERE t.id=? GROUP BY t.id", (thread_id,)).fetchone()
        return Thread(*row) if row else None

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
        where, params = [], []
        if collection is not None:
            where.append("t.collection=?")
            params.append(collection)
        if owner is not None:
            where.append("t.owner=?")
            params.append(owner)
        sql = _THREAD_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += " GROUP BY t.id ORDER BY t.updated_at DESC, t.created_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Thread(*row) for row in self._db.execute(sql, params).fetchall()]

    def delete_thread(self, thread_id: str) -> bool:
        """Delete a thread and its messages; False when there was no such thread."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM messages WHERE thread_id=?", (thread_id,))
            deleted = db.execute("DELETE FROM threads WHERE id=?", (thread_id,)).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return deleted > 0

    # -- messages ------------------------------------------------------------------------
    def append_message(self, thread_id: str, role: Role, content: str, *,
                       citations: Sequence[dict[str, Any]] = (), sources: Sequence[dict[str, Any]] = (),
                       standalone: str | None = None) -> Message:
        if role not in ("user", "assistant"):
            raise UsageError(f"role must be 'user' or 'assistant', not {role!r}")
        now = time.time()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("UPDATE threads SET updated_at=? WHERE id=?", (now, thread_id)).rowcount == 0:
                raise UsageError(f"no conversation thread {thread_id!r}")
            cursor = db.execute(
                "INSERT INTO messages(thread_id, role, content, created_at, citations, sources, standalone) "
                "VALUES(?,?,?,?,?,?,?)",
                (thread_id, role, content, now, json.dumps(list(citations), ensure_ascii=False),
                 json.dumps(list(sources), ensure_ascii=False), standalone))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Message(int(cursor.lastrowid or 0), thread_id, role, content, now, list(citations), list(sources),
                       standalone)

    def messages(self, thread_id: str, limit: int | None = None) -> list[Message]:
        """The thread's messages in the order they were written (the last ``limit`` only, if given)."""
        sql = ("SELECT id, thread_id, role, content, created_at, citations, sources, standalone "
               "FROM messages WHERE thread_id=? ORDER BY id DESC")
        params: list[Any] = [thread_id]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = self._db.execute(sql, params).fetchall()
        return [Message(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]), r[7]) for r in reversed(rows)]


_THREAD_SELECT = ("SELECT t.id, t.title, t.collection, t.owner, t.created_at, t.updated_at, COUNT(m.id) "
                  "FROM threads t LEFT JOIN messages m ON m.thread_id = t.id")
