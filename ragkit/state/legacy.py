"""Importing a home made by an earlier ragkit, which kept its state in four SQLite files.

``<home>/manifest.sqlite``, ``<home>/conversations.sqlite``, ``<home>/server/meta.sqlite`` and
``<home>/server/feedback.sqlite`` held the tables that revision 0001 now creates in the one state
database. On open, each file still there is copied in with ``ATTACH`` (one transaction per file,
column by column, so a file made before a column was added still imports), then renamed to
``<name>.migrated`` so that it is never read again but remains as a backup.

A file is imported only into a database whose tables for it are still empty (a fresh database);
otherwise its rows are already there (a run stopped between the import and the rename) or the
home has been used with the new layout since, and the file is renamed without being read.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("ragkit.state")

SUFFIX = ".migrated"
_MANIFEST = {"files": "files", "chunks": "chunks", "journal": "journal", "embed_cache": "embed_cache",
             "state": "state"}
_SERVER = {"files": "api_files", **{t: t for t in (
    "vector_stores", "vs_files", "batches", "batch_files", "api_keys", "asst_assistants", "asst_threads",
    "asst_messages", "asst_runs", "asst_steps", "resp_responses", "resp_input_items", "resp_tool_state",
    "conv_conversations", "conv_items", "uploads", "upload_parts")}}
#: each file of the previous layout (relative to the home) -> its tables, old name -> new name
LAYOUT: dict[str, dict[str, str]] = {
    "manifest.sqlite": _MANIFEST,
    "conversations.sqlite": {"threads": "threads", "messages": "messages"},
    "server/meta.sqlite": _SERVER,
    "server/feedback.sqlite": {"feedback": "feedback"},
}


def pending_files(home: Path) -> list[str]:
    """The previous layout's files still present in ``home`` (not yet imported)."""
    return [name for name in LAYOUT if (home / name).is_file()]


def import_files(connect: Callable[[], Any], database: Path, home: Path) -> None:
    """Import every pending file of ``home`` into the database at ``database`` (``connect`` opens
    a pooled connection to it) and retire the file. The caller holds the migration lock, so two
    processes never import the same file."""
    imported, skipped = [], []
    for name in pending_files(home):
        path = home / name
        _settle(path)
        pooled = connect()
        try:
            copied = _copy(pooled.driver_connection, path, LAYOUT[name])
        finally:
            pooled.close()
        (imported if copied else skipped).append(name)
        _retire(path)
    if imported:
        log.warning("imported %s into %s (one database per home now); the old files are kept as *%s",
                    ", ".join(imported), database, SUFFIX)
    if skipped:
        log.warning("left %s unread: %s already holds those tables' rows; renamed to *%s",
                    ", ".join(skipped), database, SUFFIX)


def _settle(path: Path) -> None:
    """Fold the file's write-ahead log into it, so the renamed file is complete on its own."""
    try:
        legacy = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:
            legacy.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            legacy.execute("PRAGMA journal_mode=DELETE")
        finally:
            legacy.close()
    except sqlite3.Error as exc:  # still open elsewhere: _retire moves the log along with it
        log.debug("could not checkpoint %s: %s", path, exc)


def _columns(db: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [row[1] for row in db.execute(f'PRAGMA {schema}.table_info("{table}")')]


def _copy(db: sqlite3.Connection, path: Path, tables: dict[str, str]) -> bool:
    """Copy ``tables`` of the file at ``path`` into the (empty) state tables; False when the state
    tables already hold rows and nothing was copied."""
    db.execute("PRAGMA foreign_keys=OFF")  # messages may be copied in any order relative to threads
    db.execute("ATTACH DATABASE ? AS legacy", (str(path),))
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            if any(db.execute(f'SELECT 1 FROM main."{new}" LIMIT 1').fetchone() for new in tables.values()):
                db.execute("ROLLBACK")
                return False
            for old, new in tables.items():
                present = set(_columns(db, "legacy", old))
                shared = ", ".join(f'"{c}"' for c in _columns(db, "main", new) if c in present)
                if shared:
                    db.execute(f'INSERT INTO main."{new}"({shared}) SELECT {shared} FROM legacy."{old}"')
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.execute("DETACH DATABASE legacy")
        db.execute("PRAGMA foreign_keys=ON")
    return True


def _retire(path: Path) -> None:
    """Rename the file (and a log SQLite could not fold in) to ``*.migrated``."""
    target = path.with_name(path.name + SUFFIX)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.replace(target.with_name(target.name + suffix))
    path.replace(target)
