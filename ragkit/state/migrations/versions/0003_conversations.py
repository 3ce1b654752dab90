"""One conversation model: chat threads, Assistants threads and Responses conversations become
rows of ``conversations`` and their messages and items rows of ``conversation_items``.

Until this revision each surface kept its own pair of tables (``threads``/``messages``,
``asst_threads``/``asst_messages``, ``conv_conversations``/``conv_items``) with the same idea in
three shapes. Every row is copied into the new pair -- ids, timestamps and order kept -- with the
columns the model derives from an API object (text, citations, tool call) filled in by
:func:`ragkit.state.conversation_rows.fold_row`, then the old tables are dropped. Runs, run steps and
stored responses keep their tables.

``seq`` is kept too: a chat message's ``seq`` is its old integer id, and the Assistants messages
and conversation items follow in their old order. Rows are copied with SQLAlchemy Core, so the
revision runs on SQLite and PostgreSQL alike; PostgreSQL's sequences are moved past the copied
``seq`` values (SQLite's AUTOINCREMENT follows explicit values by itself).

Revision ID: 0003
Revises: 0002
Create Date: 2026-05-11
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from ragkit.state.conversation_model import CONVERSATION_KINDS, ITEM_KINDS, Conversation
from ragkit.state.conversation_rows import conversation_row, fold_row, item_row

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

log = logging.getLogger("ragkit.state")
TEXT, INT, REAL = sa.Text, sa.Integer, sa.REAL
BATCH = 500
OLD_CONVERSATIONS = ("threads", "asst_threads", "conv_conversations")
OLD_ITEMS = (("messages", "id", "thread_id"), ("asst_messages", "seq", "thread_id"),
             ("conv_items", "seq", "conversation_id"))


def _col(name: str, kind: type = TEXT, nullable: bool = True, default: str | None = None) -> sa.Column:
    return sa.Column(name, kind(), nullable=nullable, server_default=sa.text(default) if default is not None else None)


def _req(name: str, kind: type = TEXT, default: str | None = None) -> sa.Column:
    return _col(name, kind, nullable=False, default=default)


def _one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})")


def _create_new() -> tuple[sa.Table, sa.Table]:
    conversations = op.create_table(
        "conversations", sa.Column("seq", INT(), primary_key=True), _req("id"), _req("kind"), _col("owner"),
        _col("collection"), _col("title"), _col("metadata"), _req("created_at", REAL), _req("updated_at", REAL),
        _col("body"), sa.UniqueConstraint("id"), _one_of("kind", CONVERSATION_KINDS), sqlite_autoincrement=True)
    op.create_index("conversations_by_kind", "conversations", ["kind", "collection", "updated_at"])
    items = op.create_table(
        "conversation_items", sa.Column("seq", INT(), primary_key=True), _req("id"),
        sa.Column("conversation_id", TEXT(), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        _req("kind"), _col("role"), _col("status"), _req("content", default="''"), _col("tool_name"),
        _col("call_id"), _col("arguments"), _col("output"), _req("citations", default="'[]'"),
        _req("sources", default="'[]'"), _col("standalone"), _col("run_id"), _col("response_id"),
        _req("created_at", REAL), _col("body"), sa.UniqueConstraint("id"), _one_of("kind", ITEM_KINDS),
        sqlite_autoincrement=True)
    op.create_index("conversation_items_by_conversation", "conversation_items", ["conversation_id", "seq"])
    return conversations, items


def _old(name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=op.get_bind())


def _rows(table: sa.Table, order: str) -> Iterator[list[dict[str, Any]]]:
    """The table's rows in ``order``, a batch at a time."""
    result = op.get_bind().execute(sa.select(table).order_by(table.c[order]))
    for batch in result.mappings().partitions(BATCH):
        yield [dict(row) for row in batch]


def _highest(table: sa.Table, column: str) -> int:
    return op.get_bind().execute(sa.select(sa.func.max(table.c[column]))).scalar() or 0


