"""Background ingestion: a thread per server process that works the queue in ``vs_files``.

Clients attach files and poll; this thread claims waiting files (all of one store at a time, so a
batch becomes one ``kb.ingest`` run with one BM25 rebuild), ingests them and records each file
``completed`` or ``failed`` with OpenAI's ``last_error`` codes: ``unsupported_file`` for types
ragkit cannot read, ``invalid_file`` for files it could not parse (the loader's reason is the
message), ``server_error`` for anything else.

Crash safety: a claim names its process (``pid:token``). At start and every few seconds, claims
held by processes that no longer exist (``kill -9``, a crashed worker) are put back in the queue
and ingested again; ragkit's ingest is idempotent and crash-safe, so a file half-ingested when
the process died converges to exactly one copy of its chunks. A file that keeps killing its
worker is failed after :data:`MAX_ATTEMPTS`.

Shutdown (Ctrl-C, SIGTERM): the run in progress stops at its next step, as ``ragkit ingest``
does on Ctrl-C (the store stays consistent), its files go back in the queue without counting
as an attempt, and the thread is joined before the interpreter exits: a thread still inside the
embedding model at exit aborts the process ("terminate called without an active exception").
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from typing import Any

from ragkit.errors import RagkitError
from ragkit.server.db import MetaDB
from ragkit.server.stores import StoreRegistry

log = logging.getLogger("ragkit.server")

MAX_ATTEMPTS = 3
CLAIM_LIMIT = 1000  # files per ingest run: one BM25 rebuild per run, so not too few
RECOVER_EVERY = 5.0
#: seconds shutdown waits for the run in progress to reach its next step (a parse or an
#: embedding batch; an OCR page can take ~11 s)
STOP_WAIT = 60.0


class Stopped(BaseException):
    """Raised inside an ingest run when the server shuts down. A BaseException, like Ctrl-C: it is
    not an error of the files, and nothing on the way may catch it as one."""


class StopWhenAsked:
    """The pipeline's progress hooks, used as checkpoints: each raises :class:`Stopped` once the
    server is shutting down. The pipeline calls them between its steps, where stopping is safe."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def _check(self) -> None:
        if self._stop.is_set():
            raise Stopped

    def start(self, files: int) -> None:
        self._check()

    def file_done(self, result: Any) -> None:
        self._check()

    def chunks_planned(self, n: int) -> None:
        self._check()

    def chunks_embedded(self, n: int) -> None:
        self._check()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    def __init__(self, db: MetaDB, registry: StoreRegistry, on_change=None) -> None:
        self.db = db
        self.registry = registry
        self.owner = f"{os.getpid()}:{secrets.token_hex(6)}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_recover = 0.0
        self._on_change = on_change

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._run, name="ragkit-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_WAIT) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    # -- recovery ------------------------------------------------------------------------
    def recover(self) -> int:
        """Release claims of dead processes (or fail files that keep killing them)."""
        released = 0
        my_pid = os.getpid()
        for claim in self.db.claims():
            owner = claim["claimed_by"]
            if owner == self.owner:
                continue
            pid_text, _, _ = owner.partition(":")
            pid = int(pid_text) if pid_text.isdigit() else -1
            if pid != my_pid and pid > 0 and _alive(pid):
                continue  # another live worker process is on it
            fail = None
            if claim["attempts"] >= MAX_ATTEMPTS:
                fail = {"code": "server_error",
                        "message": f"ingestion was interrupted {claim['attempts']} times; giving up on this file"}
            self.db.release(claim["vector_store_id"], claim["file_id"], owner, fail=fail)
            released += 1
        if released:
            log.warning("resumed %d file(s) whose ingestion was interrupted", released)
        self._last_recover = time.monotonic()
        return released

    # -- the loop ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if time.monotonic() - self._last_recover > RECOVER_EVERY:
                    self.recover()
                rows = self.db.claim(self.owner, CLAIM_LIMIT)
                if not rows:
                    self._wake.wait(RECOVER_EVERY / 2)
                    self._wake.clear()
                    continue
                self.process(rows)
            except Exception:
                log.exception("ingestion loop error")
                time.sleep(1.0)

    def process(self, rows: list[dict[str, Any]]) -> None:
        vs_id = rows[0]["vector_store_id"]
        store = self.db.store(vs_id)
        if store is None:  # deleted while queued
            for row in rows:
                self.db.finish(vs_id, row["file_id"], self.owner, "cancelled", None, 0)
            return
        kb = self.registry.kb(store)
        missing = [row for row in rows if not os.path.isfile(row["path"])]
        for row in missing:  # the upload's bytes are gone (deleted meanwhile): nothing to read
            self.db.finish(vs_id, row["file_id"], self.owner, "failed",
                           {"code": "invalid_file", "message": "the uploaded file's content is missing"}, 0)
        rows = [row for row in rows if row not in missing]
        if not rows:
            return
        paths = [row["path"] for row in rows]
        results: dict[str, Any] = {}
        failure: dict[str, str] | None = None
        try:
            report = kb.ingest(paths, progress=StopWhenAsked(self._stop))
            results = {f.path: f for f in report.files}
        except Stopped:
            for row in rows:  # back in the queue; a shutdown is not a failed attempt
                self.db.release(vs_id, row["file_id"], self.owner, count=False)
            log.warning("shutting down: %d file(s) of %s go back in the queue", len(rows), vs_id)
            return
        except RagkitError as exc:
            failure = {"code": "server_error", "message": str(exc)}
        except Exception:
            log.exception("ingesting %d file(s) into %s", len(paths), vs_id)
            failure = {"code": "server_error", "message": "internal error while ingesting the file"}
        for row in rows:
            if failure is not None:
                status, error, chunks = "failed", failure, 0
            else:
                status, error, chunks = outcome(results.get(os.path.realpath(row["path"])) or results.get(row["path"]))
            if not self.db.finish(vs_id, row["file_id"], self.owner, status, error, chunks):
                self._forget(kb, row["path"])  # detached while being ingested: undo it
        if self._on_change is not None:
            self._on_change(vs_id)

    @staticmethod
    def _forget(kb: Any, path: str) -> None:
        try:
            kb.remove([path])
        except RagkitError:
            pass
