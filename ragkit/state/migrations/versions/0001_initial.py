"""Every table of the ingest manifest, conversation threads, the server and feedback, in one database.

Until this revision each of them kept its own SQLite file and created its tables on first use;
the tables are the same (column for column, index for index), with one rename: the server's
uploaded files are ``api_files``, because the manifest's per-collection ``files`` table has the
name. A home in the old layout is imported by :mod:`ragkit.state.legacy`.

Revision ID: 0001
Revises:
Create Date: 2026-05-09
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TEXT = sa.Text
Kind = Callable[[], sa.types.TypeEngine]


def INT() -> sa.types.TypeEngine:  # noqa: N802 - a column type, named like the others
    """INTEGER; on PostgreSQL BIGINT (and BIGSERIAL keys): ``mtime_ns`` and byte counts outgrow 32 bits,
    which SQLite's INTEGER never does."""
    return sa.Integer().with_variant(sa.BigInteger(), "postgresql")


def REAL() -> sa.types.TypeEngine:  # noqa: N802
    """REAL; on PostgreSQL DOUBLE PRECISION: its REAL has 24 bits, too few for a Unix time in seconds."""
    return sa.REAL().with_variant(sa.Double(), "postgresql")


def _col(name: str, kind: Kind, nullable: bool = True, default: str | None = None) -> sa.Column:
    return sa.Column(name, kind(), nullable=nullable,
                     server_default=sa.text(default) if default is not None else None)


def _req(name: str, kind: Kind = TEXT, default: str | None = None) -> sa.Column:
    return _col(name, kind, nullable=False, default=default)


def _keyed(name: str, *columns: sa.Column | sa.Constraint) -> None:
    """A table keyed by ``seq`` (insertion order, never reused: the cursor pages' order) and a
    unique public ``id``."""
    op.create_table(name, sa.Column("seq", INT(), primary_key=True), _req("id"), *columns,
                    sa.UniqueConstraint("id"), sqlite_autoincrement=True)


def _manifest() -> None:
    op.create_table("files", _req("collection"), _req("path"), _req("source"), _col("size", INT),
                    _col("mtime_ns", INT), _col("sha256", TEXT), _req("status"), _col("error", TEXT),
                    _col("warnings", TEXT), _col("n_chunks", INT, default="0"), _col("ingested_at", REAL),
                    sa.PrimaryKeyConstraint("collection", "path"))
    op.create_table("chunks", _req("collection"), _req("id"), _req("path"), _req("text"), _req("meta"),
                    sa.PrimaryKeyConstraint("collection", "id"))
    op.create_index("chunks_by_path", "chunks", ["collection", "path"])
    op.create_table("journal", _req("collection"), _req("id"), sa.PrimaryKeyConstraint("collection", "id"))
    op.create_table("embed_cache", _req("embedder"), _req("text_sha256"), _req("vector", sa.LargeBinary),
                    sa.PrimaryKeyConstraint("embedder", "text_sha256"))
    op.create_table("state", _req("collection"), _req("key"), _col("value", TEXT),
                    sa.PrimaryKeyConstraint("collection", "key"))


