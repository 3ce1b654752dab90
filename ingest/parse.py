"""Parsing beside the embedder: hash, load and split files in worker processes, in task order.

The embedder is the bottleneck of a first ingest, so parsing runs ahead of it in a process pool
(bounded by :data:`AHEAD_MAX_FILES` and :data:`AHEAD_MAX_BYTES`). A parser that crashes on a
hostile file takes only that file down: it is retried in a worker of its own and failed if it
kills that one too.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from ingest.loaders import LoadError, LoadOptions, load_file
from ingest.split import SplitConfig, split_document
from ragkit.models import Chunk
from ragkit.stores.manifest import file_sha256


@dataclass(frozen=True)
class ParseTask:
    """One file to parse. ``sha256`` is empty until the worker hashes the file (hashing is file
    I/O plus CPU, so it runs beside the embedder too); ``known_sha256`` is the manifest's hash for
    a file whose stat changed, so the worker can report it unchanged without parsing it."""

    path: str
    source: str
    sha256: str
    size: int
    mtime_ns: int
    split: SplitConfig
    options: LoadOptions
    known_sha256: str | None = None
    #: the local file to read when ``path`` is a logical name rather than a file (InputFile.key)
    read_from: str | None = None

    @property
    def local_file(self) -> Path:
        return Path(self.read_from or self.path)


@dataclass
class ParseOutcome:
    task: ParseTask
    chunks: list[Chunk] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    #: the content hash equals ``task.known_sha256``: nothing to parse or store
    unchanged: bool = False
    #: the loader's counts for this file (OCR pages, furniture lines removed, ...)
    stats: dict[str, int] = field(default_factory=dict)


def parse(task: ParseTask) -> ParseOutcome:
    """Hash, load and split one file. Never raises for a bad file: the error is in the outcome.

    The file is looked at (``stat``) just before it is hashed and again after it is split: the
    size and mtime kept are those of the bytes that were read, and a file written to meanwhile
    fails with a reason instead of storing a torn read under the hash of other bytes (what is
    stored for it already stays; the next run reads it again)."""
    looked = not task.sha256
    if looked:
        try:
            stat = os.stat(task.local_file)
            task = replace(task, size=stat.st_size, mtime_ns=stat.st_mtime_ns)
            task = replace(task, sha256=file_sha256(task.local_file))
        except OSError as exc:
            return ParseOutcome(task, error=f"cannot read file: {exc.strerror}")
        if task.sha256 == task.known_sha256:
            return ParseOutcome(task, unchanged=True)
    outcome = _load_and_split(task)
    changed = _changed_since(task) if looked else ""
    if changed:  # a torn read can look corrupt, so this reason goes first
        return ParseOutcome(task, error=f"file {changed} while it was being read; ingest again once it is "
                                        f"complete (what was stored for it before is kept)")
    return outcome


def _load_and_split(task: ParseTask) -> ParseOutcome:
    try:
        document = load_file(task.local_file, task.options)
        chunks = split_document(document, source=task.source, path=task.path, file_sha256=task.sha256,
                                config=task.split)
    except LoadError as exc:
        return ParseOutcome(task, error=exc.reason)
    except RecursionError:
        return ParseOutcome(task, error="corrupt: structure nested too deeply to parse")
    except Exception as exc:  # noqa: BLE001 - a parser bug on one hostile file must not stop the batch
        return ParseOutcome(task, error=f"parser failed: {type(exc).__name__}: {exc}")
    if not chunks:
        return ParseOutcome(task, error="no text after splitting", warnings=document.warnings)
    return ParseOutcome(task, chunks=chunks, warnings=document.warnings, stats=dict(document.stats))


def _changed_since(task: ParseTask) -> str:
    """"changed" or "deleted" when the file is not the one ``task``'s stat describes; else ""."""
    try:
        stat = os.stat(task.local_file)
    except OSError:
        return "deleted"
    return "" if (stat.st_size, stat.st_mtime_ns) == (task.size, task.mtime_ns) else "changed"


def _worker_init() -> None:
    import signal

    from ragkit.tiktoken_offline import ensure_tiktoken_offline

    # A terminal's Ctrl-C signals the whole process group: the run stops its parser processes
    # itself (:func:`_stop`), so they must not print a KeyboardInterrupt traceback each
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    ensure_tiktoken_offline()


