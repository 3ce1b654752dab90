"""The server's audit log becomes a table: one row per request, beside everything else it traces.

It was a JSONL file (``<home>/server/audit.jsonl``). Lines were appended from several worker
processes and had to be parsed whole to be filtered; in the database the columns filtered on (key,
endpoint) and the ones every line has (time, method, status, latency) are columns, and the full
record -- question, retrieved chunks, answer, citations, errors -- is kept as it was, as JSON.
A home with an old ``audit.jsonl`` has it imported once when the server or ``ragkit logs``
opens the log (:func:`ragkit.state.audit.import_jsonl`): a migration does not know the home.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # PostgreSQL gets 64-bit keys and double-precision latencies (see revision 0001); SQLite's DDL is unchanged.
    op.create_table("audit", sa.Column("seq", sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
                                       primary_key=True),
                    sa.Column("time", sa.Text(), nullable=False), sa.Column("key", sa.Text()),
                    sa.Column("method", sa.Text()), sa.Column("endpoint", sa.Text()),
                    sa.Column("status", sa.Integer()), sa.Column("latency_ms", sa.REAL().with_variant(sa.Double(), "postgresql")),
                    sa.Column("record", sa.Text(), nullable=False), sqlite_autoincrement=True)
    op.create_index("audit_by_key", "audit", ["key", "seq"])


def downgrade() -> None:
    op.drop_index("audit_by_key", "audit")
    op.drop_table("audit")
