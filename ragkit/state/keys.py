"""The ``api_keys`` table: each key's name, scope, stores and rate limit, and only its hash.

The plain key is never stored (a stolen database lets nobody in), so a key is found by the
sha256 of what a client sends. A revoked key keeps its row (``revoked_at``) for the record.
"""

from __future__ import annotations

from typing import Any

from ragkit.state.tables import Row, Tables, now


def name_taken(db: Tables, name: str) -> bool:
    """Whether an active key has this name (names must be unique among active keys)."""
    return db.one("SELECT 1 AS x FROM api_keys WHERE name=? AND revoked_at IS NULL", (name,)) is not None


def insert_key(db: Tables, row: dict[str, Any]) -> None:
    with db.write() as conn:
        conn.execute("INSERT INTO api_keys(id, name, hash, prefix, scope, vector_stores, rate_limit, created_at) "
                     "VALUES(:id, :name, :hash, :prefix, :scope, :vector_stores, :rate_limit, :created_at)", row)


def key_rows(db: Tables, include_revoked: bool = False) -> list[Row]:
    """Keys in creation order, active ones only unless ``include_revoked``."""
    sql = "SELECT * FROM api_keys" + ("" if include_revoked else " WHERE revoked_at IS NULL") + " ORDER BY seq"
    return db.all(sql)


def active_key(db: Tables, name_or_id: str) -> Row | None:
    """The active key with this name, id or prefix."""
    return db.one("SELECT * FROM api_keys WHERE (name=? OR id=? OR prefix=?) AND revoked_at IS NULL",
                  (name_or_id, name_or_id, name_or_id))


def revoke(db: Tables, key_id: str) -> None:
    with db.write() as conn:
        conn.execute("UPDATE api_keys SET revoked_at=? WHERE id=?", (now(), key_id))


def key_by_hash(db: Tables, key_hash: str) -> Row | None:
    """The active key whose hash this is (None: unknown or revoked)."""
    return db.one("SELECT * FROM api_keys WHERE hash=? AND revoked_at IS NULL", (key_hash,))


def mark_used(db: Tables, key_id: str) -> None:
    with db.write() as conn:
        conn.execute("UPDATE api_keys SET last_used_at=? WHERE id=?", (now(), key_id))
