"""An inter-process lock on a file, so several processes can share one knowledge base.

``ragkit serve --workers N`` runs N processes over the same home; ingestion and BM25 rebuilds
must not interleave between them. ``fcntl.flock`` is released by the kernel when a process dies,
so a killed writer never leaves the lock held. Within one process a thread lock is taken first,
because flock is per open file and would not exclude two threads that each open the file.
"""

from __future__ import annotations

import fcntl
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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
        with open(path, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            held.add(key)
            try:
                yield
            finally:
                held.discard(key)
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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
