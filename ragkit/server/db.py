"""The server's metadata: uploaded files, vector stores, their files and batches, API keys.

Everything the OpenAI API exposes that is not a chunk lives in the home's state database
(``<home>/ragkit.sqlite``, :mod:`ragkit.state`, which also creates the tables), so it survives a
restart and is shared by ``--workers N`` processes. Uploaded files are the table ``api_files``
(``files`` is the ingest manifest's). Each thread gets its own connection (SQLite connections
must not cross threads), WAL lets readers run beside the one writer, and every write is a short
``BEGIN IMMEDIATE`` transaction.

The table ``vs_files`` doubles as the ingestion queue: a row ``in_progress`` with no
``claimed_by`` is waiting; a worker claims rows in one transaction, so two worker processes
never ingest the same file, and a claim whose process died is found and released on the next
start (see :mod:`ragkit.server.ingest_worker`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragkit.state import StateDB, open_database

Row = dict[str, Any]


class NotFound(LookupError):
    """A cursor (``after``/``before``) names no object of the listed kind."""


def now() -> int:
    return int(time.time())


def _row(cursor: sqlite3.Cursor, values: tuple) -> Row:
    return {d[0]: v for d, v in zip(cursor.description, values)}


def _bump(db: sqlite3.Connection, vs_id: str) -> None:
    """A store's files or their attributes changed: answers cached for it are stale."""
    db.execute("UPDATE vector_stores SET files_version = files_version + 1 WHERE id=?", (vs_id,))


