"""Uploaded files may expire: ``api_files.expires_at`` (OpenAI's ``expires_after`` on a file).

A file created with ``expires_after={"anchor": "created_at", "seconds": N}`` holds the time it
expires at; NULL (every file before this revision) never expires. Expired files are deleted by the
server (:meth:`ragkit.library.Library.purge_expired_files`); the index finds them without a scan.

Revision ID: 0005
Revises: 0004
Create Date: 2026-05-13
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_files", sa.Column("expires_at", sa.Integer().with_variant(sa.BigInteger(), "postgresql")))
    op.create_index("api_files_by_expiry", "api_files", ["expires_at"])


def downgrade() -> None:
    op.drop_index("api_files_by_expiry", "api_files")
    with op.batch_alter_table("api_files") as batch:
        batch.drop_column("expires_at")
