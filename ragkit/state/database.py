"""The state database of a home: one SQLAlchemy engine per database file, migrated on open.

Everything ragkit keeps besides vectors and the BM25 index -- the ingest manifest, conversation
threads, the server's files, vector stores, keys, Assistants/Responses objects, uploads and
feedback -- lives in one database, ``<home>/ragkit.sqlite`` unless ``database_url`` names
another (:mod:`ragkit.state.urls`). One file means one schema history (:mod:`ragkit.state.migrate`),
one backup, and no table that two modules create in two files with two meanings.

The engine hands out plain ``sqlite3`` connections with the semantics the stores were written
for: autocommit (``isolation_level=None``, the stores issue ``BEGIN IMMEDIATE`` themselves), WAL
so readers run beside the one writer, ``synchronous=NORMAL``, foreign keys on (deleting a
conversation thread cascades to its messages) and a 60 s busy timeout so writers from several
processes queue instead of failing. It uses ``NullPool``: each thread keeps its own connection
for as long as it needs it (:mod:`ragkit.state.connections`, which detaches it from the engine),
so a pool would only hand a connection configured for one store (its row factory) to another.

SQLAlchemy-level transactions (the migrations) begin with ``BEGIN IMMEDIATE`` explicitly,
because the driver's own transaction handling is switched off by ``isolation_level=None``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import NullPool

from ragkit.state import legacy, migrate
from ragkit.state.connections import RowFactory, StateConnection, ThreadConnections
from ragkit.state.urls import checked_url, database_path, file_url, home_url

BUSY_TIMEOUT_S = 60
PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON")


class StateDB:
    """One state database: its URL, file, engine, and per-thread connections for the stores."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.path = database_path(url)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = _engine(url)

    def __repr__(self) -> str:
        return f"StateDB({str(self.path)!r})"

    def raw_connection(self) -> Any:
        """A new pooled DBAPI connection (``.driver_connection`` is the ``sqlite3`` one); close it
        to release it. The stores use :meth:`connections` instead."""
        return self.engine.raw_connection()

    def own_connection(self) -> sqlite3.Connection:
        """A new ``sqlite3`` connection set up by the engine and detached from it: it is the
        caller's, closed by the caller or when it is no longer referenced."""
        pooled = self.engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()
        return connection

    def connections(self, *, row_factory: RowFactory | None = None) -> ThreadConnections:
        """Per-thread connections for one store, with that store's row factory."""
        return ThreadConnections(self, row_factory=row_factory)

    def revision(self) -> str | None:
        """The schema revision the database is at (None: not created yet)."""
        return migrate.current_revision(self.raw_connection)

    def ensure_current(self, legacy_home: Path | None = None) -> None:
        """Bring the schema to the head revision and, for a home, import the previous layout's
        files. An up-to-date database with nothing to import costs one query (no lock)."""
        pending = legacy.pending_files(legacy_home) if legacy_home is not None else []
        if not pending and migrate.current_revision(self.raw_connection) == migrate.head():
            return
        with migrate.migration_lock(self.path):
            with self.engine.begin() as connection:
                migrate.upgrade(connection, self.path)
            if legacy_home is not None:
                legacy.import_files(self.raw_connection, self.path, legacy_home)


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


def _engine(url: URL) -> Engine:
    engine = create_engine(url, poolclass=NullPool, connect_args={
        "timeout": BUSY_TIMEOUT_S, "isolation_level": None, "check_same_thread": False,
        "factory": StateConnection})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        for pragma in PRAGMAS:
            _pragma(dbapi_connection, pragma)

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


_databases: dict[str, StateDB] = {}
_guard = threading.Lock()


def _database(url: URL) -> StateDB:
    """The process's one :class:`StateDB` for ``url`` (engines are cheap but not free)."""
    key = str(database_path(url))
    with _guard:
        found = _databases.get(key)
        if found is None:
            found = _databases[key] = StateDB(url)
        return found


def open_home(home: Path | str, url: str | None = None) -> StateDB:
    """The state database of knowledge-base directory ``home``, migrated to the head revision.

    ``url`` is the configured ``database_url`` (None: read the settings; unset there too:
    ``<home>/ragkit.sqlite``). A home made by an earlier ragkit has its old SQLite files imported
    on first open (:mod:`ragkit.state.legacy`)."""
    state = _database(home_url(Path(home), url))
    state.ensure_current(legacy_home=Path(home))
    return state


def open_database(target: Path | str | URL) -> StateDB:
    """A state database given by file or URL (a scratch store, a test), migrated to head.

    Unlike :func:`open_home` it belongs to no home, so nothing is imported into it."""
    is_url = isinstance(target, URL) or (isinstance(target, str) and "://" in target)
    url = checked_url(target) if is_url else file_url(Path(target))
    state = _database(url)
    state.ensure_current()
    return state
