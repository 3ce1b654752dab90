"""The ingest queue (on SQLite and PostgreSQL): claims of one store at a time, outcomes that name their owner, claims given
back (a dead worker's, or at shutdown without counting), and deleted stores until purged."""

from __future__ import annotations

import pytest
from state_backends import state, state_url  # noqa: F401 - fixtures
from test_state_library import _file, _store

from ragkit.state.server import ServerState


@pytest.fixture
def db(state) -> ServerState:
    tables = ServerState(state)
    _store(tables, "vs_1")
    _store(tables, "vs_2")
    for file_id in ("a", "b", "c"):
        _file(tables, file_id)
    tables.attach("vs_1", ["a", "b"], {})
    tables.attach("vs_2", ["c"], {})
    return tables


def test_a_claim_takes_the_oldest_stores_waiting_files_only(db):
    assert db.waiting()
    assert [(r["vector_store_id"], r["file_id"]) for r in db.claim("w1", 10)] == [("vs_1", "a"), ("vs_1", "b")]
    assert [r["file_id"] for r in db.claim("w2", 10)] == ["c"]  # vs_1's files are taken
    assert db.claim("w3", 10) == [] and not db.waiting()
    assert {(c["file_id"], c["claimed_by"], c["attempts"]) for c in db.claims()} == {
        ("a", "w1", 1), ("b", "w1", 1), ("c", "w2", 1)}


def test_finishing_names_the_owner_and_a_detached_row_is_reported(db):
    db.claim("w1", 10)
    assert not db.finish("vs_1", "a", "someone-else", "completed", None, 1)
    db.detach("vs_1", "b")
    assert not db.finish("vs_1", "b", "w1", "completed", None, 1)  # the caller undoes the ingest
    assert db.finish("vs_1", "a", "w1", "failed", {"code": "server_error", "message": "x"}, 0)
    assert db.vs_file("vs_1", "a")["status"] == "failed" and db.vs_file("vs_1", "a")["claimed_by"] is None


def test_a_claim_is_held_until_every_file_of_the_run_leaves(db):
    db.claim("w1", 10)
    assert db.still_claimed("vs_1", "w1") and not db.still_claimed("vs_1", "w2")
    db.detach("vs_1", "a")
    assert db.still_claimed("vs_1", "w1")  # b is still wanted: the run goes on
    db.delete_file("b")
    assert not db.still_claimed("vs_1", "w1")  # nobody waits for the run any more: it is cancelled
    db.attach("vs_1", ["a"], {})
    assert not db.still_claimed("vs_1", "w1")  # attached again: a new row, waiting for a new claim


def test_a_dead_workers_claims_go_back_or_fail_after_too_many_attempts(db):
    db.claim("dead", 10)
    db.release("vs_1", "a", "dead")
    db.release("vs_1", "b", "dead", fail={"code": "server_error", "message": "gave up"})
    assert db.vs_file("vs_1", "a")["claimed_by"] is None and db.vs_file("vs_1", "a")["status"] == "in_progress"
    assert db.vs_file("vs_1", "b")["status"] == "failed"
    again = db.claim("w2", 10)
    assert [(r["file_id"], r["attempts"]) for r in again] == [("a", 1)]  # the row read before the claim
    assert db.vs_file("vs_1", "a")["attempts"] == 2
    db.release("vs_1", "a", "w2", count=False)  # a shutdown: not an attempt
    assert db.vs_file("vs_1", "a")["attempts"] == 1


def test_a_file_deleted_while_queued_leaves_the_queue(db):
    db.delete_file("c")  # removes its rows
    _file(db, "d")
    db.attach("vs_2", ["d"], {})
    with db.write() as conn:  # a row whose file vanished without the library knowing
        conn.execute("DELETE FROM api_files WHERE id='d'")
    db.claim("w1", 10)
    assert db.vs_file("vs_2", "d") is None


def test_deleted_stores_wait_to_be_purged_then_are_forgotten(db):
    db.delete_store("vs_1")
    assert db.store("vs_1") is None and db.live_store_ids() == ["vs_2"]
    assert [s["id"] for s in db.deleted_stores()] == ["vs_1"]
    db.forget_store("vs_2")  # a live store is never forgotten
    db.forget_store("vs_1")
    assert db.deleted_stores() == [] and db.live_store_ids() == ["vs_2"]


def test_a_deleted_store_is_purged_only_after_its_grace_period(db):
    db.delete_store("vs_1")
    assert db.deleted_stores(grace=60) == []  # other processes may still be reading it
    assert [s["id"] for s in db.deleted_stores(grace=0)] == ["vs_1"]
