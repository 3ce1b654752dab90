"""Background ingestion: a thread per process that works the queue in ``vs_files``.

Clients attach files and poll; this thread claims waiting files (all of one store at a time, so a
batch becomes one ``kb.ingest_named`` run with one BM25 rebuild), ingests them and records each file
``completed`` or ``failed`` with OpenAI's ``last_error`` codes: ``unsupported_file`` for types
ragkit cannot read, ``invalid_file`` for files it could not parse (the loader's reason is the
message), ``server_error`` for anything else.

Crash safety: a claim is a lease naming its worker's host and process, renewed by a heartbeat
(:mod:`ragkit.library.leases`). At start and every few seconds, claims whose process is gone
(``kill -9`` on this host) or whose lease expired (a worker on another host that died) are put
back in the queue and ingested again, by whichever replica gets them first; ragkit's ingest is
idempotent and crash-safe, so a file half-ingested when the process died converges to exactly one
copy of its chunks. A file that keeps killing its worker is failed after :data:`MAX_ATTEMPTS`.
A run cut short by the database going away (a restart, a failover: every pooled connection dies)
is not the files' fault either: they go back in the queue the same way, counted as an attempt.

A vector store file is ingested under its key (``files/<file_id>/<name>``, the same on every
replica) from a local copy of its bytes (:mod:`ragkit.library.file_bytes`), fetched from the state
database when this replica does not have one.

One writer per process: everything that changes a store's index happens in this thread. A
request that deletes a store or detaches a file only changes the metadata (the store or file
vanishes from every listing and search at once) and tells the worker, which cancels an ingest
of that store at its next step, then drops the store's collection (:meth:`StoreRegistry.purge`,
after searches still reading it end) or removes the detached files' chunks. Both are worked out
from the metadata, not from a message, so a restart finishes what a crash left undone: stores
marked deleted are purged, and chunks of files no longer attached are removed.

Cancelling a batch marks its unfinished files ``cancelled`` at once (:meth:`Library.cancel_batch
<ragkit.state.library.Library.cancel_batch>`); files this worker is ingesting stay claimed by it.
The run notices at its next step (the store's claims are read every :data:`CANCEL_POLL` seconds)
and stops; what it stored of the cancelled files is removed before they are let go of (their
batch is ``cancelling`` until then), and the run's other files go back in the queue. A cancel
that comes after the run's last step is handled the same way when the run records its outcomes.

Shutdown (Ctrl-C, SIGTERM): the run in progress stops at its next step, as ``ragkit ingest``
does on Ctrl-C (the store stays consistent), its files go back in the queue without counting
as an attempt, and the thread is joined before the interpreter exits: a thread still inside the
embedding model at exit aborts the process ("terminate called without an active exception").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragkit.errors import RagkitError
from ragkit.library.file_bytes import ContentMissing, FileBytes
from ragkit.library.leases import Heartbeat, Owner, abandoned
from ragkit.library.registry import StoreGone, StoreRegistry
from ragkit.state.database import unreachable
from ragkit.state.server import ServerState

log = logging.getLogger("ragkit.library")

MAX_ATTEMPTS = 3
CLAIM_LIMIT = 1000  # files per ingest run: one BM25 rebuild per run, so not too few
RECOVER_EVERY = 5.0
#: seconds between checks, during an ingest run, that its store still exists
CANCEL_POLL = 0.5
#: seconds a deleted store waits before its collection is dropped, so that searches and ingests of
#: it in other worker processes (which poll every CANCEL_POLL) end first
PURGE_GRACE = 3.0
#: seconds shutdown waits for the run in progress to reach its next step (a parse or an
#: embedding batch; an OCR page can take ~11 s)
STOP_WAIT = 60.0


class Stopped(BaseException):
    """Raised inside an ingest run when the server shuts down. A BaseException, like Ctrl-C: it is
    not an error of the files, and nothing on the way may catch it as one."""


class Cancelled(BaseException):
    """Raised inside an ingest run whose vector store was deleted, all of whose files were
    detached or deleted, or one of whose files was cancelled (its batch was), meanwhile."""


class Checkpoints:
    """The pipeline's progress hooks, used as checkpoints: each raises :class:`Stopped` once the
    server is shutting down, or :class:`Cancelled` once the store being ingested is deleted (by
    this process, or -- checked at most every :data:`CANCEL_POLL` seconds -- by another one).
    The pipeline calls them between its steps, where stopping is safe."""

    def __init__(self, stop: threading.Event, cancelled: Callable[[], bool]) -> None:
        self._stop = stop
        self._cancelled = cancelled

    def _check(self) -> None:
        if self._stop.is_set():
            raise Stopped
        if self._cancelled():
            raise Cancelled

    def start(self, files: int) -> None:
        self._check()

    def file_done(self, result: Any) -> None:
        self._check()

    def chunks_planned(self, n: int) -> None:
        self._check()

    def chunks_embedded(self, n: int) -> None:
        self._check()


def outcome(result: Any | None) -> tuple[str, dict[str, str] | None, int]:
    """(status, last_error, chunks) of one file's ingest result."""
    if result is None:
        return "failed", {"code": "server_error", "message": "the file was not ingested"}, 0
    if result.status in ("added", "updated", "unchanged"):
        return "completed", None, result.chunks
    if result.status == "skipped":
        return "failed", {"code": "unsupported_file", "message": result.reason or "unsupported file type"}, 0
    return "failed", {"code": "invalid_file", "message": result.reason or "the file could not be read"}, 0


