"""Where deleted objects stood in their lists, so a cursor naming one still pages on.

A client that deletes the objects of a list while it pages through it (the SDK's auto-pagination:
``for vs in client.vector_stores.list(): client.vector_stores.delete(vs.id)``) asks for the next
page ``after`` an object it has just deleted. ``cursor_tombstones`` keeps that object's ``seq``
(its place in the list) under its table, id and ``scope`` (the store of a vector store file, else
empty) for a day (:func:`ragkit.state.tables.bury`), and a page whose cursor is gone starts there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    number = sa.Integer().with_variant(sa.BigInteger(), "postgresql")
    op.create_table("cursor_tombstones", sa.Column("tbl", sa.Text(), nullable=False),
                    sa.Column("id", sa.Text(), nullable=False),
                    sa.Column("scope", sa.Text(), nullable=False, server_default=sa.text("''")),
                    sa.Column("seq", number, nullable=False), sa.Column("deleted_at", number, nullable=False),
                    sa.PrimaryKeyConstraint("tbl", "id", "scope"))
    op.create_index("cursor_tombstones_by_age", "cursor_tombstones", ["deleted_at"])


def downgrade() -> None:
    op.drop_index("cursor_tombstones_by_age", "cursor_tombstones")
    op.drop_table("cursor_tombstones")
