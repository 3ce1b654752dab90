"""The collection write lock: a file lock for a SQLite home, a PostgreSQL advisory lock for a shared
state database -- held across processes, re-entrant in a thread, released when its holder is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from state_backends import state, state_url  # noqa: F401 - fixtures

from ragkit.stores.advisory_lock import AdvisoryLock, lock_key
from ragkit.stores.lock import FileLock, collection_lock

ROOT = Path(__file__).resolve().parent.parent
HOLDER = """
import sys, time
from ragkit.state import open_database
from ragkit.stores.lock import collection_lock
lock = collection_lock(open_database(sys.argv[1]), __import__('pathlib').Path(sys.argv[2]), "docs")
with lock.hold():
    print("held", flush=True)
    time.sleep(600)
"""


def test_the_factory_picks_the_lock_every_writer_can_see(state, tmp_path):
    lock = collection_lock(state, tmp_path, "docs")
    if state.path is not None:
        assert lock == FileLock(tmp_path / "ingest-docs.lock")
    else:
        assert isinstance(lock, AdvisoryLock) and lock.key == lock_key("ragkit-ingest:docs")
        assert lock.key != lock_key("ragkit-ingest:other")


def test_reentrant_in_a_thread_and_exclusive_between_threads(state, tmp_path):
    lock = collection_lock(state, tmp_path, "docs")
    acquired = threading.Event()

    def other() -> None:
        with lock.hold():
            acquired.set()

    assert not lock.is_held()
    with lock.hold():
        with lock.hold():  # a removal pass that ingests takes it again
            assert lock.is_held()
        thread = threading.Thread(target=other)
        thread.start()
        assert not acquired.wait(0.5)
        assert lock.is_held()
    thread.join(30)
    assert acquired.is_set() and not lock.is_held()


def test_a_holder_killed_with_sigkill_releases_it(state, tmp_path):
    url = state.url.render_as_string(hide_password=False)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = collection_lock(state, tmp_path, "docs")
        assert lock.is_held()  # seen from another process
        acquired = threading.Event()

        def take() -> None:
            with lock.hold():
                acquired.set()

        thread = threading.Thread(target=take, daemon=True)
        thread.start()
        assert not acquired.wait(0.5)  # the other process has it
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        thread.join(60)
        assert acquired.is_set()
    finally:
        if holder.poll() is None:
            holder.kill()


WAITER = """
import sys, time
from pathlib import Path
from ragkit.stores.lock import FileLock
print("waiting", flush=True)
with FileLock(Path(sys.argv[1])).hold():
    print("held", flush=True)
    time.sleep(1.5)
    print(f"released {time.time()}", flush=True)
"""


def test_a_retired_lock_leaves_no_file_and_a_waiter_locks_a_new_one(tmp_path):
    """A dropped collection's lock file is removed by its holder. A process that was waiting on
    the removed file must not think it holds the lock while a newcomer locks a new file at the
    same path: it checks that the path still names the file it locked, and tries again."""
    import time

    lock = FileLock(tmp_path / "ingest-docs.lock")
    with lock.hold():
        waiter = subprocess.Popen([sys.executable, "-c", WAITER, str(lock.path)], stdout=subprocess.PIPE,
                                  text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert waiter.stdout.readline().strip() == "waiting"
        time.sleep(0.5)  # the waiter now blocks on the file about to be removed
        lock.retire()
        assert not lock.path.exists()
    try:
        assert waiter.stdout.readline().strip() == "held"
        with lock.hold():  # the newcomer waits for the waiter, which holds the new file
            acquired = time.time()
        released = float(waiter.stdout.readline().split()[1])
        assert acquired >= released
    finally:
        waiter.kill()
        waiter.wait(30)
    assert not lock.is_held()
