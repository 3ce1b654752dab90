"""The ingest queue: the rows of ``vs_files`` still ``in_progress``, and the stores to purge.

A row ``in_progress`` with no ``claimed_by`` is waiting; a worker claims rows of one store in one
transaction, so two workers (processes, or replicas on other hosts) never ingest the same file. A
claim is a lease: ``claimed_at`` is when its owner last renewed it (:meth:`IngestQueue.renew`, by
the worker's heartbeat, :mod:`ragkit.library.leases`), and a claim whose owner died or stopped
renewing is found (:meth:`IngestQueue.claims`) and put back (:meth:`IngestQueue.release`) by any
worker.
Finishing a claim names its owner: a row detached, re-claimed or cancelled meanwhile is not
overwritten, and the caller learns it must undo the ingest. A claimed file whose batch is cancelled
(:meth:`ragkit.state.library.Library.cancel_batch`) is ``cancelled`` at once but stays claimed --
leased, renewed and recovered like any claim -- until its worker has removed what it stored of it
and lets go (:meth:`IngestQueue.drop_cancelled`); until then its batch is ``cancelling``. A deleted
store stays as a row marked ``deleted`` until the worker has dropped its collection, then is
forgotten (:meth:`IngestQueue.forget_store`).
"""

from __future__ import annotations

import json
import time

from ragkit.state.library import bump
from ragkit.state.tables import Row, Tables


class IngestQueue(Tables):
    """Claims, outcomes and purges of the server's one ingest writer per store."""

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
        """Record an ingest outcome; False when the row was detached or cancelled meanwhile (undo
        the ingest; a cancelled row stays claimed until :meth:`drop_cancelled`)."""
        with self.write() as db:
            cursor = db.execute(
                "UPDATE vs_files SET status=?, last_error=?, chunks=?, claimed_by=NULL "
                "WHERE vector_store_id=? AND file_id=? AND claimed_by=? AND status='in_progress'",
                (status, json.dumps(last_error) if last_error else None, chunks, vs_id, file_id, owner))
            bump(db, vs_id)
            return cursor.rowcount > 0

    def holds_cancelled(self, vs_id: str, owner: str) -> bool:
        """Was a file ``owner`` is ingesting into the store cancelled meanwhile?"""
        return self.one("SELECT 1 AS x FROM vs_files WHERE vector_store_id=? AND claimed_by=? "
                        "AND status='cancelled' LIMIT 1", (vs_id, owner)) is not None

    def drop_cancelled(self, vs_id: str, owner: str) -> int:
        """Let go of the cancelled files ``owner`` held in the store (what it stored of them is
        removed): they end ``cancelled`` with no chunks. Returns how many."""
        with self.write() as db:
            dropped = db.execute("UPDATE vs_files SET claimed_by=NULL, chunks=0 WHERE vector_store_id=? "
                                 "AND claimed_by=? AND status='cancelled'", (vs_id, owner)).rowcount
            if dropped:
                bump(db, vs_id)
            return dropped

    def requeue(self, vs_id: str, owner: str) -> int:
        """Put the files ``owner`` is ingesting into the store back in the queue, without counting
        the attempt (its run stopped early); cancelled ones stay held (:meth:`drop_cancelled`)."""
        with self.write() as db:
            return db.execute("UPDATE vs_files SET claimed_by=NULL, attempts=CASE WHEN attempts > 0 "
                              "THEN attempts - 1 ELSE 0 END WHERE vector_store_id=? AND claimed_by=? "
                              "AND status='in_progress'", (vs_id, owner)).rowcount

    def claims(self) -> list[Row]:
        """Every claim held: store, file, status (``cancelled``: the worker still has to let go),
        owner, when it was last renewed, attempts so far."""
        return self.all("SELECT vector_store_id, file_id, status, claimed_by, claimed_at, attempts FROM vs_files "
                        "WHERE status IN ('in_progress', 'cancelled') AND claimed_by IS NOT NULL")

    def renew(self, owner: str, at: float | None = None) -> int:
        """Renew every claim ``owner`` holds (its lease runs from now); returns how many."""
        with self.write() as db:
            return db.execute("UPDATE vs_files SET claimed_at=? WHERE claimed_by=? "
                              "AND status IN ('in_progress', 'cancelled')",
                              (time.time() if at is None else at, owner)).rowcount

    def release(self, vs_id: str, file_id: str, owner: str, *, fail: dict | None = None, count: bool = True,
                renewed_at: float | None = None) -> bool:
        """Put a claim back in the queue: a dead worker's (or fail it after too many attempts), or,
        with ``count=False``, one given up at shutdown, which does not count as an attempt.

        ``renewed_at``: the claim's ``claimed_at`` as the caller saw it when it judged the lease
        abandoned; a claim renewed since is kept. A cancelled file's claim is only let go of: it
        stays ``cancelled`` (the caller removes what was stored of it). False when nothing was released."""
        guard, args = "", [vs_id, file_id, owner]
        if renewed_at is not None:
            guard = " AND (claimed_at IS NULL OR claimed_at <= ?)"
            args.append(renewed_at)
        with self.write() as db:
            if fail is None:
                uncount = "" if count else ", attempts=CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END"
                return db.execute(f"UPDATE vs_files SET claimed_by=NULL{uncount} WHERE vector_store_id=? "
                                  f"AND file_id=? AND claimed_by=?{guard}", args).rowcount > 0
            done = db.execute(f"UPDATE vs_files SET claimed_by=NULL, "
                              f"last_error=CASE WHEN status='cancelled' THEN NULL ELSE ? END, "
                              f"status=CASE WHEN status='cancelled' THEN status ELSE 'failed' END "
                              f"WHERE vector_store_id=? AND file_id=? AND claimed_by=?{guard}",
                              [json.dumps(fail), *args]).rowcount > 0
            bump(db, vs_id)
            return done

    def still_claimed(self, vs_id: str, owner: str) -> bool:
        """Does ``owner`` still hold a claim in the store? False once every file of its run was
        detached or deleted (the run is then cancelled: nobody wants its outcome)."""
        return self.one("SELECT 1 AS x FROM vs_files WHERE vector_store_id=? AND claimed_by=? LIMIT 1",
                        (vs_id, owner)) is not None

    def waiting(self) -> bool:
        return self.one("SELECT 1 AS x FROM vs_files WHERE status='in_progress' AND claimed_by IS NULL LIMIT 1") is not None

    def live_store_ids(self) -> list[str]:
        """Every vector store not deleted (whose collections the worker keeps in step)."""
        return [r["id"] for r in self.all("SELECT id FROM vector_stores WHERE deleted=0")]

    def deleted_stores(self, grace: float = 0.0) -> list[Row]:
        """Stores deleted by a client at least ``grace`` seconds ago whose collections have not
        been purged yet (the grace lets other processes' searches and ingests of the store end)."""
        return self.all("SELECT * FROM vector_stores WHERE deleted=1 AND COALESCE(last_active_at, 0) <= ?",
                        (time.time() - grace,))

    def forget_store(self, vs_id: str) -> None:
        """A deleted store's collection is purged: drop its row for good."""
        with self.write() as db:
            db.execute("DELETE FROM vector_stores WHERE id=? AND deleted=1", (vs_id,))
