"""Stored state of the Responses API: responses kept for ``previous_response_id`` and retrieve,
their input items, the tool loop's state between function-calling turns, and conversation items.

A response row keeps the question, the query that was searched (``standalone``), the answer and
its sources beside the API object (``body``), so a follow-up can rebuild the history without
re-parsing output items. Conversation items keep the same two columns for the same reason. Every
lookup names the owning key: another key's response is simply not found.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ragkit.state.tables import Cursor, Page, Row, Tables


# -- responses -------------------------------------------------------------------------------
def insert_response(db: Tables, response: dict[str, Any], *, owner: str, question: str, standalone: str,
                    answer: str, sources: list[dict[str, Any]], input_items: Sequence[dict[str, Any]]) -> None:
    """Keep a response and the items it was asked with, in one transaction."""
    with db.write() as conn:
        conn.execute("INSERT INTO resp_responses(id, owner, previous_id, question, standalone, answer, sources, body) "
                     "VALUES(?,?,?,?,?,?,?,?)",
                     (response["id"], owner, response.get("previous_response_id"), question, standalone, answer,
                      json.dumps(sources), json.dumps(response)))
        conn.executemany("INSERT INTO resp_input_items(id, response_id, body) VALUES(?,?,?)",
                         [(item["id"], response["id"], json.dumps(item)) for item in input_items])


def response_row(db: Tables, response_id: str, owner: str) -> Row | None:
    """The stored row (question, standalone, answer, sources, previous_id, body) of ``owner``'s response."""
    return db.one("SELECT * FROM resp_responses WHERE id=? AND owner=?", (response_id, owner))


def response(db: Tables, response_id: str, owner: str) -> dict[str, Any] | None:
    """The response object as it was returned, when ``owner`` created it."""
    row = db.one("SELECT body FROM resp_responses WHERE id=? AND owner=?", (response_id, owner))
    return json.loads(row["body"]) if row is not None else None


def delete_response(db: Tables, response_id: str) -> None:
    """Forget a response, its input items and its tool loop state."""
    with db.write() as conn:
        conn.execute("DELETE FROM resp_responses WHERE id=?", (response_id,))
        conn.execute("DELETE FROM resp_input_items WHERE response_id=?", (response_id,))
        conn.execute("DELETE FROM resp_tool_state WHERE id=?", (response_id,))


def input_items_page(db: Tables, response_id: str, cursor: Cursor) -> Page:
    return db.page("resp_input_items", "response_id=?", (response_id,), cursor)


# -- tool loop state -------------------------------------------------------------------------
def tool_state(db: Tables, response_id: str, owner: str) -> dict[str, Any] | None:
    """The function-calling loop's state saved with ``owner``'s response, to resume it."""
    row = db.one("SELECT state FROM resp_tool_state WHERE id=? AND owner=?", (response_id, owner))
    return json.loads(row["state"]) if row else None


def save_tool_state(db: Tables, response_id: str, owner: str, state: dict[str, Any]) -> None:
    with db.write() as conn:
        conn.execute("INSERT INTO resp_tool_state(id, owner, state) VALUES(?,?,?)",
                     (response_id, owner, json.dumps(state)))


# -- conversation items ----------------------------------------------------------------------
def add_items(db: Tables, conversation_id: str, items: Sequence[dict[str, Any]], *,
              standalone: str | None = None, sources: list[dict[str, Any]] | None = None) -> None:
    """Append items; user items get the query searched, assistant items the sources."""
    with db.write() as conn:
        for item in items:
            question = standalone if item.get("role") == "user" else None
            found = sources if item.get("role") == "assistant" else None
            conn.execute("INSERT INTO conv_items(id, conversation_id, body, standalone, sources) VALUES(?,?,?,?,?)",
                         (item["id"], conversation_id, json.dumps(item), question,
                          json.dumps(found) if found is not None else None))


def items(db: Tables, conversation_id: str) -> list[Row]:
    """Every item of a conversation, oldest first: ``body``, ``standalone`` and ``sources`` columns."""
    return db.all("SELECT body, standalone, sources FROM conv_items WHERE conversation_id=? ORDER BY seq",
                  (conversation_id,))


def item(db: Tables, conversation_id: str, item_id: str) -> dict[str, Any] | None:
    row = db.one("SELECT body FROM conv_items WHERE id=? AND conversation_id=?", (item_id, conversation_id))
    return json.loads(row["body"]) if row is not None else None


def delete_item(db: Tables, conversation_id: str, item_id: str) -> None:
    with db.write() as conn:
        conn.execute("DELETE FROM conv_items WHERE id=? AND conversation_id=?", (item_id, conversation_id))


def items_page(db: Tables, conversation_id: str, cursor: Cursor) -> Page:
    return db.page("conv_items", "conversation_id=?", (conversation_id,), cursor)
