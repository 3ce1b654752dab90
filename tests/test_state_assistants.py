"""The Assistants repository (on SQLite and PostgreSQL): ownership, run status changes in one transaction, orphaned runs,
cascading deletes and message pages."""

from __future__ import annotations

import os
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