def _die_with_parent() -> None:
    """Ask Linux to end this worker when the process that started it dies (``kill -9`` of a
    server or a CLI run), instead of leaving it orphaned. Elsewhere this is a no-op."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


def _ping() -> bool:
    return True


def _new_pool(workers: int) -> ProcessPoolExecutor | None:
    """A started worker pool, or None when workers cannot start here (e.g. a ``python -`` script,
    whose main module a spawned worker cannot re-import)."""
    import multiprocessing
    import sys

    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file is not None and not os.path.exists(main_file):
        return None
    context = multiprocessing.get_context("spawn")  # no fork: onnxruntime threads live in this process
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init)
    try:
        pool.submit(_ping).result(timeout=120)
    except Exception:  # noqa: BLE001 - any failure means: parse inline instead
        _stop(pool, terminate=True)
        return None
    return pool


def _parse_isolated(task: ParseTask) -> ParseOutcome:
    """Parse one file in a worker of its own, so a crash (a segfault in a parser) fails this file only."""
    pool = _new_pool(1)
    if pool is None:
        return ParseOutcome(task, error="parser process could not start")
    try:
        return pool.submit(parse, task).result()
    except BrokenProcessPool:
        return ParseOutcome(task, error="parser crashed on this file (the worker process died)")
    finally:
        _stop(pool, terminate=True)


#: How far parsing may run ahead of the embedder. A whole window must be able to parse while the
#: previous one embeds, or the embedder waits on the parser every window (a 4-file look-ahead
#: cost 10% of a first ingest); the byte budget bounds the memory held by parsed-but-unstored files.
AHEAD_MAX_FILES = 1024
AHEAD_MAX_BYTES = 64 << 20


def _may_submit(queued: int, queued_bytes: int, task: ParseTask, workers: int) -> bool:
    if queued < workers * 2:
        return True
    return queued < AHEAD_MAX_FILES and queued_bytes + task.size <= AHEAD_MAX_BYTES


#: Yielded by :func:`parse_stream` when the next outcome is not ready yet.
WAITING = None
#: Seconds between two :data:`WAITING` while a parse is still running.
WAIT_TICK = 0.5
#: The smallest window stored early because the parser fell behind (see ``WAITING``).
MIN_WINDOW = 64


def parse_stream(tasks: list[ParseTask], workers: int) -> Iterator[ParseOutcome | None]:
    """Yield outcomes in task order; with workers, parsing runs ahead of the consumer (bounded).

    While the next outcome is not ready, it yields :data:`WAITING` (at once, then every
    :data:`WAIT_TICK` seconds), so the consumer can put what it holds to use (the embedder is
    the bottleneck; it should not idle) and can stop between two ticks rather than after a long
    parse (an OCR'd scan) has finished.

    A worker that dies takes down its pool: the file it was parsing is retried alone, failed if it
    kills that worker too, and the remaining files go to a fresh pool. The batch always completes.
    """
    pool = _new_pool(workers) if workers > 0 and len(tasks) >= 2 else None
    if pool is None:
        for task in tasks:
            yield parse(task)
        return
    remaining = deque(tasks)
    queue: deque = deque()
    queued_bytes = 0
    try:
        while remaining or queue:
            while remaining and _may_submit(len(queue), queued_bytes, remaining[0], workers):
                task = remaining.popleft()
                queue.append((task, pool.submit(parse, task)))
                queued_bytes += task.size
            task, future = queue[0]
            while not future.done():
                yield WAITING
                wait([future], timeout=WAIT_TICK)
            queue.popleft()
            queued_bytes -= task.size
            try:
                outcome = future.result()
            except BrokenProcessPool:
                _stop(pool, terminate=True)
                outcome = _parse_isolated(task)
                remaining.extendleft(reversed([t for t, _ in queue]))
                queue.clear()
                queued_bytes = 0
                pool = _new_pool(workers)
                if pool is None:  # workers no longer start: finish inline
                    yield outcome
                    for rest in remaining:
                        yield parse(rest)
                    return
            yield outcome
    except BaseException:
        # Interrupted (Ctrl-C, or the consumer closed us): do not wait for files in flight.
        _stop(pool, terminate=True)
        pool = None
        raise
    finally:
        _stop(pool, terminate=False)


def _stop(pool: ProcessPoolExecutor | None, *, terminate: bool) -> None:
    """Shut the pool down and join its manager thread.

    Never ``wait=False``: a manager thread still running at interpreter exit races CPython's own
    exit hook, which then writes to a closed pipe and prints "Exception ignored ... Bad file
    descriptor" after a clean Ctrl-C. Terminating the workers first keeps that join short.
    """
    if pool is None:
        return
    if terminate:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


