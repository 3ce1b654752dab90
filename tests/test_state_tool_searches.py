"""The searches kept for a chat completion that stopped for the caller's functions, on SQLite and
PostgreSQL: found again by the key that asked and the same calls only, for a day."""

from __future__ import annotations

import pytest

from ragkit.state import tool_searches
from ragkit.state.server import ServerState
from ragkit.state.tables import now

from state_backends import state, state_url  # noqa: F401 - fixtures: every test on SQLite and PostgreSQL

CALLS = [("call_0", "get_weather", '{"city":"Oslo"}')]
SEARCHES = [{"id": "call_s1", "arguments": '{"query": "E42"}'}]


@pytest.fixture
def db(state) -> ServerState:
    return ServerState(state)


def test_the_same_calls_of_the_same_key_bring_the_searches_back(db):
    tool_searches.keep(db, "k1", CALLS, SEARCHES)
    respaced = [("call_0", "get_weather", '{ "city": "Oslo" }')]  # written back by a library
    assert tool_searches.recall(db, "k1", respaced) == SEARCHES
    assert tool_searches.recall(db, "k2", CALLS) == []  # another key
    assert tool_searches.recall(db, "k1", [("call_0", "get_weather", '{"city": "Bergen"}')]) == []
    assert tool_searches.recall(db, "k1", [("call_9", "get_weather", '{"city":"Oslo"}')]) == []
    assert tool_searches.recall(db, "k1", []) == []


def test_a_reused_id_keeps_the_latest_turn_and_empty_arguments_match_braces(db):
    tool_searches.keep(db, "k1", CALLS, SEARCHES)
    later = [{"id": "call_s2", "arguments": '{"query": "battery"}'}]
    tool_searches.keep(db, "k1", [("call_0", "status", "")], later)
    assert tool_searches.recall(db, "k1", [("call_0", "status", "{}")]) == later
    assert tool_searches.recall(db, "k1", CALLS) == []
    tool_searches.keep(db, "k1", [("call_1", "status", "")], [])  # nothing searched: nothing kept
    assert db.one("SELECT COUNT(*) AS n FROM tool_call_searches")["n"] == 1


def test_searches_are_forgotten_after_a_day(db):
    tool_searches.keep(db, "k1", CALLS, SEARCHES)
    with db.write() as conn:
        conn.execute("UPDATE tool_call_searches SET created_at=?", (now() - tool_searches.RETENTION_SECONDS - 1,))
    assert tool_searches.recall(db, "k1", CALLS) == []
    tool_searches.keep(db, "k2", CALLS, SEARCHES)  # a later write clears the expired row
    assert [r["owner"] for r in db.all("SELECT owner FROM tool_call_searches")] == ["k2"]
