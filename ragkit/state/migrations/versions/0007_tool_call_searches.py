"""The searches a chat completion ran before it stopped for the caller's functions.

A chat completion that ends with ``tool_calls`` returns the searches it ran (``ragkit.searches``
on the message) for the client to send back, but agent libraries rebuild the message from their
own record and drop fields OpenAI does not define. ``tool_call_searches`` keeps them for a day
under the key that asked and the first call's id, with a fingerprint of the calls
(:mod:`ragkit.state.tool_searches`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    number = sa.Integer().with_variant(sa.BigInteger(), "postgresql")
    op.create_table("tool_call_searches", sa.Column("owner", sa.Text(), nullable=False),
                    sa.Column("call_id", sa.Text(), nullable=False), sa.Column("calls", sa.Text(), nullable=False),
                    sa.Column("searches", sa.Text(), nullable=False), sa.Column("created_at", number, nullable=False),
                    sa.PrimaryKeyConstraint("owner", "call_id"))
    op.create_index("tool_call_searches_by_age", "tool_call_searches", ["created_at"])


def downgrade() -> None:
    op.drop_index("tool_call_searches_by_age", "tool_call_searches")
    op.drop_table("tool_call_searches")
