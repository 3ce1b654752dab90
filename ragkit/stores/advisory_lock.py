"""A collection's write lock as a PostgreSQL advisory lock, for replicas on several hosts.

When the state database is a PostgreSQL server, ``ragkit serve`` replicas on different machines
share a collection's manifest, vectors and lexical index, and a file lock in one replica's home
excludes nobody on another host. A session-level advisory lock (``pg_advisory_lock``) in the state
database does: it is held by one database session, across statements and transactions, until it is
unlocked or the session ends -- so a writer killed with ``kill -9`` loses it as soon as the server
notices the connection is gone. The session sets TCP keepalives (:data:`KEEPALIVE`), so a host
that vanished without closing its connection releases the lock in about half a minute rather than
after the operating system's two-hour default.

The key is 64 bits of a stable hash of the lock's name (``ragkit-ingest:<collection>``), in the
state database's own advisory-lock space, so another database on the same server is never held
up, and the state layer's write lock (constants of its own) never collides with it.

Like the file lock, the lock is re-entrant within a thread (a removal pass that ingests takes it
again), and threads of one process queue on a thread lock before asking the server: two sessions
of one process would otherwise exclude each other only by luck of which asks first.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from ragkit.state import StateDB

#: server-side keepalive of the session holding the lock: idle seconds, probe interval, probes
KEEPALIVE = (10, 5, 3)

_thread_locks: dict[int, threading.RLock] = {}
_guard = threading.Lock()
_held = threading.local()


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key from ``name``, the same in every process and host."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _thread_lock(key: int) -> threading.RLock:
    with _guard:
        return _thread_locks.setdefault(key, threading.RLock())


class AdvisoryLock:
    """An exclusive lock named ``name`` in the PostgreSQL state database ``state``."""

    def __init__(self, state: StateDB, name: str) -> None:
        self.state = state
        self.name = name
        self.key = lock_key(name)

    def __repr__(self) -> str:
        return f"AdvisoryLock({self.name!r}, {self.state.name!r})"

    def retire(self) -> None:
        """An advisory lock leaves nothing behind in the database."""

    @contextmanager
    def hold(self) -> Iterator[None]:
        held: set[int] = _held.__dict__.setdefault("keys", set())
        if self.key in held:  # re-entered by the thread that holds it
            yield
            return
        with _thread_lock(self.key), self.state.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            idle, interval, count = KEEPALIVE
            connection.execute(text("SELECT set_config('tcp_keepalives_idle', :idle, false), "
                                    "set_config('tcp_keepalives_interval', :interval, false), "
                                    "set_config('tcp_keepalives_count', :count, false)"),
                               {"idle": str(idle), "interval": str(interval), "count": str(count)})
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": self.key})
            held.add(self.key)
            try:
                yield
            finally:
                held.discard(self.key)
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})

    def is_held(self) -> bool:
        """Whether any session holds the lock now, read from ``pg_locks`` (trying the lock
        instead would hold it for a moment and make a writer wait)."""
        if self.key in _held.__dict__.get("keys", set()):
            return True
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        found = self.state.one(
            "SELECT 1 AS x FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = CAST(? AS oid) AND objid = CAST(? AS oid) AND objsubid = 1",
            (unsigned >> 32, unsigned & 0xFFFFFFFF))
        return found is not None