def _conversations() -> None:
    op.create_table("threads", sa.Column("id", TEXT(), primary_key=True), _req("title"), _req("collection"),
                    _col("owner", TEXT), _req("created_at", REAL), _req("updated_at", REAL))
    op.create_index("threads_by_collection", "threads", ["collection", "updated_at"])
    op.create_table("messages", sa.Column("id", INT(), primary_key=True),
                    sa.Column("thread_id", TEXT(), sa.ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
                    _req("role"), _req("content"), _req("created_at", REAL), _req("citations", default="'[]'"),
                    _req("sources", default="'[]'"), _col("standalone", TEXT),
                    sa.CheckConstraint("role IN ('user', 'assistant')"), sqlite_autoincrement=True)
    op.create_index("messages_by_thread", "messages", ["thread_id", "id"])


def _server() -> None:
    _keyed("api_files", _req("filename"), _req("bytes", INT), _req("purpose"), _req("created_at", INT),
           _req("path"), _col("sha256", TEXT), _col("created_by", TEXT))
    op.create_index("api_files_by_path", "api_files", ["path"])
    _keyed("vector_stores", _req("name", default="''"), _col("description", TEXT), _req("created_at", INT),
           _col("last_active_at", INT), _col("metadata", TEXT), _col("expires_after", TEXT),
           _req("chunk_size", INT), _req("chunk_overlap", INT), _col("created_by", TEXT),
           _req("deleted", INT, default="0"), _req("files_version", INT, default="0"))
    op.create_table("vs_files", sa.Column("seq", INT(), primary_key=True), _req("vector_store_id"),
                    _req("file_id"), _req("created_at", INT), _req("status"), _col("last_error", TEXT),
                    _col("attributes", TEXT), _req("chunks", INT, default="0"), _col("claimed_by", TEXT),
                    _col("claimed_at", REAL), _req("attempts", INT, default="0"),
                    sa.UniqueConstraint("vector_store_id", "file_id"), sqlite_autoincrement=True)
    op.create_index("vs_files_queue", "vs_files", ["status", "claimed_by"])
    op.create_index("vs_files_by_store", "vs_files", ["vector_store_id", "status"])
    _keyed("batches", _req("vector_store_id"), _req("created_at", INT), _req("cancelled", INT, default="0"))
    op.create_table("batch_files", _req("batch_id"), _req("file_id"), sa.PrimaryKeyConstraint("batch_id", "file_id"))
    _keyed("api_keys", _req("name"), _req("hash"), _req("prefix"), _req("scope"), _col("vector_stores", TEXT),
           _col("rate_limit", INT), _req("created_at", INT), _col("revoked_at", INT), _col("last_used_at", INT),
           sa.UniqueConstraint("hash"))


def _assistants() -> None:
    for table in ("asst_assistants", "asst_threads", "conv_conversations"):
        _keyed(table, _req("owner"), _req("body"))
    _keyed("asst_messages", _req("thread_id"), _col("run_id", TEXT), _req("role"), _req("body"),
           _col("standalone", TEXT), _col("sources", TEXT))
    op.create_index("asst_messages_by_thread", "asst_messages", ["thread_id", "seq"])
    _keyed("asst_runs", _req("thread_id"), _req("owner"), _req("status"), _req("body"), _col("state", TEXT),
           _col("claimed_by", TEXT))
    op.create_index("asst_runs_by_thread", "asst_runs", ["thread_id", "seq"])
    _keyed("asst_steps", _req("run_id"), _req("body"))
    op.create_index("asst_steps_by_run", "asst_steps", ["run_id", "seq"])
    _keyed("resp_responses", _req("owner"), _col("previous_id", TEXT), _req("question"), _col("standalone", TEXT),
           _req("answer"), _col("sources", TEXT), _req("body"))
    op.create_table("resp_input_items", sa.Column("seq", INT(), primary_key=True), _req("id"),
                    _req("response_id"), _req("body"), sqlite_autoincrement=True)
    op.create_index("resp_input_items_by_response", "resp_input_items", ["response_id", "seq"])
    op.create_table("resp_tool_state", sa.Column("id", TEXT(), primary_key=True), _req("owner"), _req("state"))
    _keyed("conv_items", _req("conversation_id"), _req("body"), _col("standalone", TEXT), _col("sources", TEXT))
    op.create_index("conv_items_by_conversation", "conv_items", ["conversation_id", "seq"])


def _uploads_and_feedback() -> None:
    op.create_table("uploads", sa.Column("id", TEXT(), primary_key=True), _req("filename"), _req("bytes", INT),
                    _req("purpose"), _req("mime_type"), _req("created_at", INT), _req("expires_at", INT),
                    _req("status"), _col("created_by", TEXT), _col("file_id", TEXT))
    op.create_table("upload_parts", sa.Column("id", TEXT(), primary_key=True), _req("upload_id"),
                    _req("created_at", INT), _req("bytes", INT))
    op.create_index("upload_parts_by_upload", "upload_parts", ["upload_id"])
    _keyed("feedback", _req("created_at", INT), _col("key_id", TEXT), _col("key_name", TEXT),
           _col("vector_store_id", TEXT), _req("question"), _req("answer"), _req("refused", INT), _req("rating"),
           _col("correction", TEXT), _col("source_file", TEXT), _col("source_page", INT),
           _req("not_answerable", INT, default="0"), _req("citations"))


def upgrade() -> None:
    _manifest()
    _conversations()
    _server()
    _assistants()
    _uploads_and_feedback()


TABLES = ("feedback", "upload_parts", "uploads", "conv_items", "resp_tool_state", "resp_input_items",
          "resp_responses", "asst_steps", "asst_runs", "asst_messages", "conv_conversations", "asst_threads",
          "asst_assistants", "api_keys", "batch_files", "batches", "vs_files", "vector_stores", "api_files",
          "messages", "threads", "state", "embed_cache", "journal", "chunks", "files")


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
