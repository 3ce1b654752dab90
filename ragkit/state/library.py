"""The library the server keeps: uploaded files, vector stores, the files attached to them and
the batches that attached them.

Everything the OpenAI API exposes that is not a chunk lives here, in the home's state database, so
it survives a restart and is shared by ``--workers N`` processes. Uploaded files are the table
``api_files`` (``files`` is the ingest manifest's). A vector store is never deleted at once: it is
marked ``deleted`` (gone for every client) and the ingest worker purges it
(:mod:`ragkit.state.queue`). ``files_version`` counts changes to a store's files and their
attributes, so answers cached for the store can tell they are stale.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragkit.state.database import StateDB
from ragkit.state.session import Session
from ragkit.state.tables import Cursor, Page, Row, Tables, bury, now

#: a vector store file's states; ``in_progress`` rows double as the ingest queue
FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")


def bump(db: Session, vs_id: str) -> None:
    """A store's files or their attributes changed: answers cached for it are stale."""
    db.execute("UPDATE vector_stores SET files_version = files_version + 1 WHERE id=?", (vs_id,))


class Library(Tables):
    """Files, vector stores, their files and batches."""

    def __init__(self, target: StateDB | Path | str) -> None:
        super().__init__(target)
        self._touched: dict[str, float] = {}

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
            bury(db, "vs_files", "file_id=?", (file_id,), id_column="file_id", scope_column="vector_store_id")
            bury(db, "api_files", "id=?", (file_id,))
            db.execute("DELETE FROM vs_files WHERE file_id=?", (file_id,))
            db.execute("DELETE FROM api_files WHERE id=?", (file_id,))
            for vs_id in stores:
                bump(db, vs_id)
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
            bury(db, "vector_stores", "id=? AND deleted=0", (vs_id,))
            # last_active_at of a deleted store is when it was deleted (the purge's grace period)
            db.execute("UPDATE vector_stores SET deleted=1, last_active_at=? WHERE id=?", (now(), vs_id))
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
                    db.execute("INSERT INTO batch_files(batch_id, file_id) VALUES(?,?) ON CONFLICT DO NOTHING",
                               (batch_id, file_id))
            bump(db, vs_id)

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
        # SQLite's CROSS JOIN fixes the join order: from the few paths to their rows, never a scan of the store.
        join = self.state.dialect.ordered_join
        rows = self.all(f"SELECT v.*, f.filename, f.path, f.bytes FROM api_files f {join} vs_files v "
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
            bump(db, vs_id)

    def detach(self, vs_id: str, file_id: str) -> None:
        with self.write() as db:
            bury(db, "vs_files", "vector_store_id=? AND file_id=?", (vs_id, file_id), id_column="file_id",
                 scope_column="vector_store_id")
            db.execute("DELETE FROM vs_files WHERE vector_store_id=? AND file_id=?", (vs_id, file_id))
            bump(db, vs_id)

    # -- batches -------------------------------------------------------------------------
    def batch(self, vs_id: str, batch_id: str) -> Row | None:
        return self.one("SELECT * FROM batches WHERE id=? AND vector_store_id=?", (batch_id, vs_id))

    def cancel_batch(self, vs_id: str, batch_id: str) -> bool:
        """Cancel the batch's files not finished yet; False (nothing changes) when none is left,
        so a completed batch stays completed. A file waiting in the queue is cancelled for good;
        a file being ingested is marked ``cancelled`` but stays claimed: its worker stops, removes
        what it stored of it and lets go (:meth:`ragkit.state.queue.IngestQueue.drop_cancelled`),
        and until then the batch is ``cancelling``."""
        with self.write() as db:
            changed = db.execute(
                "UPDATE vs_files SET status='cancelled', last_error=NULL WHERE vector_store_id=? "
                "AND status='in_progress' AND file_id IN (SELECT file_id FROM batch_files WHERE batch_id=?)",
                (vs_id, batch_id)).rowcount
            if not changed:
                return False
            db.execute("UPDATE batches SET cancelled=1 WHERE id=?", (batch_id,))
            bump(db, vs_id)
        return True

    def batch_status(self, row: Row) -> tuple[str, dict[str, int]]:
        """A batch's status and file counts. A cancelled batch is ``cancelling`` while a worker
        still holds one of its files, then ``cancelled``."""
        vs_id, batch_id = row["vector_store_id"], row["id"]
        counts, _ = self.counts(vs_id, batch_id)
        if row["cancelled"]:
            running = self.one("SELECT 1 AS x FROM vs_files WHERE vector_store_id=? AND claimed_by IS NOT NULL "
                               "AND file_id IN (SELECT file_id FROM batch_files WHERE batch_id=?) LIMIT 1",
                               (vs_id, batch_id))
            return ("cancelling" if running or counts["in_progress"] else "cancelled"), counts
        if counts["in_progress"]:
            return "in_progress", counts
        if counts["total"] and counts["failed"] == counts["total"]:
            return "failed", counts
        return "completed", counts

    # -- cursor pages ----------------------------------------------------------------------
    def files_page(self, cursor: Cursor, *, purpose: str | None = None,
                   visible: Sequence[str] | None = None) -> Page:
        """Uploaded files, of one ``purpose`` if given, among ``visible`` ids if given."""
        where, args = "1=1", []
        if purpose:
            where, args = "purpose=?", [purpose]
        if visible is not None:
            where += f" AND id IN ({','.join('?' * len(visible)) or 'NULL'})"
            args += list(visible)
        return self.page("api_files", where, args, cursor)

    def all_files(self) -> list[Row]:
        return self.all("SELECT * FROM api_files")

    def stores_page(self, cursor: Cursor, *, creator: str | None = None,
                    allowed: Sequence[str] | None = None) -> Page:
        """Live vector stores; with ``creator``, only those it created or whose ids are ``allowed``."""
        where, args = "deleted=0", []
        if creator is not None:
            ids = sorted(allowed or ())
            where += f" AND (created_by=? OR id IN ({','.join('?' * len(ids)) or 'NULL'}))"
            args = [creator, *ids]
        return self.page("vector_stores", where, args, cursor)

    def store_files_page(self, vs_id: str, cursor: Cursor, *, status: str | None = None,
                         batch_id: str | None = None) -> Page:
        """A store's files (of one batch, in one status, if given), keyed by ``file_id``."""
        where, args = "vector_store_id=?", [vs_id]
        if batch_id is not None:
            where += " AND file_id IN (SELECT file_id FROM batch_files WHERE batch_id=?)"
            args.append(batch_id)
        listed = (where, tuple(args))  # a file that changed status since the last page still places a cursor
        if status:
            where += " AND status=?"
            args.append(status)
        return self.page("vs_files", where, args, cursor, id_column="file_id", scope=vs_id, within=listed)

    def stores_holding(self, file_id: str) -> list[Row]:
        """The live stores a file is attached to (id and creator: who may see the file)."""
        return self.all("SELECT s.id, s.created_by FROM vs_files v JOIN vector_stores s ON s.id=v.vector_store_id "
                        "WHERE v.file_id=? AND s.deleted=0", (file_id,))
