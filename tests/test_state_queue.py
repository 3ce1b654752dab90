"""The ingest queue (on SQLite and PostgreSQL): claims of one store at a time, outcomes that name their owner, claims given
back (a dead worker's, or at shutdown without counting), cancelled batches whose claimed files are let go of only by
their worker, and deleted stores until purged."""

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


def _batch(db: ServerState, batch_id: str, file_ids: list[str]) -> dict:
    for file_id in file_ids:
        _file(db, file_id)
    db.attach("vs_1", file_ids, {}, batch_id=batch_id)
    return db.batch("vs_1", batch_id)


def _status(db: ServerState, batch_id: str) -> tuple[str, dict]:
    return db.batch_status(db.batch("vs_1", batch_id))


def test_cancelling_a_batch_cancels_waiting_and_claimed_files_and_it_is_cancelling_until_let_go(db):
    db.claim("w0", 10)  # a and b, the store's earlier files
    db.finish("vs_1", "a", "w0", "completed", None, 1)
    db.finish("vs_1", "b", "w0", "completed", None, 1)
    _batch(db, "vsfb_1", ["d", "e", "f"])
    with db.write() as conn:  # d and e are being ingested, f still waits
        conn.execute("UPDATE vs_files SET claimed_by='w1' WHERE file_id IN ('d', 'e')")
    assert _status(db, "vsfb_1")[0] == "in_progress"
    assert db.cancel_batch("vs_1", "vsfb_1")
    status, counts = _status(db, "vsfb_1")
    assert status == "cancelling" and counts["cancelled"] == 3 and counts["in_progress"] == 0
    assert {f: db.vs_file("vs_1", f)["claimed_by"] for f in "def"} == {"d": "w1", "e": "w1", "f": None}
    assert [r["file_id"] for r in db.claim("w2", 10)] == ["c"]  # vs_2's: nothing of the batch is ingested any more
    assert db.holds_cancelled("vs_1", "w1") and not db.holds_cancelled("vs_1", "w2")
    assert not db.finish("vs_1", "d", "w1", "completed", None, 4)  # finished too late: undo the ingest
    assert db.vs_file("vs_1", "d")["status"] == "cancelled"
    assert db.renew("w1") == 2  # still leased: a live worker is winding down
    assert {(c["file_id"], c["status"]) for c in db.claims() if c["claimed_by"] == "w1"} == {
        ("d", "cancelled"), ("e", "cancelled")}
    assert db.drop_cancelled("vs_1", "w1") == 2
    status, counts = _status(db, "vsfb_1")
    assert status == "cancelled" and counts == {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 3,
                                                "total": 3}
    assert db.counts("vs_1")[0] == {"in_progress": 0, "completed": 2, "failed": 0, "cancelled": 3, "total": 5}


def test_a_finished_batch_stays_as_it_is_when_cancelled(db):
    _batch(db, "vsfb_1", ["d", "e"])
    db.claim("w1", 10)
    for file_id in "abde":
        db.finish("vs_1", file_id, "w1", "completed", None, 1)
    assert not db.cancel_batch("vs_1", "vsfb_1")
    assert _status(db, "vsfb_1") == ("completed", {"in_progress": 0, "completed": 2, "failed": 0, "cancelled": 0,
                                                   "total": 2})
    assert not db.batch("vs_1", "vsfb_1")["cancelled"]


def test_a_dead_workers_cancelled_claim_is_let_go_and_stays_cancelled(db):
    _batch(db, "vsfb_1", ["d", "e"])
    db.claim("dead", 10)
    db.cancel_batch("vs_1", "vsfb_1")
    assert db.release("vs_1", "d", "dead", fail={"code": "server_error", "message": "gave up"})
    assert db.release("vs_1", "e", "dead")
    for file_id in "de":
        row = db.vs_file("vs_1", file_id)
        assert (row["status"], row["claimed_by"], row["last_error"]) == ("cancelled", None, None)
    assert _status(db, "vsfb_1")[0] == "cancelled"
    assert db.requeue("vs_1", "dead") == 2  # a and b, which were not in the batch, wait again
    assert [r["file_id"] for r in db.claim("w2", 10)] == ["a", "b"]
