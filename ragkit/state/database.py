"""The state database of a home: one engine per database, migrated on open, on SQLite or PostgreSQL.

Everything ragkit keeps besides vectors and the lexical index -- the ingest manifest, conversation
threads, the server's files, vector stores, keys, Assistants/Responses objects, uploads, feedback
and the audit log -- lives in one database: ``<home>/ragkit.sqlite`` unless ``database_url`` names
another file or a PostgreSQL database (:mod:`ragkit.state.urls`). One database means one schema
history (:mod:`ragkit.state.migrate`), one backup, and no table that two modules create in two
places with two meanings. The backend (:mod:`ragkit.state.backends`) is chosen by the URL.

**How a repository talks to it** (the whole API)::

    state = open_home(home)                    # or open_database(file_or_url)
    with state.read() as db:                   # a pooled connection, autocommit reads
        row = db.one("SELECT * FROM api_files WHERE id=?", (file_id,))        # dict or None
        rows = db.all("SELECT id FROM chunks WHERE collection=:c", {"c": name})  # list of dicts
    with state.write() as db:                  # one write transaction, committed at the end
        db.execute("UPDATE uploads SET status='cancelled' WHERE id=?", (upload_id,)).rowcount
        db.executemany("DELETE FROM journal WHERE collection=? AND id=?", pairs)
        new_id = db.scalar("INSERT INTO t(a) VALUES(?) RETURNING id", (a,))

* SQL is the subset SQLite and PostgreSQL share: ``?`` (bound from a sequence) or ``:name``
  (from a mapping) parameters, ``INSERT ... ON CONFLICT ... DO NOTHING / DO UPDATE`` instead of
  ``INSERT OR IGNORE / REPLACE``, ``RETURNING`` instead of ``lastrowid``, no ``PRAGMA``, no
  ``rowid``, no ``BEGIN``/``COMMIT`` of one's own. What differs (substring tests, JSON fields) is
  asked of ``db.dialect`` (:mod:`ragkit.state.dialect`). Rows are dicts by column name
  (:mod:`ragkit.state.session`), fetched whole: page through big tables by key.
* ``write()`` gives SQLite's ``BEGIN IMMEDIATE`` semantics on both backends: one writer at a time
  per database, from the transaction's first statement to its commit, so a read-then-write inside
  it cannot interleave with another process's (on PostgreSQL by an advisory lock:
  :mod:`ragkit.state.backends.postgres` says why). An exception rolls it back. Keep it short.
* Inside ``write()``, ``read()`` and ``write()`` on the same thread join that transaction (they see
  its uncommitted rows); otherwise every ``read()`` and ``write()`` checks a connection out of the
  engine's pool and returns it at the end, so threads never share one.

:meth:`StateDB.connections` and :meth:`StateDB.own_connection` hand out bare ``sqlite3``
connections to code not moved onto this API yet; they exist on SQLite only.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from ragkit.errors import ConfigError
from ragkit.state import legacy, migrate
from ragkit.state.backends import backend_for
from ragkit.state.connections import RowFactory, ThreadConnections
from ragkit.state.session import Params, Row, Session
from ragkit.state.urls import FILENAME, SETTING, checked_url, file_url, home_url


class StateDB:
    """One state database: its URL, backend, engine, and the sessions the repositories use."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.backend = backend_for(url)
        self.dialect = self.backend.dialect
        #: the database file (SQLite), or None (a PostgreSQL database)
        self.path: Path | None = self.backend.path
        #: where the database is, for messages (a file, or the URL without its password)
        self.name = self.backend.name
        self.engine = self.backend.engine()
        self._local = threading.local()
        # A forked child must not use its parent's connections (a socket, or a SQLite file handle
        # with its locks): it forgets the pool, without closing the parent's, and opens its own.
        os.register_at_fork(after_in_child=lambda: self.engine.dispose(close=False))

    def __repr__(self) -> str:
        return f"StateDB({self.name!r})"

    # -- sessions ------------------------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[Session]:
        """A connection for reads, each statement on its own (or this thread's write transaction)."""
        joined = getattr(self._local, "session", None)
        if joined is not None:
            yield joined
            return
        with self.engine.connect() as connection:
            self.backend.begin_read(connection)
            yield Session(connection, self.dialect, writing=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction holding the database's write lock; committed when the block ends,
        rolled back if it raises. Nested in another on the same thread, it joins that one."""
        joined = getattr(self._local, "session", None)
        if joined is not None:
            yield joined
            return
        with self.engine.connect() as connection, connection.begin():
            self.backend.begin_write(connection)
            session = self._local.session = Session(connection, self.dialect, writing=True)
            try:
                yield session
            finally:
                self._local.session = None

    def one(self, sql: str, params: Params = ()) -> Row | None:
        with self.read() as db:
            return db.one(sql, params)

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        with self.read() as db:
            return db.all(sql, params)

    def dispose(self) -> None:
        """Close the pool's idle connections (the database stays usable: new ones are opened)."""
        self.engine.dispose()

    # -- bare sqlite3 connections, for code not moved onto sessions yet ------------------------
    def _sqlite_only(self, what: str) -> None:
        if self.path is None:
            raise ConfigError(f"{SETTING}: {what} keeps its tables in SQLite only in this version of ragkit, "
                              f"and {self.name} is a PostgreSQL database; use sqlite:///path/to/{FILENAME}")

    def raw_connection(self) -> Any:
        """A new pooled DBAPI connection (``.driver_connection`` is the ``sqlite3`` one); SQLite only."""
        self._sqlite_only("this store")
        return self.engine.raw_connection()

    def own_connection(self) -> sqlite3.Connection:
        """A new ``sqlite3`` connection set up by the engine and detached from it: it is the
        caller's, closed by the caller or when it is no longer referenced. SQLite only."""
        pooled = self.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()
        return connection

    def connections(self, *, row_factory: RowFactory | None = None,
                    what: str = "the chat thread store") -> ThreadConnections:
        """Per-thread ``sqlite3`` connections for one store, with that store's row factory."""
        self._sqlite_only(what)
        return ThreadConnections(self, row_factory=row_factory)

    # -- schema --------------------------------------------------------------------------------
    def revision(self) -> str | None:
        """The schema revision the database is at (None: not created yet)."""
        with self.read() as db:
            return migrate.current_revision(db.connection)

    def ensure_current(self, legacy_home: Path | None = None) -> None:
        """Bring the schema to the head revision and, for a home, import the previous layout's
        files. An up-to-date database with nothing to import costs one query (no lock)."""
        pending = legacy.pending_files(legacy_home) if legacy_home is not None else []
        if pending and self.path is None:
            raise ConfigError(f"{SETTING}: {legacy_home} holds state in the layout of an earlier ragkit "
                              f"({', '.join(pending)}), which is imported into SQLite only: open the home once "
                              f"without database_url (it becomes {FILENAME} there) before using {self.name}")
        if not pending and self._reachable_revision() == migrate.head():
            return
        with self.backend.migration_lock(self.engine):
            with self.engine.begin() as connection:
                migrate.upgrade(connection, self.name)
            if legacy_home is not None and self.path is not None:
                legacy.import_files(self.raw_connection, self.path, legacy_home)

    def _reachable_revision(self) -> str | None:
        try:
            return self.revision()
        except OperationalError as exc:
            if self.path is not None:
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise ConfigError(f"{SETTING}: cannot connect to {self.name}: {reason}") from None


def unreachable(exc: BaseException) -> bool:
    """Did ``exc`` come from a database server that went away or kept a lock too long (a restart, a
    failover, a dropped connection, a lock timeout)? Such an error says nothing about the work
    being done: the same work, tried again once the server answers, succeeds."""
    from sqlalchemy.exc import OperationalError as Wrapped

    if isinstance(exc, Wrapped):
        return True
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(exc, psycopg.OperationalError)


_databases: dict[str, StateDB] = {}
_guard = threading.Lock()


def _database(url: URL) -> StateDB:
    """The process's one :class:`StateDB` for ``url`` (engines and their pools are shared)."""
    key = url.render_as_string(hide_password=False)
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

