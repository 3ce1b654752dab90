"""The Assistants repository (on SQLite and PostgreSQL): ownership, run status changes in one transaction, one
active run per thread under concurrent creation, orphaned runs, cascading deletes and message pages."""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import pytest
from state_backends import state, state_url  # noqa: F401 - fixtures

from ragkit.state import assistants as adb
from ragkit.state import responses
from ragkit.state.server import ServerState


@pytest.fixture
def db(state) -> ServerState:
    return ServerState(state)


def _run(db: ServerState, run_id: str = "run_1", thread_id: str = "thread_1") -> dict:
    return adb.insert_run(db, {"id": run_id, "thread_id": thread_id, "status": "queued"}, "k1", {"step": 0})


def test_objects_belong_to_the_key_that_made_them(db):
    adb.insert(db, adb.THREADS, {"id": "thread_1", "object": "thread"}, "k1")
    assert adb.owned(db, adb.THREADS, "thread_1", "k1") == {"id": "thread_1", "object": "thread"}
    assert adb.owned(db, adb.THREADS, "thread_1", "k2") is None


def test_a_run_changes_status_in_one_transaction_and_stamps_it(db):
    _run(db)

    def start(run, state):
        adb.set_status(run, "in_progress")
        state["step"] = 1
        return True

    run, state, saved = adb.change_run(db, "run_1", start)
    assert saved and run["started_at"] and state == {"step": 1}
    row = adb.run_row(db, "thread_1", "run_1")
    assert row["status"] == "in_progress" and row["claimed_by"] == adb.WORKER  # this process works on it
    assert adb.active_run(db, "thread_1") == "run_1"
    assert adb.change_run(db, "run_1", lambda run, state: False)[2] is False
    adb.change_run(db, "run_1", lambda run, state: adb.set_status(run, "completed") or True)
    row = adb.run_row(db, "thread_1", "run_1")
    assert row["status"] == "completed" and row["claimed_by"] is None and adb.active_run(db, "thread_1") is None


def test_a_run_claimed_by_a_gone_process_is_orphaned(db):
    row = {"status": "in_progress", "claimed_by": adb.WORKER}
    assert not adb.orphaned(row)
    assert adb.orphaned(row | {"claimed_by": f"{os.getpid()}:other"})  # this pid, another process
    assert adb.orphaned(row | {"claimed_by": "999999999:x"})
    assert not adb.orphaned(row | {"status": "completed", "claimed_by": "999999999:x"})


def test_deleting_a_thread_deletes_its_messages_runs_and_steps(db):
    adb.insert(db, adb.THREADS, {"id": "thread_1"}, "k1")
    adb.add_message(db, {"id": "msg_1", "thread_id": "thread_1", "role": "user"}, standalone="q")
    adb.add_message(db, {"id": "msg_2", "thread_id": "thread_1", "role": "assistant", "run_id": "run_1"},
                    sources=[{"text": "t"}])
    _run(db)
    adb.save_step(db, {"id": "step_1", "run_id": "run_1", "status": "in_progress"})
    adb.save_step(db, {"id": "step_1", "run_id": "run_1", "status": "completed"})  # an update, not a copy
    assert [s["status"] for s in adb.run_steps(db, "run_1")] == ["completed"]
    assert [(m.standalone, m.sources) for m in adb.thread_messages(db, "thread_1")] == [
        ("q", []), (None, [{"text": "t"}])]
    cursor = SimpleNamespace(limit=10, order="asc", after=None, before=None)
    assert [r["id"] for r in adb.messages_page(db, "thread_1", cursor, run_id="run_1")[0]] == ["msg_2"]
    adb.delete(db, adb.THREADS, "thread_1")
    assert adb.thread_messages(db, "thread_1") == [] and adb.run_row(db, "thread_1", "run_1") is None
    assert adb.run_steps(db, "run_1") == []


def test_a_stored_response_is_found_only_by_its_key_and_deleted_whole(db):
    responses.insert_response(db, {"id": "resp_1"}, owner="k1", question="q", standalone="q", answer="a",
                              sources=[{"text": "t"}], input_items=[{"id": "msg_1", "type": "message"}])
    responses.save_tool_state(db, "resp_1", "k1", {"turn": 1})
    assert responses.response(db, "resp_1", "k1") == {"id": "resp_1"} and responses.response(db, "resp_1", "k2") is None
    assert responses.tool_state(db, "resp_1", "k1") == {"turn": 1}
    responses.delete_response(db, "resp_1")
    cursor = SimpleNamespace(limit=10, order="asc", after=None, before=None)
    assert responses.input_items_page(db, "resp_1", cursor) == ([], False)
    assert responses.tool_state(db, "resp_1", "k1") is None


def _race(count: int, attempt) -> list:
    """``attempt(i)`` in ``count`` threads released at once; each one's outcome, or the exception it raised."""
    start, outcomes = threading.Barrier(count), [None] * count

    def one(i: int) -> None:
        start.wait()
        try:
            outcomes[i] = attempt(i)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            outcomes[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_of_runs_created_at_once_on_a_thread_exactly_one_is_stored(db):
    adb.insert(db, adb.THREADS, {"id": "thread_1", "object": "thread"}, "k1")
    outcomes = _race(8, lambda i: _run(db, f"run_{i}")["id"])
    created = [o for o in outcomes if isinstance(o, str)]
    refused = [o for o in outcomes if isinstance(o, adb.ActiveRun)]
    assert len(created) == 1 and len(refused) == 7, outcomes
    assert {exc.run_id for exc in refused} == set(created)
    assert str(refused[0]) == f"Thread thread_1 already has an active run {created[0]}."
    cursor = SimpleNamespace(limit=20, order="asc", after=None, before=None)
    assert [r["id"] for r in adb.runs_page(db, "thread_1", cursor)[0]] == created
    adb.change_run(db, created[0], lambda run, state: adb.set_status(run, "completed") or True)
    assert _run(db, "run_next")["id"] == "run_next"  # the thread is free again once its run ended


def test_what_a_refused_run_would_have_added_to_the_thread_is_not_kept(db):
    """The run's additional messages and the run commit together with the check, or not at all;
    a message is not added while a run is active either."""
    adb.insert(db, adb.THREADS, {"id": "thread_1", "object": "thread"}, "k1")

    def create(i: int) -> str:
        with adb.idle_thread(db, "thread_1"):
            adb.add_message(db, {"id": f"msg_{i}", "thread_id": "thread_1", "role": "user"})
            return _run(db, f"run_{i}")["id"]

    outcomes = _race(6, create)
    created = [o for o in outcomes if isinstance(o, str)]
    assert len(created) == 1 and all(isinstance(o, adb.ActiveRun) for o in outcomes if o not in created)
    winner = created[0].removeprefix("run_")
    assert [m.id for m in adb.thread_messages(db, "thread_1")] == [f"msg_{winner}"]
    with pytest.raises(adb.ActiveRun):
        with adb.idle_thread(db, "thread_1"):
            adb.add_message(db, {"id": "msg_late", "thread_id": "thread_1", "role": "user"})
    assert [m.id for m in adb.thread_messages(db, "thread_1")] == [f"msg_{winner}"]
