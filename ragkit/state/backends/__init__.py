"""The state database's backends: SQLite (a file, the default) and PostgreSQL (a shared server).

A backend knows how to make the SQLAlchemy engine for its URL, how a connection is set up for a
read or a write transaction, and how processes take turns migrating the schema. Everything above
-- :class:`ragkit.state.StateDB`, the repositories -- is the same for both; the SQL they write is
the subset both understand (:mod:`ragkit.state.dialect`).

**One writer at a time.** The repositories were written for SQLite's ``BEGIN IMMEDIATE``: a
write transaction holds the database's one write lock from its first statement to its commit,
so a read-then-write inside it (claim the oldest waiting files, add a part unless the upload was
cancelled, bump a counter) can never interleave with another writer's. Both backends give every
write transaction that same guarantee, each in its own way (see their modules).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import URL, Connection, Engine

from ragkit.state.dialect import POSTGRESQL, Dialect


class Backend(Protocol):
    """What :class:`ragkit.state.StateDB` needs of a database server or file."""

    dialect: Dialect
    #: the database file (SQLite), or None (a server)
    path: Path | None
    #: where the database is, for messages (a file, or the URL without its password)
    name: str

    def engine(self) -> Engine:
        """A new engine with its pool, set up for the semantics the repositories rely on."""

    def begin_read(self, connection: Connection) -> None:
        """Set up a just-checked-out connection for reads outside any transaction."""

    def begin_write(self, connection: Connection) -> None:
        """Take the database's write lock, first thing in a just-begun write transaction."""

    def migration_lock(self, engine: Engine) -> AbstractContextManager[None]:
        """Held while the schema is checked and migrated: one process (and thread) at a time."""


def backend_for(url: URL) -> Backend:
    """The backend of a checked URL (:func:`ragkit.state.urls.checked_url`)."""
    if url.get_backend_name() == POSTGRESQL:
        from ragkit.state.backends.postgres import PostgresBackend

        return PostgresBackend(url)
    from ragkit.state.backends.sqlite import SqliteBackend

    return SqliteBackend(url)