class MetaDB:
    def __init__(self, target: StateDB | Path) -> None:
        """``target`` is a state database, or the file of one (``ServerConfig.db_path``)."""
        self.state = target if isinstance(target, StateDB) else open_database(target)
        self.path = self.state.path
        self._connections = self.state.connections(row_factory=_row)
        self._touched: dict[str, float] = {}

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        return self._connections.db

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (taken immediately, so writers queue instead of deadlocking)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        return self.db.execute(sql, args).fetchone()

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return self.db.execute(sql, args).fetchall()

    # -- cursor pages --------------------------------------------------------------------
    def page(self, table: str, where: str, args: Sequence[Any], *, limit: int, order: str,
             after: str | None, before: str | None, id_column: str = "id") -> tuple[list[Row], bool]:
        """One cursor page ordered by insertion (``seq``): the OpenAI list contract.

        ``after``/``before`` are ids of objects in the same listing; items strictly after (or
        before) them in the requested order are returned, ``limit`` at most, and ``has_more``
        says whether more lie beyond in the direction of travel."""
        descending = order == "desc"
        clauses, params = [where], list(args)
        for cursor, later in ((after, True), (before, False)):
            if cursor is None:
                continue
            found = self.one(f"SELECT seq FROM {table} WHERE {where} AND {id_column}=?", (*args, cursor))
            if found is None:
                raise NotFound(cursor)
            clauses.append("seq > ?" if later != descending else "seq < ?")
            params.append(found["seq"])
        # Walking backwards from ``before``: fetch nearest first, then restore the order.
        backwards = before is not None and after is None
        ascending = descending == backwards
        rows = self.all(f"SELECT * FROM {table} WHERE {' AND '.join(clauses)} "
                        f"ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT ?", (*params, limit + 1))
        has_more = len(rows) > limit
        rows = rows[:limit]
        if backwards:
            rows.reverse()
        return rows, has_more

    # -- files ---------------------------------------------------------------------------
    def insert_file(self, row: Row) -> None:
        with self.write() as db:
            db.execute("INSERT INTO api_files(id, filename, bytes, purpose, created_at, path, sha256, created_by) "
                       "VALUES(:id, :filename, :bytes, :purpose, :created_at, :path, :sha256, :created_by)", row)

    def file(self, file_id: str) -> Row | None:
        return self.one("SELECT * FROM api_files WHERE id=?", (file_id,))

    def delete_file(self, file_id: str) -> list[str]:
        """Forget a file; returns the vector stores it was attached to (the caller unindexes it)."""
        with self.write() as db:
            stores = [r["vector_store_id"] for r in
                      db.execute("SELECT vector_store_id FROM vs_files WHERE file_id=?", (file_id,)).fetchall()]
            db.execute("DELETE FROM vs_files WHERE file_id=?", (file_id,))
            db.execute("DELETE FROM api_files WHERE id=?", (file_id,))
            for vs_id in stores:
                _bump(db, vs_id)
        return stores

    # -- vector stores -------------------------------------------------------------------
    def insert_store(self, row: Row) -> None:
        with self.write() as db:
            db.execute("INSERT INTO vector_stores(id, name, description, created_at, last_active_at, metadata, "
                       "expires_after, chunk_size, chunk_overlap, created_by) VALUES(:id, :name, :description, "
                       ":created_at, :last_active_at, :metadata, :expires_after, :chunk_size, :chunk_overlap, "
                       ":created_by)", row)

    def store(self, vs_id: str) -> Row | None:
        return self.one("SELECT * FROM vector_stores WHERE id=? AND deleted=0", (vs_id,))

    def update_store(self, vs_id: str, **values: Any) -> None:
        if not values:
            return
        sets = ", ".join(f"{k}=?" for k in values)
        with self.write() as db:
            db.execute(f"UPDATE vector_stores SET {sets} WHERE id=?", (*values.values(), vs_id))

    def delete_store(self, vs_id: str) -> list[Row]:
        """Mark a store deleted and detach its files; returns the detached rows."""
        with self.write() as db:
            rows = db.execute("SELECT * FROM vs_files WHERE vector_store_id=?", (vs_id,)).fetchall()
            db.execute("UPDATE vector_stores SET deleted=1 WHERE id=?", (vs_id,))
            db.execute("DELETE FROM vs_files WHERE vector_store_id=?", (vs_id,))
            db.execute("DELETE FROM batch_files WHERE batch_id IN (SELECT id FROM batches WHERE vector_store_id=?)",
                       (vs_id,))
        return rows

    def touch_store(self, vs_id: str) -> None:
        """Record use of a store, at most once a minute per process: ``last_active_at`` only
        anchors expiry (counted in days), and a write per search would serialise searches."""
        stamp = time.monotonic()
        if stamp - self._touched.get(vs_id, -1e9) < 60:
            return
        self._touched[vs_id] = stamp
        with self.write() as db:
            db.execute("UPDATE vector_stores SET last_active_at=? WHERE id=?", (now(), vs_id))

    def counts(self, vs_id: str, batch_id: str | None = None) -> tuple[dict[str, int], int]:
        """File counts by status and the bytes of completed files (of a store or one batch)."""
        sql = ("SELECT v.status AS status, COUNT(*) AS n, COALESCE(SUM(f.bytes), 0) AS bytes FROM vs_files v "
               "LEFT JOIN api_files f ON f.id = v.file_id WHERE v.vector_store_id=?")
        args: list[Any] = [vs_id]
        if batch_id is not None:
            sql += " AND v.file_id IN (SELECT file_id FROM batch_files WHERE batch_id=?)"
            args.append(batch_id)
        counts = {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0}
        usage = 0
        for r in self.all(sql + " GROUP BY v.status", args):
            counts[r["status"]] = r["n"]
            if r["status"] == "completed":
                usage = r["bytes"]
        counts["total"] = sum(counts.values())
        return counts, usage

    # -- files of a vector store -----------------------------------------------------------
    def attach(self, vs_id: str, file_ids: Sequence[str], attributes: dict[str, dict | None],
               batch_id: str | None = None) -> None:
        """Queue files for ingestion into a store. A file already attached keeps its row unless
        it failed or was cancelled (then it is queued again); given attributes replace old ones."""
        stamp = now()
        with self.write() as db:
            if batch_id is not None:
                db.execute("INSERT INTO batches(id, vector_store_id, created_at) VALUES(?,?,?)",
                           (batch_id, vs_id, stamp))
            for file_id in file_ids:
                attrs = attributes.get(file_id)
                encoded = json.dumps(attrs) if attrs is not None else None
                old = db.execute("SELECT status FROM vs_files WHERE vector_store_id=? AND file_id=?",
                                 (vs_id, file_id)).fetchone()
                if old is None:
                    db.execute("INSERT INTO vs_files(vector_store_id, file_id, created_at, status, attributes) "
                               "VALUES(?,?,?,?,?)", (vs_id, file_id, stamp, "in_progress", encoded))
                else:
                    if old["status"] in ("failed", "cancelled"):
                        db.execute("UPDATE vs_files SET status='in_progress', last_error=NULL, claimed_by=NULL, "
                                   "attempts=0 WHERE vector_store_id=? AND file_id=?", (vs_id, file_id))
                    if attrs is not None:
                        db.execute("UPDATE vs_files SET attributes=? WHERE vector_store_id=? AND file_id=?",
                                   (encoded, vs_id, file_id))
                if batch_id is not None:
                    db.execute("INSERT OR IGNORE INTO batch_files(batch_id, file_id) VALUES(?,?)", (batch_id, file_id))
            _bump(db, vs_id)

    def vs_file(self, vs_id: str, file_id: str) -> Row | None:
        return self.one("SELECT * FROM vs_files WHERE vector_store_id=? AND file_id=?", (vs_id, file_id))

    def vs_files(self, vs_id: str, statuses: Sequence[str] = ("completed",)) -> list[Row]:
        marks = ",".join("?" * len(statuses))
        return self.all(f"SELECT v.*, f.filename, f.path, f.bytes FROM vs_files v JOIN api_files f ON f.id=v.file_id "
                        f"WHERE v.vector_store_id=? AND v.status IN ({marks}) ORDER BY v.seq", (vs_id, *statuses))

    def completed_by_path(self, vs_id: str, paths: Sequence[str]) -> dict[str, Row]:
        """The store's completed files among ``paths`` (to name the files of search hits)."""
        unique = list(dict.fromkeys(paths))
        if not unique:
            return {}
        marks = ",".join("?" * len(unique))
        # CROSS JOIN fixes the join order: from the few paths to their rows, never a scan of the store.
        rows = self.all(f"SELECT v.*, f.filename, f.path, f.bytes FROM api_files f CROSS JOIN vs_files v "
                        f"ON v.file_id=f.id AND v.vector_store_id=? WHERE f.path IN ({marks}) AND v.status='completed'",
                        (vs_id, *unique))
        return {r["path"]: r for r in rows}

    def has_completed(self, vs_id: str) -> bool:
        return self.one("SELECT 1 AS x FROM vs_files WHERE vector_store_id=? AND status='completed' LIMIT 1",
                        (vs_id,)) is not None

    def set_attributes(self, vs_id: str, file_id: str, attributes: dict | None) -> None:
        with self.write() as db:
            db.execute("UPDATE vs_files SET attributes=? WHERE vector_store_id=? AND file_id=?",
                       (json.dumps(attributes) if attributes is not None else None, vs_id, file_id))
            _bump(db, vs_id)

    def detach(self, vs_id: str, file_id: str) -> None:
        with self.write() as db:
            db.execute("DELETE FROM vs_files WHERE vector_store_id=? AND file_id=?", (vs_id, file_id))
            _bump(db, vs_id)

    # -- batches -------------------------------------------------------------------------
    def batch(self, vs_id: str, batch_id: str) -> Row | None:
        return self.one("SELECT * FROM batches WHERE id=? AND vector_store_id=?", (batch_id, vs_id))

    def cancel_batch(self, vs_id: str, batch_id: str) -> None:
        """Files of the batch still waiting are cancelled; files being ingested finish."""
        with self.write() as db:
            db.execute("UPDATE batches SET cancelled=1 WHERE id=?", (batch_id,))
            db.execute("UPDATE vs_files SET status='cancelled' WHERE vector_store_id=? AND status='in_progress' "
                       "AND claimed_by IS NULL AND file_id IN (SELECT file_id FROM batch_files WHERE batch_id=?)",
                       (vs_id, batch_id))
            _bump(db, vs_id)

    # -- the ingestion queue -------------------------------------------------------------
    def claim(self, owner: str, limit: int) -> list[Row]:
        """Take up to ``limit`` waiting files of one store (the one waiting longest)."""
        with self.write() as db:
            first = db.execute("SELECT vector_store_id FROM vs_files WHERE status='in_progress' AND claimed_by IS NULL "
                               "ORDER BY seq LIMIT 1").fetchone()
            if first is None:
                return []
            rows = db.execute(
                "SELECT v.*, f.path, f.filename FROM vs_files v JOIN api_files f ON f.id=v.file_id "
                "WHERE v.vector_store_id=? AND v.status='in_progress' AND v.claimed_by IS NULL ORDER BY v.seq LIMIT ?",
                (first["vector_store_id"], limit)).fetchall()
            db.executemany("UPDATE vs_files SET claimed_by=?, claimed_at=?, attempts=attempts+1 "
                           "WHERE vector_store_id=? AND file_id=?",
                           [(owner, time.time(), r["vector_store_id"], r["file_id"]) for r in rows])
            orphans = db.execute("SELECT v.file_id FROM vs_files v LEFT JOIN api_files f ON f.id=v.file_id "
                                 "WHERE v.status='in_progress' AND v.claimed_by IS NULL AND f.id IS NULL").fetchall()
            for orphan in orphans:  # a file deleted while queued
                db.execute("DELETE FROM vs_files WHERE file_id=?", (orphan["file_id"],))
        return rows

    def finish(self, vs_id: str, file_id: str, owner: str, status: str, last_error: dict | None,
               chunks: int) -> bool:
        """Record an ingest outcome; False when the row was detached meanwhile (undo the ingest)."""
        with self.write() as db:
            cursor = db.execute(
                "UPDATE vs_files SET status=?, last_error=?, chunks=?, claimed_by=NULL "
                "WHERE vector_store_id=? AND file_id=? AND claimed_by=?",
                (status, json.dumps(last_error) if last_error else None, chunks, vs_id, file_id, owner))
            _bump(db, vs_id)
            return cursor.rowcount > 0

    def claims(self) -> list[Row]:
        return self.all("SELECT vector_store_id, file_id, claimed_by, attempts FROM vs_files "
                        "WHERE status='in_progress' AND claimed_by IS NOT NULL")

    def release(self, vs_id: str, file_id: str, owner: str, *, fail: dict | None = None, count: bool = True) -> None:
        """Put a claim back in the queue: a dead worker's (or fail it after too many attempts), or,
        with ``count=False``, one given up at shutdown, which does not count as an attempt."""
        with self.write() as db:
            if fail is None:
                uncount = "" if count else ", attempts=MAX(attempts - 1, 0)"
                db.execute(f"UPDATE vs_files SET claimed_by=NULL{uncount} WHERE vector_store_id=? AND file_id=? "
                           "AND claimed_by=?", (vs_id, file_id, owner))
            else:
                db.execute("UPDATE vs_files SET claimed_by=NULL, status='failed', last_error=? "
                           "WHERE vector_store_id=? AND file_id=? AND claimed_by=?",
                           (json.dumps(fail), vs_id, file_id, owner))
                _bump(db, vs_id)

    def waiting(self) -> bool:
        return self.one("SELECT 1 AS x FROM vs_files WHERE status='in_progress' AND claimed_by IS NULL LIMIT 1") is not None
