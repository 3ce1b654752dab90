"""The repository of the conversation model (:mod:`ragkit.state.conversation_model`): tables
``conversations`` and ``conversation_items`` (revision 0003).

Every surface's conversations are rows here, told apart by ``kind``: chat threads
(:class:`ragkit.conversations.store.ThreadStore`), Assistants threads and their messages
(:mod:`ragkit.state.assistants`) and Responses conversations and their items
(:mod:`ragkit.state.responses`) are views that map their objects onto these functions. A lookup
names the kind (and, for the API, the owner), so an id of one kind is never found as another.

Items are ordered by ``seq`` (the cursor pages' order); each write is one short transaction that
also marks the conversation as used (``updated_at``: chat threads are listed most recent first).
The statements are the SQL that SQLite and PostgreSQL share.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ragkit.state.conversation_model import Conversation, ConversationKind, Item
from ragkit.state.conversation_rows import (
    CONVERSATION_COLUMNS, ITEM_COLUMNS, conversation_of, conversation_row, item_of, item_row,
)
from ragkit.state.tables import Cursor, Page, Tables, bury

#: the columns an item's API object decides (an update rewrites these; standalone and sources only when given)
BODY_COLUMNS = ("role", "status", "content", "tool_name", "call_id", "arguments", "output", "citations", "run_id",
                "body")
_SELECT = ("SELECT c.*, (SELECT COUNT(*) FROM conversation_items i WHERE i.conversation_id = c.id) AS n_items "
           "FROM conversations c")


class MissingConversation(LookupError):
    """Items were added to a conversation that does not exist (or is of another kind)."""


class DuplicateItem(ValueError):
    """An item was added under an id that is already stored, or twice in one batch. A client may
    choose its items' ids (an agent sends its turns back as they were returned); ids stay unique,
    so an item is found by its id alone and a repeated one is refused rather than overwritten."""

    def __init__(self, item_id: str) -> None:
        super().__init__(item_id)
        self.item_id = item_id


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table}({', '.join(columns)}) VALUES({', '.join('?' * len(columns))})"


# -- conversations -------------------------------------------------------------------------------
def create(db: Tables, conversation: Conversation) -> Conversation:
    row = conversation_row(conversation)
    with db.write() as conn:
        conn.execute(_insert("conversations", CONVERSATION_COLUMNS), [row[c] for c in CONVERSATION_COLUMNS])
    return conversation


def get(db: Tables, conversation_id: str, kind: ConversationKind | None = None, *,
        owner: str | None = None) -> Conversation | None:
    """The conversation, when it is of ``kind`` and (if given) belongs to ``owner``."""
    where, args = ["c.id=?"], [conversation_id]
    for column, value in (("kind", kind), ("owner", owner)):
        if value is not None:
            where.append(f"c.{column}=?")
            args.append(value)
    row = db.one(f"{_SELECT} WHERE {' AND '.join(where)}", args)
    return conversation_of(row) if row else None


def listed(db: Tables, kind: ConversationKind, *, collection: str | None = None, owner: str | None = None,
           limit: int | None = None) -> list[Conversation]:
    """Conversations of ``kind``, most recently used first; of one collection and/or owner if given."""
    where, args = ["c.kind=?"], [kind]
    for column, value in (("collection", collection), ("owner", owner)):
        if value is not None:
            where.append(f"c.{column}=?")
            args.append(value)
    sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY c.updated_at DESC, c.created_at DESC, c.seq DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    return [conversation_of(row) for row in db.all(sql, args)]


def save(db: Tables, conversation: Conversation) -> Conversation:
    """Write a changed conversation (title, metadata, API object) and mark it used."""
    changed = replace(conversation, updated_at=max(time.time(), conversation.updated_at))
    row = conversation_row(changed)
    columns = ("owner", "collection", "title", "metadata", "updated_at", "body")
    with db.write() as conn:
        conn.execute(f"UPDATE conversations SET {', '.join(c + '=?' for c in columns)} WHERE id=?",
                     [row[c] for c in columns] + [changed.id])
    return changed


def save_body(db: Tables, kind: ConversationKind, body: dict[str, Any]) -> dict[str, Any]:
    """Write a changed API object (an Assistants thread, a Responses conversation)."""
    found = get(db, body["id"], kind)
    if found is not None:
        save(db, replace(found, metadata=dict(body.get("metadata") or {}), body=body))
    return body


def delete(db: Tables, conversation_id: str, kind: ConversationKind | None = None, *,
           also: Callable[[Any], None] | None = None) -> bool:
    """Delete a conversation and its items (and, with ``also``, what the caller keeps beside them,
    in the same transaction); False when there was no such conversation of that kind."""
    with db.write() as conn:
        where, args = "id=?", [conversation_id]
        if kind is not None:
            where, args = where + " AND kind=?", args + [kind]
        if conn.execute(f"SELECT id FROM conversations WHERE {where}", args).fetchone() is None:
            return False
        conn.execute("DELETE FROM conversation_items WHERE conversation_id=?", (conversation_id,))
        conn.execute("DELETE FROM conversations WHERE id=?", (conversation_id,))
        if also is not None:
            also(conn)
    return True


# -- items ---------------------------------------------------------------------------------------
def append(db: Tables, items: Sequence[Item], kind: ConversationKind | None = None) -> list[Item]:
    """Add items at the end of their conversations, in one transaction; each comes back with its
    ``seq``. :class:`MissingConversation` when a conversation (of ``kind``) does not exist,
    :class:`DuplicateItem` when an id is repeated or already stored; either way nothing is added."""
    if not items:
        return []
    ids = [i.id for i in items]
    repeated = next((item_id for n, item_id in enumerate(ids) if item_id in ids[:n]), None)
    if repeated is not None:
        raise DuplicateItem(repeated)
    stamp = time.time()
    out = []
    with db.write() as conn:
        for conversation_id in dict.fromkeys(i.conversation_id for i in items):
            where, args = "id=?", [stamp, conversation_id]
            if kind is not None:
                where, args = where + " AND kind=?", args + [kind]
            if conn.execute(f"UPDATE conversations SET updated_at=? WHERE {where}", args).rowcount == 0:
                raise MissingConversation(conversation_id)
        marks = ",".join("?" * len(ids))
        stored = conn.execute(f"SELECT id FROM conversation_items WHERE id IN ({marks})", ids).fetchone()
        if stored is not None:
            raise DuplicateItem(stored["id"])
        for item in items:
            row = item_row(item)
            seq = conn.execute(_insert("conversation_items", ITEM_COLUMNS) + " RETURNING seq",
                               [row[c] for c in ITEM_COLUMNS]).fetchone()["seq"]
            out.append(replace(item, seq=seq))
    return out


def items(db: Tables, conversation_id: str, *, limit: int | None = None) -> list[Item]:
    """The conversation's items in order (the last ``limit`` only, if given)."""
    sql, args = "SELECT * FROM conversation_items WHERE conversation_id=? ORDER BY seq DESC", [conversation_id]
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    return [item_of(row) for row in reversed(db.all(sql, args))]


