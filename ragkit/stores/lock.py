"""Inter-process locks: a file lock, and the collection write lock built on it or on PostgreSQL.

``ragkit serve --workers N`` runs N processes over the same home, and replicas on several hosts
share one state database; ingestion and BM25 rebuilds of a collection must not interleave
between any of them. :class:`CollectionLock` is what the pipeline, the server's ingest worker
and :meth:`KnowledgeBase.drop` hold; :func:`collection_lock` picks the file lock
(:class:`FileLock`) or the advisory lock (:mod:`ragkit.stores.advisory_lock`) from where the
state database is. ``fcntl.flock`` is released by the kernel when a process dies,
so a killed writer never leaves the lock held. Within one process a thread lock is taken first,
because flock is per open file and would not exclude two threads that each open the file.
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

from ragkit.state import StateDB

_thread_locks: dict[str, threading.RLock] = {}
_guard = threading.Lock()
_held = threading.local()


def _thread_lock(path: Path) -> threading.RLock:
    key = str(path.resolve())
    with _guard:
        return _thread_locks.setdefault(key, threading.RLock())


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock named by ``path`` (created if missing) for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    held: set[str] = _held.__dict__.setdefault("paths", set())
    if key in held:  # re-entered by the thread that holds it: a second flock would deadlock
        yield
        return
    with _thread_lock(path):
        handle = _locked_file(path)
        with handle:
            held.add(key)
            try:
                yield
            finally:
                held.discard(key)
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _locked_file(path: Path):
    """The lock file, opened and flocked. A holder may remove the file (:func:`remove_held_lock`,
    when its collection is dropped): whoever waited on the removed file then holds a lock nobody
    else can see, so it checks that the path still names the file it locked, and tries again on
    the new file if not."""
    while True:
        handle = open(path, "a+")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                return handle
        except FileNotFoundError:
            pass
        handle.close()


def remove_held_lock(path: Path) -> None:
    """Remove the lock file this thread holds (its collection is gone, so nothing will wait on
    it again); a waiter wakes up, sees the file gone and locks a new one. A lock this thread
    does not hold is left alone."""
    if str(path.resolve()) in _held.__dict__.get("paths", set()):
        path.unlink(missing_ok=True)


def is_locked(path: Path) -> bool:
    """Is the lock held right now (by another thread or process)? Never waits."""
    key = str(path.resolve())
    if key in _held.__dict__.get("paths", set()):
        return True
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


class CollectionLock(Protocol):
    """The write lock of one collection: every process that ingests into it, removes from it or
    drops it holds this lock for the whole run, so two runs never interleave. Re-entrant within
    a thread (an ingest run inside a removal pass takes it again without waiting for itself)."""

    def hold(self) -> AbstractContextManager[None]:
        """Hold the lock for a ``with`` block, waiting as long as another holder has it."""
        ...

    def is_held(self) -> bool:
        """Is the lock held right now, by this thread or anyone else? Never waits."""
        ...

    def retire(self) -> None:
        """The collection was dropped by this lock's holder: remove what the lock leaves behind
        (its file in the home), if anything. Called while holding it."""
        ...


@dataclass(frozen=True)
class FileLock:
    """The lock as a file in the home (``flock``): enough for the processes of one host, which
    is every process that can open a home whose state database is a SQLite file."""

    path: Path

    def hold(self) -> AbstractContextManager[None]:
        return file_lock(self.path)

    def is_held(self) -> bool:
        return is_locked(self.path)

    def retire(self) -> None:
        remove_held_lock(self.path)


def collection_lock(state: StateDB, home: Path, collection: str) -> CollectionLock:
    """The collection's write lock, where every process that can write the collection sees it:
    a file lock in ``home`` when the state database is a SQLite file (one host), a PostgreSQL
    advisory lock in the state database when it is a server (replicas on several hosts share
    the manifest, so they must share its lock too)."""
    if state.path is not None:
        return FileLock(home / f"ingest-{collection}.lock")
    from ragkit.stores.advisory_lock import AdvisoryLock

    return AdvisoryLock(state, f"ragkit-ingest:{collection}")
