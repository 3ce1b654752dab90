"""Claims as leases: an owner id unique across hosts, renewed by a heartbeat, and taken back by any
worker once its process is gone (same host) or its lease expired (any host), on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from state_backends import state, state_url  # noqa: F401 - fixtures
from test_state_library import _file, _store

from ragkit.config import Settings
from ragkit.library.file_bytes import FileBytes
from ragkit.library.leases import LEASE_SECONDS, Heartbeat, Owner, abandoned, this_host
from ragkit.library.registry import StoreRegistry
from ragkit.library.worker import MAX_ATTEMPTS, IngestWorker
from ragkit.state.server import ServerState


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_owner_ids_name_host_process_and_a_random_part():
    first, second = Owner.new(), Owner.new()
    assert first.host == this_host() and first.pid == os.getpid() and first.token != second.token
    assert Owner.parse(str(first)) == first
    assert Owner.parse("4242:abc") == Owner(this_host(), 4242, "abc")  # written before hosts were named


def test_when_a_claim_is_abandoned():
    me, now = Owner.new(), time.time()
    elsewhere = f"other-host:{os.getpid()}:x"
    assert not abandoned(str(me), now - 1000, me, now)  # mine, however old
    assert not abandoned(elsewhere, now - 1, me, now)  # another host's, renewed: it is alive for all we know
    assert abandoned(elsewhere, now - LEASE_SECONDS - 1, me, now)  # not renewed for a lease
    assert abandoned(f"{me.host}:{_dead_pid()}:x", now, me, now)  # this host, process gone: at once
    assert not abandoned(f"{me.host}:{os.getppid()}:x", now - 1, me, now)  # this host, alive
    assert abandoned(f"{me.host}:{os.getppid()}:x", now - LEASE_SECONDS - 1, me, now)  # alive, but silent
    assert abandoned(f"{me.host}:{os.getpid()}:earlier", now, me, now)  # an earlier worker of this process
    assert abandoned(elsewhere, None, me, now)


@pytest.fixture
def worker(state, tmp_path) -> IngestWorker:
    db = ServerState(state)
    _store(db, "vs_1")
    for file_id in ("a", "b"):
        _file(db, file_id)
    db.attach("vs_1", ["a", "b"], {})
    return IngestWorker(db, StoreRegistry(Settings(home=tmp_path)), FileBytes.for_state(tmp_path, state))


def _set_claim(db: ServerState, owner: str, claimed_at: float, attempts: int = 1) -> None:
    with db.write() as conn:
        conn.execute("UPDATE vs_files SET claimed_by=?, claimed_at=?, attempts=?", (owner, claimed_at, attempts))


def test_another_hosts_claims_are_taken_over_once_their_lease_expires(worker):
    db = worker.db
    _set_claim(db, "far-away:123:t", time.time())
    assert worker.recover() == 0 and db.claim(worker.owner, 10) == []
    _set_claim(db, "far-away:123:t", time.time() - LEASE_SECONDS - 5)
    assert worker.recover() == 2
    taken = db.claim(worker.owner, 10)
    assert [(r["file_id"], r["attempts"]) for r in taken] == [("a", 1), ("b", 1)]
    assert db.vs_file("vs_1", "a")["attempts"] == 2  # the lost run counted as an attempt


def test_a_claim_renewed_after_it_was_judged_is_kept(worker):
    db = worker.db
    stale = time.time() - LEASE_SECONDS - 5
    _set_claim(db, "far-away:123:t", stale)
    assert db.renew("far-away:123:t") == 2  # its heartbeat came just in time
    assert not db.release("vs_1", "a", "far-away:123:t", renewed_at=stale)
    assert db.vs_file("vs_1", "a")["claimed_by"] == "far-away:123:t"


def test_files_that_keep_losing_their_worker_fail(worker):
    _set_claim(worker.db, "far-away:123:t", 0.0, attempts=MAX_ATTEMPTS)
    worker.recover()
    row = worker.db.vs_file("vs_1", "a")
    assert row["status"] == "failed" and "interrupted" in row["last_error"]


def test_the_heartbeat_renews_only_while_claims_are_held(worker):
    db = worker.db
    db.claim(worker.owner, 10)
    _set_claim(db, worker.owner, 100.0)
    holding = [False]
    beat = Heartbeat(lambda: db.renew(worker.owner), lambda: holding[0], every=0.05)
    beat.start()
    try:
        time.sleep(0.3)
        assert db.vs_file("vs_1", "a")["claimed_at"] == 100.0
        holding[0] = True
        deadline = time.time() + 10
        while db.vs_file("vs_1", "a")["claimed_at"] == 100.0 and time.time() < deadline:
            time.sleep(0.05)
        assert db.vs_file("vs_1", "a")["claimed_at"] > time.time() - 5
    finally:
        beat.stop()


def test_a_worker_takes_back_claims_of_its_own_a_failed_run_left(worker):
    """Between runs a worker holds no claim; one still in its name is from a run whose release
    failed (the database was down then). No one else takes it back before its lease, and the
    worker's own lease never expires for itself: it must release it, counting the attempt."""
    db = worker.db
    assert len(db.claim(worker.owner, 10)) == 2  # the run's claims, never released
    assert worker.recover() == 2
    taken = db.claim(worker.owner, 10)
    assert [(r["file_id"], r["attempts"]) for r in taken] == [("a", 1), ("b", 1)]
    assert db.vs_file("vs_1", "a")["attempts"] == 2
