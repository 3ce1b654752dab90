"""Stored state of the Responses API: responses kept for ``previous_response_id`` and retrieve,
their input items, the tool loop's state between function-calling turns, and conversation items.

A response row keeps the question, the query that was searched (``standalone``), the answer and
its sources beside the API object (``body``), so a follow-up can rebuild the history without
re-parsing output items. A conversation's items are items of the conversation model
(:mod:`ragkit.state.conversations`), which keeps the same two fields for the same reason, and
the citations and tool calls of each. Every lookup names the owning key: another key's response
is simply not found.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ragkit.state import conversations
from ragkit.state.conversation_model import Item, response_item
from ragkit.state.tables import Cursor, Page, Row, Tables

#: the kind of conversation the Conversations API keeps
CONVERSATION = "responses_conversation"


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


# -- conversation items: a view of the conversation model ------------------------------------------
def add_items(db: Tables, conversation_id: str, items: Sequence[dict[str, Any]], *,
              standalone: str | None = None, sources: list[dict[str, Any]] | None = None,
              response_id: str | None = None) -> None:
    """Append items; user items get the query searched, assistant items the sources, and every
    item the response that added it (if any)."""
    conversations.append(db, [
        response_item(conversation_id, item, standalone=standalone if item.get("role") == "user" else None,
                      sources=sources if item.get("role") == "assistant" else None, response_id=response_id)
        for item in items], CONVERSATION)


def items(db: Tables, conversation_id: str) -> list[Item]:
    """Every item of a conversation, oldest first."""
    return conversations.items(db, conversation_id)


def item(db: Tables, conversation_id: str, item_id: str) -> dict[str, Any] | None:
    found = conversations.item(db, item_id, conversation_id)
    return found.body if found is not None else None


def delete_item(db: Tables, conversation_id: str, item_id: str) -> None:
    conversations.delete_item(db, item_id, conversation_id)


def items_page(db: Tables, conversation_id: str, cursor: Cursor) -> Page:
    return conversations.items_page(db, conversation_id, cursor)