def _fit(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    """The row as this revision's table holds it: the shared mappers may one day know columns a
    later revision adds."""
    return {k: v for k, v in row.items() if k in table.c}


def _restart_sequence(table: str, column: str = "seq") -> None:
    """PostgreSQL's serial sequence of ``table`` after rows inserted with explicit keys."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                           f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"))


def _copy_conversations(target: sa.Table) -> dict[str, Conversation]:
    """Chat threads (oldest first), then Assistants threads, then conversations, in their order."""
    bind, copied, base = op.get_bind(), {}, 0
    for name in OLD_CONVERSATIONS:
        table = _old(name)
        order = "created_at" if name == "threads" else "seq"
        for n, batch in enumerate(_rows(table, order)):
            rows = []
            for i, row in enumerate(batch):
                made = fold_row(name, row)
                assert isinstance(made, Conversation)
                copied[made.id] = made
                seq = base + (n * BATCH + i + 1 if name == "threads" else row["seq"])
                rows.append(_fit(target, {"seq": seq, **conversation_row(made)}))
            bind.execute(target.insert(), rows)
        base = _highest(target, "seq")
    _restart_sequence("conversations")
    return copied


def _copy_items(target: sa.Table, conversations: dict[str, Conversation]) -> None:
    """Chat messages keep their id as ``seq``; the others follow in their old order."""
    bind, base = op.get_bind(), 0
    for name, order, parent in OLD_ITEMS:
        table = _old(name)
        for batch in _rows(table, order):
            rows = []
            for row in batch:
                owner = conversations.get(row[parent])
                if owner is None:
                    log.warning("%s row %s belongs to no conversation %r: not copied", name, row[order], row[parent])
                    continue
                rows.append(_fit(target, {"seq": base + row[order], **item_row(fold_row(name, row, owner.created_at))}))
            if rows:
                bind.execute(target.insert(), rows)
        base = max(base, _highest(target, "seq"))
    _restart_sequence("conversation_items")


def upgrade() -> None:
    conversations, items = _create_new()
    _copy_items(items, _copy_conversations(conversations))
    for table in ("messages", "threads", "asst_messages", "asst_threads", "conv_items", "conv_conversations"):
        op.drop_table(table)


# -- downgrade: the three pairs of tables of revision 0001, filled from the model -----------------
def _keyed(name: str, *columns: sa.Column) -> None:
    op.create_table(name, sa.Column("seq", INT(), primary_key=True), _req("id"), *columns,
                    sa.UniqueConstraint("id"), sqlite_autoincrement=True)


def _create_old() -> None:
    op.create_table("threads", sa.Column("id", TEXT(), primary_key=True), _req("title"), _req("collection"),
                    _col("owner"), _req("created_at", REAL), _req("updated_at", REAL))
    op.create_index("threads_by_collection", "threads", ["collection", "updated_at"])
    op.create_table("messages", sa.Column("id", INT(), primary_key=True),
                    sa.Column("thread_id", TEXT(), sa.ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
                    _req("role"), _req("content"), _req("created_at", REAL), _req("citations", default="'[]'"),
                    _req("sources", default="'[]'"), _col("standalone"),
                    sa.CheckConstraint("role IN ('user', 'assistant')"), sqlite_autoincrement=True)
    op.create_index("messages_by_thread", "messages", ["thread_id", "id"])
    for table in ("asst_threads", "conv_conversations"):
        _keyed(table, _req("owner"), _req("body"))
    _keyed("asst_messages", _req("thread_id"), _col("run_id"), _req("role"), _req("body"), _col("standalone"),
           _col("sources"))
    op.create_index("asst_messages_by_thread", "asst_messages", ["thread_id", "seq"])
    _keyed("conv_items", _req("conversation_id"), _req("body"), _col("standalone"), _col("sources"))
    op.create_index("conv_items_by_conversation", "conv_items", ["conversation_id", "seq"])


#: (old table, its columns, what fills them, the kind of conversation) -- plain SQL both databases run
_BACK = (
    ("threads", "id, title, collection, owner, created_at, updated_at",
     "c.id, c.title, c.collection, c.owner, c.created_at, c.updated_at", "chat", False),
    ("asst_threads", "seq, id, owner, body", "c.seq, c.id, c.owner, c.body", "assistants_thread", False),
    ("conv_conversations", "seq, id, owner, body", "c.seq, c.id, c.owner, c.body", "responses_conversation", False),
    ("messages", "id, thread_id, role, content, created_at, citations, sources, standalone",
     "i.seq, i.conversation_id, i.role, i.content, i.created_at, i.citations, i.sources, i.standalone", "chat", True),
    ("asst_messages", "seq, id, thread_id, run_id, role, body, standalone, sources",
     "i.seq, i.id, i.conversation_id, i.run_id, i.role, i.body, i.standalone, i.sources", "assistants_thread", True),
    ("conv_items", "seq, id, conversation_id, body, standalone, sources",
     "i.seq, i.id, i.conversation_id, i.body, i.standalone, i.sources", "responses_conversation", True),
)


def downgrade() -> None:
    _create_old()
    for table, columns, values, kind, of_items in _BACK:
        source = ("conversation_items i JOIN conversations c ON c.id = i.conversation_id" if of_items
                  else "conversations c")
        order = "i.seq" if of_items else "c.seq"
        op.execute(sa.text(f"INSERT INTO {table}({columns}) SELECT {values} FROM {source} "
                           f"WHERE c.kind = :kind ORDER BY {order}").bindparams(kind=kind))
        if table != "threads":  # the one table keyed by text
            _restart_sequence(table, "id" if table == "messages" else "seq")
    op.drop_table("conversation_items")  # its indexes go with it
    op.drop_table("conversations")
