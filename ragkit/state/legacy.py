"""Importing a home made by an earlier ragkit, which kept its state in four SQLite files.

``<home>/manifest.sqlite``, ``<home>/conversations.sqlite``, ``<home>/server/meta.sqlite`` and
``<home>/server/feedback.sqlite`` held the tables that revision 0001 now creates in the one state
database. On open, each file still there is copied in with ``ATTACH`` (one transaction per file,
column by column, so a file made before a column was added still imports), then renamed to
``<name>.migrated`` so that it is never read again but remains as a backup.

A file is imported only into a database whose tables for it are still empty (a fresh database);
otherwise its rows are already there (a run stopped between the import and the rename) or the
home has been used with the new layout since, and the file is renamed without being read.

Conversations are one model since revision 0003: the files' threads, Assistants threads,
conversations and their messages and items become rows of ``conversations`` and
``conversation_items``, mapped as that revision maps them
(:func:`ragkit.state.conversation_rows.fold_row`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragkit.state.conversation_model import Conversation, Item
from ragkit.state.conversation_rows import CONVERSATION_COLUMNS, ITEM_COLUMNS, conversation_row, fold_row, item_row

log = logging.getLogger("ragkit.state")

SUFFIX = ".migrated"
_MANIFEST = {"files": "files", "chunks": "chunks", "journal": "journal", "embed_cache": "embed_cache",
             "state": "state"}
_SERVER = {"files": "api_files", **{t: t for t in (
    "vector_stores", "vs_files", "batches", "batch_files", "api_keys", "asst_assistants", "asst_runs",
    "asst_steps", "resp_responses", "resp_input_items", "resp_tool_state", "uploads", "upload_parts")}}
#: each file of the previous layout (relative to the home) -> its tables, old name -> new name
LAYOUT: dict[str, dict[str, str]] = {
    "manifest.sqlite": _MANIFEST,
    "conversations.sqlite": {},
    "server/meta.sqlite": _SERVER,
    "server/feedback.sqlite": {"feedback": "feedback"},
}
#: each file's conversation tables (conversations before their items) -> the kind they become
FOLDED: dict[str, dict[str, str]] = {
    "conversations.sqlite": {"threads": "chat", "messages": "chat"},
    "server/meta.sqlite": {"asst_threads": "assistants_thread", "conv_conversations": "responses_conversation",
                           "asst_messages": "assistants_thread", "conv_items": "responses_conversation"},
}
_ORDER = {"threads": "created_at", "messages": "id"}


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
            copied = _copy(pooled.driver_connection, path, LAYOUT[name], FOLDED.get(name, {}))
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


def _copy(db: sqlite3.Connection, path: Path, tables: dict[str, str], folded: dict[str, str]) -> bool:
    """Copy ``tables`` of the file at ``path`` into the (empty) state tables, and its ``folded``
    conversation tables into the conversation model; False when the state tables already hold
    rows (conversations of those kinds) and nothing was copied."""
    db.execute("PRAGMA foreign_keys=OFF")  # messages may be copied in any order relative to threads
    db.execute("ATTACH DATABASE ? AS legacy", (str(path),))
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            kinds = sorted(set(folded.values()))
            marks = ",".join("?" * len(kinds))
            if any(db.execute(f'SELECT 1 FROM main."{new}" LIMIT 1').fetchone() for new in tables.values()) or (
                    kinds and db.execute(f"SELECT 1 FROM main.conversations WHERE kind IN ({marks}) LIMIT 1",
                                         kinds).fetchone()):
                db.execute("ROLLBACK")
                return False
            for old, new in tables.items():
                present = set(_columns(db, "legacy", old))
                shared = ", ".join(f'"{c}"' for c in _columns(db, "main", new) if c in present)
                if shared:
                    db.execute(f'INSERT INTO main."{new}"({shared}) SELECT {shared} FROM legacy."{old}"')
            _fold(db, list(folded))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.execute("DETACH DATABASE legacy")
        db.execute("PRAGMA foreign_keys=ON")
    return True


def _fold(db: sqlite3.Connection, tables: list[str]) -> None:
    """The file's conversation tables as conversations and items, in their order; an item whose
    conversation is not in the file is left out (nothing could show it)."""
    started: dict[str, float] = {}
    for old in tables:
        if not _columns(db, "legacy", old):
            continue  # an older file without this table
        cursor = db.execute(f'SELECT * FROM legacy."{old}" ORDER BY "{_ORDER.get(old, "seq")}"')
        names = [d[0] for d in cursor.description]
        for values in cursor.fetchall():
            row = dict(zip(names, values))
            parent = row.get("thread_id", row.get("conversation_id"))
            made = fold_row(old, row, started.get(parent or ""))
            if isinstance(made, Conversation):
                started[made.id] = made.created_at
                _insert(db, "conversations", CONVERSATION_COLUMNS, conversation_row(made))
            elif isinstance(made, Item) and made.conversation_id in started:
                _insert(db, "conversation_items", ITEM_COLUMNS, item_row(made))


def _insert(db: sqlite3.Connection, table: str, columns: tuple[str, ...], row: dict[str, Any]) -> None:
    db.execute(f"INSERT INTO main.{table}({', '.join(columns)}) VALUES({', '.join('?' * len(columns))})",
               [row[c] for c in columns])


def _retire(path: Path) -> None:
    """Rename the file (and a log SQLite could not fold in) to ``*.migrated``."""
    target = path.with_name(path.name + SUFFIX)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.replace(target.with_name(target.name + suffix))
    path.replace(target)
