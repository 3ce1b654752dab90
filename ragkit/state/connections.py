"""One DBAPI connection per thread to a SQLite state database, for code written against ``sqlite3``.

Repositories use :meth:`ragkit.state.StateDB.read` / :meth:`~ragkit.state.StateDB.write`, which
work on SQLite and PostgreSQL alike; this module serves stores not moved onto them yet
(:meth:`ragkit.state.StateDB.connections`, SQLite only).

A ``sqlite3.Connection`` must not be used by two threads at once, and the stores are shared by a
server's request threads, its ingest worker and the CLI's thread pools, so each thread gets its
own connection, opened on first use through the state database's SQLAlchemy engine (which sets
WAL, ``synchronous=NORMAL``, foreign keys and the 60 s busy timeout: see
:mod:`ragkit.state.database`). The connection is the plain ``sqlite3`` object in autocommit mode
(``isolation_level=None``): the stores take their own ``BEGIN IMMEDIATE`` write transactions.

**Closing.** :meth:`ThreadConnections.close` closes only the *calling* thread's connection.
Connections of other threads are never closed from outside: a thread may be in the middle of a
query or a transaction on it (an ingest committing while a request deletes its vector store), and
closing it there is what produced "Cannot operate on a closed database". Every other connection
closes itself once nothing references it any more (:class:`StateConnection`): after its thread
ended (the thread-local slot is dropped) or the store was dropped, and never while code still
holds the bare connection. A ``sqlite3`` connection sits in a reference cycle (its statement
cache), so that happens at the next garbage collection rather than instantly; the database is
consistent whenever it does (WAL; an unfinished transaction is rolled back on close). The
alternatives were worse: closing every thread's connection is the crash above, and reference
counting the users would need every caller of ``.db`` to say when it is done.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from typing import Any, Callable, Protocol

RowFactory = Callable[[sqlite3.Cursor, tuple], Any]


class ConnectionSource(Protocol):
    """Where connections come from (:class:`ragkit.state.database.StateDB`)."""

    def own_connection(self) -> sqlite3.Connection: ...


class StateConnection(sqlite3.Connection):
    """A ``sqlite3`` connection that closes itself once unreferenced (Python 3.13 warns about a
    connection collected unclosed; this one is closed exactly when nobody can use it any more)."""

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter exit the module may be half gone
            pass


class ThreadConnections:
    """``.db`` is this thread's connection, opened on first use; ``close()`` closes this thread's only."""

    def __init__(self, state: ConnectionSource, *, row_factory: RowFactory | None = None) -> None:
        self.state = state
        self._row_factory = row_factory
        self._local = threading.local()
        self._open: weakref.WeakSet[sqlite3.Connection] = weakref.WeakSet()

    @property
    def db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self.state.own_connection()
            if self._row_factory is not None:
                db.row_factory = self._row_factory
            self._open.add(db)
        return db

    def __len__(self) -> int:
        """How many connections are open (one per live thread that used the store)."""
        return len(self._open)

    def close(self) -> None:
        """Close the calling thread's connection (reopened if this thread uses the store again).

        Other threads keep theirs until they end: see the module docstring for why."""
        db = self._local.__dict__.pop("db", None)
        if db is not None:
            self._open.discard(db)
            db.close()
