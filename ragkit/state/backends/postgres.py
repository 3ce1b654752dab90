"""The PostgreSQL backend: one state database shared by every process and host that names it.

This is what lets several server replicas (and ``ragkit ingest`` beside them) share the
manifest, the library, keys, uploads and the ingest queue: each process has a small connection
pool (checked with a ``SELECT 1`` before use, so a server restart or a dropped idle connection
costs a reconnect rather than a failed request) and reads run in autocommit, never blocking.

**Why every write transaction takes one advisory lock.** The repositories were written for
SQLite, where ``BEGIN IMMEDIATE`` makes write transactions strictly one after another: a claim
reads the oldest waiting files and then marks them, an upload checks its status and size before
adding a part, an attach reads a row before inserting or updating it. Under PostgreSQL's default
READ COMMITTED two such transactions would interleave -- both claim the same file, a part slips
past a cancel -- and SERIALIZABLE would fail them instead, leaving every caller to retry. So a
write transaction starts with ``SELECT pg_advisory_xact_lock(WRITE_LOCK)``: one writer at a time
per database, across processes and hosts, released by the commit or rollback (or when the
session dies), and each statement after it sees everything the previous writer committed. Writes
are short; readers never take the lock and never wait for it. As SQLite's busy timeout does, a
writer gives up after :data:`LOCK_TIMEOUT` rather than wait forever behind a hung transaction.

Migrations take a second, session-level advisory lock (:data:`MIGRATION_LOCK`) for the same
reason as SQLite's file lock: two processes opening a fresh database would both run revision
0001. The keys are constants of ragkit's ("ragkit" in ASCII, then 1 or 2) in the database's own
advisory-lock space, so another database on the same server is never held up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, Engine

from ragkit.state.dialect import POSTGRESQL, Dialect

WRITE_LOCK = 0x7261676B69740001
MIGRATION_LOCK = 0x7261676B69740002
#: how long a writer waits for the write lock (SQLite's busy timeout is the same 60 s)
LOCK_TIMEOUT = "60s"
CONNECT_TIMEOUT_S = 10


class PostgresBackend:
    """A state database on a PostgreSQL server (psycopg 3 driver)."""

    dialect = Dialect(POSTGRESQL)
    path: Path | None = None

    def __init__(self, url: URL) -> None:
        self.url = url
        self.name = url.render_as_string(hide_password=True)

    def engine(self) -> Engine:
        return create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=15, pool_timeout=60,
                             connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "ragkit"})

    def begin_read(self, connection: Connection) -> None:
        connection.execution_options(isolation_level="AUTOCOMMIT")

    def begin_write(self, connection: Connection) -> None:
        connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})

    @contextmanager
    def migration_lock(self, engine: Engine) -> Iterator[None]:
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
