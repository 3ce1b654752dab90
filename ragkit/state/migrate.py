"""Versioned schema migrations (Alembic), run by ragkit itself whenever a database is opened.

The revisions ship inside the package (``ragkit/state/migrations/versions``) and the Alembic
configuration is built here in code, so an installed ragkit migrates a user's database without
an ``alembic.ini`` in their working directory. Opening a database that is already at the head
revision costs one ``SELECT`` on ``alembic_version``; only otherwise is the migration lock taken.

The lock is an ``flock`` on a file beside the database: two processes opening a fresh home at
once (``ragkit serve --workers 2``, or ``ragkit ingest`` beside a running server) would otherwise
both see "no schema" and both run revision 0001. The kernel releases it if a process dies; a
thread lock is taken first so threads of one process queue the same way.
"""

from __future__ import annotations

import fcntl
import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from ragkit.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_thread_lock = threading.Lock()


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


def current_revision(connect: Callable[[], Any]) -> str | None:
    """The revision recorded in the database (None when it has no schema yet)."""
    pooled = connect()
    try:
        row = pooled.driver_connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        pooled.close()
    return row[0] if row else None


def upgrade(connection: Connection, path: Path) -> None:
    """Run every revision after the database's current one, in ``connection``'s transaction."""
    recorded = connection.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='alembic_version'").fetchone()
    current = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() if recorded else None
    if current is not None and not _is_known(current):
        raise ConfigError(f"{path} is at schema revision {current!r}, which this ragkit does not know: "
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
