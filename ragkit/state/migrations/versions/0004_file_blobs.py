"""Uploaded files' bytes in the state database, so that replicas on several hosts share them.

``file_blobs`` holds each uploaded file (key ``files/<file_id>/<name>``, the key ``api_files.path``
holds) and each waiting part of an Upload (``uploads/<upload_id>/<part_id>``) as numbered parts of
a few MB (:data:`ragkit.state.blobs.PART_BYTES`): a part is one row read or written at a time, so
neither side ever holds a whole file in memory, and no write transaction holds the database's write
lock for longer than one part takes. ``created_at`` lets a sweep tell the rows an interrupted upload
left behind from ones being written right now. Only a state database on a server (PostgreSQL) is
filled; a SQLite home keeps the bytes in its ``files/`` directory (:mod:`ragkit.library.file_bytes`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-05-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("file_blobs", sa.Column("key", sa.Text(), nullable=False),
                    sa.Column("part", sa.Integer(), nullable=False),
                    sa.Column("data", sa.LargeBinary(), nullable=False),
                    sa.Column("created_at", sa.REAL().with_variant(sa.Double(), "postgresql"), nullable=False),
                    sa.PrimaryKeyConstraint("key", "part"))


def downgrade() -> None:
    op.drop_table("file_blobs")
