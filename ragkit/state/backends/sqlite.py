"""The SQLite backend: the state database is one file, ``<home>/ragkit.sqlite`` by default.

Connections are plain ``sqlite3`` connections with the semantics the repositories were written
for: the driver's own transaction handling off (``isolation_level=None``), WAL so readers run
beside the one writer, ``synchronous=NORMAL``, foreign keys on (deleting a conversation thread
cascades to its messages) and a 60 s busy timeout so writers from several processes queue
instead of failing. A read runs each statement on its own (autocommit); a write transaction
begins with ``BEGIN IMMEDIATE``, which takes the file's write lock at once: two writers queue on
the busy timeout instead of deadlocking when both try to upgrade a read lock, and a
read-then-write inside the transaction sees no other writer's change.

The pool keeps a few connections (opening one sets the pragmas) and opens more when threads need
them; a connection carries no per-store setting, so any thread may use any of them in turn.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import QueuePool

from ragkit.state import migrate
from ragkit.state.connections import StateConnection
from ragkit.state.dialect import SQLITE, Dialect

BUSY_TIMEOUT_S = 60
PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON")
#: set on a connection for reads: its (implicit) transaction begins without taking the write lock
READ_OPTION = "ragkit_read"


class SqliteBackend:
    """A state database in a SQLite file."""

    dialect = Dialect(SQLITE)

    def __init__(self, url: URL) -> None:
        self.url = url
        self.path: Path | None = Path(str(url.database))
        self.name = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def engine(self) -> Engine:
        engine = create_engine(self.url, poolclass=QueuePool, pool_size=8, max_overflow=-1, connect_args={
            "timeout": BUSY_TIMEOUT_S, "isolation_level": None, "check_same_thread": False,
            "factory": StateConnection})

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
            for pragma in PRAGMAS:
                _pragma(dbapi_connection, pragma)

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            if not connection.get_execution_options().get(READ_OPTION):
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def begin_read(self, connection: Connection) -> None:
        connection.execution_options(**{READ_OPTION: True})

    def begin_write(self, connection: Connection) -> None:
        """Nothing to do: the transaction began with ``BEGIN IMMEDIATE`` (the engine's ``begin``)."""

    @contextmanager
    def migration_lock(self, engine: Engine) -> Iterator[None]:
        assert self.path is not None
        with migrate.migration_lock(self.path):
            yield


def _pragma(connection: sqlite3.Connection, pragma: str) -> None:
    """Set a pragma, waiting out another process's lock. Switching a fresh file to WAL needs an
    exclusive lock for which SQLite does not call the busy handler: two processes opening a new
    home at once saw "database is locked" here, so the switch is retried for the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute(f"PRAGMA {pragma}")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
