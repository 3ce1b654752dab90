"""Versioned schema migrations (Alembic), run by ragkit itself whenever a database is opened.

The revisions ship inside the package (``ragkit/state/migrations/versions``) and the Alembic
configuration is built here in code, so an installed ragkit migrates a user's database without
an ``alembic.ini`` in their working directory. Opening a database that is already at the head
revision costs one ``SELECT`` on ``alembic_version``; only otherwise is the migration lock taken.

Migrating takes a lock: two processes opening a fresh database at once (``ragkit serve --workers
2``, or ``ragkit ingest`` beside a running server) would otherwise both see "no schema" and both
run revision 0001. For a SQLite file it is an ``flock`` on a file beside the database
(:func:`migration_lock`; the kernel releases it if a process dies, and a thread lock is taken
first so threads of one process queue the same way); on PostgreSQL a session-level advisory lock
(:mod:`ragkit.state.backends.postgres`).
"""

from __future__ import annotations

import fcntl
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError

from ragkit.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_thread_lock = threading.Lock()
_VERSION = text("SELECT version_num FROM alembic_version")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for ragkit's migrations, with ``connection`` to run them on."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this ragkit knows."""
    heads = _scripts().get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the state migrations have {len(heads)} heads: {heads}")
    return heads[0]


def known(revision: str) -> bool:
    return _scripts().get_revision(revision) is not None if revision else False


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database (None when it has no schema yet). One query when
    there is one; ``connection`` reads in autocommit, so a failed query spoils no transaction."""
    try:
        return connection.execute(_VERSION).scalar()
    except (OperationalError, ProgrammingError):
        if inspect(connection).has_table("alembic_version"):
            raise
        return None


def upgrade(connection: Connection, where: str) -> None:
    """Run every revision after the database's current one, in ``connection``'s transaction
    (``where`` names the database in messages)."""
    recorded = inspect(connection).has_table("alembic_version")
    current = connection.execute(_VERSION).scalar() if recorded else None
    if current is not None and not _is_known(current):
        raise ConfigError(f"{where} is at schema revision {current!r}, which this ragkit does not know: "
                          "it was written by a newer version; upgrade ragkit to use it")
    if current != head():
        command.upgrade(alembic_config(connection), "head")


def _is_known(revision: str) -> bool:
    try:
        return known(revision)
    except Exception:  # noqa: BLE001 - alembic raises its own error types for unknown ids
        return False


@contextmanager
def migration_lock(database: Path) -> Iterator[None]:
    """Hold the exclusive migration lock of ``database`` (threads and processes alike)."""
    lock_path = database.with_name(f".{database.stem}.migrate.lock")
    with _thread_lock, open(lock_path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
