"""One SQLite connection per thread, for state shared by threads (and processes).

A ``sqlite3.Connection`` must not be used by two threads at once; a knowledge base shared by a
server's request threads needs one per thread. WAL lets readers run while one writer commits,
and a generous busy timeout lets writers from several processes queue instead of failing.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Callable


class ThreadConnections:
    """``.db`` is this thread's connection to ``path``, opened on first use; ``close()`` closes all."""

    def __init__(self, path: Path, *, pragmas: tuple[str, ...] = (),
                 row_factory: Callable | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._pragmas = ("journal_mode=WAL", "synchronous=NORMAL", *pragmas)
        self._row_factory = row_factory
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @property
    def db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
            if self._row_factory is not None:
                db.row_factory = self._row_factory
            for pragma in self._pragmas:
                db.execute(f"PRAGMA {pragma}")
            self._local.db = db
            with self._lock:
                self._opened.append(db)
        return db

    def __len__(self) -> int:
        """How many connections are open (one per thread that used the store)."""
        with self._lock:
            return len(self._opened)

    def close(self) -> None:
        with self._lock:
            for db in self._opened:
                db.close()
            self._opened.clear()
        self._local = threading.local()
