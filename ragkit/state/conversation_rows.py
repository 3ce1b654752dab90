"""The conversation model's records as rows of ``conversations`` and ``conversation_items``, and
the rows of the tables they replaced (revision 0003) as records.

Kept apart from the repository (:mod:`ragkit.state.conversations`) because revision 0003 and the
import of an older home (:mod:`ragkit.state.legacy`) write the same rows without a repository:
the three of them agree on one mapping by sharing it. Revision 0003 keeps only the columns its
tables have, so a column added here by a later revision does not break it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from ragkit.state.conversation_model import (
    Conversation, ConversationKind, Item, ToolCall, api_conversation, response_item, thread_message_item,
)

Row = dict[str, Any]
CONVERSATION_COLUMNS = ("id", "kind", "owner", "collection", "title", "metadata", "created_at", "updated_at", "body")
ITEM_COLUMNS = ("id", "conversation_id", "kind", "role", "status", "content", "tool_name", "call_id", "arguments",
                "output", "citations", "sources", "standalone", "run_id", "response_id", "created_at", "body")


def _dumps(value: Any) -> str | None:
    return json.dumps(value, ensure_ascii=False) if value is not None else None


def _loads(text: str | None, default: Any = None) -> Any:
    return json.loads(text) if text else default


# -- rows and records --------------------------------------------------------------------------
def conversation_row(c: Conversation) -> Row:
    return {"id": c.id, "kind": c.kind, "owner": c.owner, "collection": c.collection, "title": c.title,
            "metadata": _dumps(c.metadata or {}), "created_at": c.created_at, "updated_at": c.updated_at,
            "body": _dumps(c.body)}


def item_row(i: Item) -> Row:
    tool = i.tool or ToolCall("")
    return {"id": i.id, "conversation_id": i.conversation_id, "kind": i.kind, "role": i.role, "status": i.status,
            "content": i.content, "tool_name": tool.name, "call_id": tool.call_id or None,
            "arguments": tool.arguments, "output": tool.output, "citations": _dumps(i.citations or []),
            "sources": _dumps(i.sources or []), "standalone": i.standalone, "run_id": i.run_id,
            "response_id": i.response_id, "created_at": i.created_at, "body": _dumps(i.body)}


def conversation_of(row: Row) -> Conversation:
    return Conversation(id=row["id"], kind=row["kind"], owner=row["owner"], collection=row["collection"],
                        title=row["title"], metadata=_loads(row["metadata"], {}), created_at=row["created_at"],
                        updated_at=row["updated_at"], body=_loads(row["body"]), items=row.get("n_items") or 0)


def item_of(row: Row) -> Item:
    tool = None
    if row["kind"] != "message":
        tool = ToolCall(row["call_id"] or "", row["tool_name"], row["arguments"], row["output"])
    return Item(conversation_id=row["conversation_id"], id=row["id"], kind=row["kind"], role=row["role"],
                content=row["content"], status=row["status"], tool=tool, citations=_loads(row["citations"], []),
                sources=_loads(row["sources"], []), standalone=row["standalone"], run_id=row["run_id"],
                response_id=row["response_id"], created_at=row["created_at"], body=_loads(row["body"]),
                seq=row["seq"])


# -- the tables before revision 0003 -------------------------------------------------------------
def chat_item_id(message_id: int) -> str:
    """The public id of a chat message stored before items had one (its old integer id)."""
    return f"msg_{int(message_id):024x}"


def fold_row(table: str, row: Row, created_at: float | None = None) -> Conversation | Item:
    """A row of a table before revision 0003 (``threads``, ``messages``, ``asst_threads``,
    ``asst_messages``, ``conv_conversations``, ``conv_items``) as the model. Used by that
    revision and by the import of an older home (:mod:`ragkit.state.legacy`). ``created_at`` is
    a conversation item's time, which its table did not keep (the conversation's is given)."""
    if table == "threads":
        return Conversation(id=row["id"], kind="chat", owner=row.get("owner"), collection=row["collection"],
                            title=row["title"], created_at=row["created_at"], updated_at=row["updated_at"])
    if table == "messages":
        return Item(conversation_id=row["thread_id"], id=chat_item_id(row["id"]), role=row["role"],
                    content=row["content"], citations=_loads(row.get("citations"), []),
                    sources=_loads(row.get("sources"), []), standalone=row.get("standalone"),
                    created_at=row["created_at"])
    body = _loads(row["body"], {})
    sources = _loads(row.get("sources"), [])
    if table in ("asst_threads", "conv_conversations"):
        kind: ConversationKind = "assistants_thread" if table == "asst_threads" else "responses_conversation"
        return replace(api_conversation(kind, {"id": row["id"], **body}, row["owner"]), id=row["id"], body=body)
    if table == "asst_messages":
        made = thread_message_item({"id": row["id"], "thread_id": row["thread_id"], **body},
                                   standalone=row.get("standalone"), sources=sources)
        return replace(made, id=row["id"], conversation_id=row["thread_id"], role=row["role"],
                       run_id=row.get("run_id"), body=body)
    if table == "conv_items":
        made = response_item(row["conversation_id"], {"id": row["id"], **body}, standalone=row.get("standalone"),
                             sources=sources, created_at=created_at)
        return replace(made, id=row["id"], body=body)
    raise ValueError(f"{table} is not a conversation table of the earlier layout")