def holders(db: Tables, item_ids: Sequence[str]) -> dict[str, str]:
    """The conversation each of ``item_ids`` is stored in, for those stored at all."""
    if not item_ids:
        return {}
    marks = ",".join("?" * len(item_ids))
    rows = db.all(f"SELECT id, conversation_id FROM conversation_items WHERE id IN ({marks})", list(item_ids))
    return {row["id"]: row["conversation_id"] for row in rows}


def item(db: Tables, item_id: str, conversation_id: str | None = None) -> Item | None:
    """An item by its public id (in ``conversation_id``, if given)."""
    where, args = "id=?", [item_id]
    if conversation_id is not None:
        where, args = where + " AND conversation_id=?", args + [conversation_id]
    row = db.one(f"SELECT * FROM conversation_items WHERE {where}", args)
    return item_of(row) if row else None


def update_item(db: Tables, changed: Item, columns: Sequence[str] = BODY_COLUMNS) -> Item:
    """Rewrite ``columns`` of a stored item from ``changed`` (found by its public id)."""
    row = item_row(changed)
    with db.write() as conn:
        conn.execute(f"UPDATE conversation_items SET {', '.join(c + '=?' for c in columns)} WHERE id=?",
                     [row[c] for c in columns] + [changed.id])
    return changed


def delete_item(db: Tables, item_id: str, conversation_id: str | None = None) -> bool:
    where, args = "id=?", [item_id]
    if conversation_id is not None:
        where, args = where + " AND conversation_id=?", args + [conversation_id]
    with db.write() as conn:
        bury(conn, "conversation_items", where, args)
        return conn.execute(f"DELETE FROM conversation_items WHERE {where}", args).rowcount > 0


def items_page(db: Tables, conversation_id: str, cursor: Cursor, run_id: str | None = None) -> Page:
    """A cursor page of the conversation's items (those a run wrote, if ``run_id``), as rows
    whose ``body`` is the API object."""
    where, args = "conversation_id=?", [conversation_id]
    if run_id:
        where, args = where + " AND run_id=?", args + [run_id]
    return db.page("conversation_items", where, args, cursor)