class IngestWorker:
    def __init__(self, db: ServerState, registry: StoreRegistry, files: FileBytes, on_change=None) -> None:
        self.db = db
        self.registry = registry
        self.files = files
        self.me = Owner.new()
        self.owner = str(self.me)
        self._holding = threading.Event()  # set while this worker holds claims (renewed by the heartbeat)
        self._heartbeat = Heartbeat(lambda: self.db.renew(self.owner), self._holding.is_set)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_recover = 0.0
        self._on_change = on_change
        self._lock = threading.Lock()
        self._cancelled: set[str] = set()  # stores deleted by this process, not yet purged
        self._dirty: set[str] = set()  # stores whose detached files' chunks may remain

    def start(self) -> None:
        self.recover()
        with self._lock:  # chunks left behind by a crash are found and removed once
            self._dirty.update(self.db.live_store_ids())
        self._heartbeat.start()
        self._thread = threading.Thread(target=self._run, name="ragkit-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_WAIT) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._heartbeat.stop()

    def wake(self) -> None:
        self._wake.set()

    def cancel(self, vs_id: str) -> None:
        """The store was deleted: stop ingesting into it and purge it."""
        with self._lock:
            self._cancelled.add(vs_id)
        self._wake.set()

    def detached(self, vs_id: str) -> None:
        """Files left the store: remove their chunks (the metadata already hides them)."""
        with self._lock:
            self._dirty.add(vs_id)
        self._wake.set()

    # -- recovery ------------------------------------------------------------------------
    def recover(self) -> int:
        """Release abandoned claims -- of dead processes on this host, or whose lease expired --
        or fail files that keep killing their workers."""
        released = 0
        now = time.time()
        for claim in self.db.claims():
            owner = claim["claimed_by"]
            # This worker recovers between its runs: a claim of its own outlived a run whose
            # release failed (the database was down then), and nobody else would take it back.
            if owner != self.owner and not abandoned(owner, claim["claimed_at"], self.me, now):
                continue  # a live worker's, on this or another host
            released += self._release(claim, owner, renewed_at=claim["claimed_at"])
        if released:
            log.warning("resumed %d file(s) whose ingestion was interrupted", released)
        self._last_recover = time.monotonic()
        return released

    def _release(self, claim: dict[str, Any], owner: str, renewed_at: float | None = None) -> bool:
        fail = None
        if claim["attempts"] >= MAX_ATTEMPTS:
            fail = {"code": "server_error",
                    "message": f"ingestion was interrupted {claim['attempts']} times; giving up on this file"}
        released = self.db.release(claim["vector_store_id"], claim["file_id"], owner, fail=fail,
                                   renewed_at=renewed_at)
        if released and claim["status"] == "cancelled":
            self.detached(claim["vector_store_id"])  # a cancelled file stays so: what was stored of it goes
        return released

    def _release_mine(self) -> None:
        """After an unexpected error: this worker's claims go back in the queue (counted as an
        attempt), so no file waits ``in_progress`` for a claim nobody will finish."""
        for claim in self.db.claims():
            if claim["claimed_by"] == self.owner:
                self._release(claim, self.owner)

    # -- the loop ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if time.monotonic() - self._last_recover > RECOVER_EVERY:
                    self.recover()
                self.purge_deleted()
                if self.db.deleted_stores():
                    # a store deleted moments ago: its purge goes before an ingest run that may
                    # take minutes (at a restart, "deleted, then killed" must not wait for it)
                    self._stop.wait(PURGE_GRACE)
                    self.purge_deleted()
                self.remove_detached()
                self._holding.set()  # from the claim on: a slow claim must not outlive its lease
                try:
                    rows = self.db.claim(self.owner, CLAIM_LIMIT)
                    if rows:
                        self.process(rows)
                finally:
                    self._holding.clear()
                if not rows:
                    self._wake.wait(RECOVER_EVERY / 2)
                    self._wake.clear()
            except Exception:
                log.exception("ingestion loop error")
                try:
                    self._release_mine()
                except Exception:  # noqa: BLE001 - the database itself failing: try again later
                    log.exception("releasing this worker's files")
                time.sleep(1.0)

    def purge_deleted(self) -> None:
        """Drop the collections of deleted stores (deleted by any process, before or after a
        restart), then forget the stores' rows."""
        for store in self.db.deleted_stores(grace=PURGE_GRACE):
            self.registry.purge(store)
            self.db.forget_store(store["id"])
            with self._lock:
                self._cancelled.discard(store["id"])
                self._dirty.discard(store["id"])

    def remove_detached(self) -> None:
        """Remove the chunks of files no longer attached to their store (detached or deleted) or
        cancelled. What is attached is read under the store's ingest lock, so a file attached
        again and ingested by another worker process meanwhile is never removed after the fact."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        pending = list(dirty)
        try:
            while pending:
                vs_id = pending[0]
                store = self.db.store(vs_id)
                if store is not None:
                    with self.registry.lease(store) as kb, kb.ingest_lock.hold():
                        attached = {row["path"] for row in
                                    self.db.vs_files(vs_id, ("in_progress", "completed", "failed"))}
                        stale = [record.path for record in kb.manifest.files() if record.path not in attached]
                        if stale:
                            kb.remove(stale)
                pending.pop(0)
        except BaseException:
            with self._lock:  # what was not done yet is tried again on the next pass
                self._dirty.update(pending)
            raise

    def _is_cancelled(self, vs_id: str) -> Callable[[], bool]:
        last_check = [time.monotonic()]

        def cancelled() -> bool:
            if vs_id in self._cancelled:
                return True
            if time.monotonic() - last_check[0] < CANCEL_POLL:
                return False
            last_check[0] = time.monotonic()
            return (self.db.store(vs_id) is None or not self.db.still_claimed(vs_id, self.owner)
                    or self.db.holds_cancelled(vs_id, self.owner))
        return cancelled

    def _local_copies(self, vs_id: str, rows: list[dict[str, Any]]) -> dict[str, Path]:
        """Each claimed file's bytes on this replica (by file id); a file whose bytes are gone
        (deleted meanwhile) is failed: there is nothing to read."""
        local: dict[str, Path] = {}
        for row in rows:
            try:
                local[row["file_id"]] = self.files.materialize(row["path"])
            except ContentMissing:
                self.db.finish(vs_id, row["file_id"], self.owner, "failed",
                               {"code": "invalid_file", "message": "the uploaded file's content is missing"}, 0)
        return local

    def process(self, rows: list[dict[str, Any]]) -> None:
        """Ingest claimed files of one store and record each outcome; files cancelled meanwhile
        end with none of their chunks left (:meth:`_let_go_of_cancelled`)."""
        vs_id = rows[0]["vector_store_id"]
        try:
            self._ingest(vs_id, rows)
        finally:
            self._let_go_of_cancelled(vs_id)

    def _let_go_of_cancelled(self, vs_id: str) -> None:
        """Files of this run cancelled meanwhile (their batch was): remove what the run stored of
        them, then let go, so that a batch reported ``cancelled`` has no chunk of them left."""
        if not self.db.holds_cancelled(vs_id, self.owner):
            return
        try:
            if not self._stop.is_set():  # at shutdown the restart removes them (every store is checked)
                self.detached(vs_id)
                self.remove_detached()
        except Exception:  # noqa: BLE001 - the store is checked again on the next pass
            log.exception("removing cancelled files of %s", vs_id)
        finally:
            self.db.drop_cancelled(vs_id, self.owner)

    def _ingest(self, vs_id: str, rows: list[dict[str, Any]]) -> None:
        store = self.db.store(vs_id)
        if store is None:  # deleted while queued
            for row in rows:
                self.db.finish(vs_id, row["file_id"], self.owner, "cancelled", None, 0)
            return
        local = self._local_copies(vs_id, rows)
        rows = [row for row in rows if row["file_id"] in local]
        if not rows:
            return
        named = [(row["path"], local[row["file_id"]]) for row in rows]
        results: dict[str, Any] = {}
        failure: dict[str, str] | None = None
        try:
            with self.registry.lease(store) as kb:
                report = kb.ingest_named(named, progress=Checkpoints(self._stop, self._is_cancelled(vs_id)))
            results = {f.path: f for f in report.files}
        except Stopped:
            for row in rows:  # back in the queue; a shutdown is not a failed attempt
                self.db.release(vs_id, row["file_id"], self.owner, count=False)
            log.warning("shutting down: %d file(s) of %s go back in the queue", len(rows), vs_id)
            return
        except (Cancelled, StoreGone):
            if self.db.store(vs_id) is None:
                # The store is gone (the purge drops the rest): rows still claimed are cancelled.
                for row in rows:
                    self.db.finish(vs_id, row["file_id"], self.owner, "cancelled", None, 0)
                self.registry.purge(store)  # what this run wrote after another process purged
                return
            # Files of the run were detached or cancelled: what the run stored of them is removed
            # (cancelled ones just after, by process()), the files still wanted go back in the
            # queue without counting as an attempt, and the next run ingests them.
            self.detached(vs_id)
            self.db.requeue(vs_id, self.owner)
            return
        except RagkitError as exc:
            failure = {"code": "server_error", "message": str(exc)}
        except Exception as exc:
            if unreachable(exc):  # not the files' fault: back in the queue, counted as an attempt
                log.warning("the database went away while ingesting %d file(s) into %s; they go back in "
                            "the queue: %s", len(rows), vs_id, str(exc).splitlines()[0])
                self._release_mine()
                return
            log.exception("ingesting %d file(s) into %s", len(named), vs_id)
            failure = {"code": "server_error", "message": "internal error while ingesting the file"}
        detached = False
        for row in rows:
            if failure is not None:
                status, error, chunks = "failed", failure, 0
            else:
                status, error, chunks = outcome(results.get(row["path"]))
            if not self.db.finish(vs_id, row["file_id"], self.owner, status, error, chunks):
                detached = True  # detached while being ingested: its chunks are removed next
        if detached:
            self.detached(vs_id)
        if self._on_change is not None:
            self._on_change(vs_id)
