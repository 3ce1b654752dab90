"""API keys: created by ``ragkit keys create``, stored only as a sha256 hash, shown once.

A key has a scope (``read`` < ``write`` < ``admin``) and may be limited to some vector stores.
The plain key never touches the disk: a stolen metadata file does not let anyone in, and a lost
key is revoked and replaced rather than recovered.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragkit.errors import UsageError
from ragkit.state import keys as stored
from ragkit.state.tables import Tables, now

SCOPES = ("read", "write", "admin")
KEY_PREFIX = "rk-"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name, scope and the stores it may use (None: all)."""

    id: str
    name: str
    scope: str
    vector_stores: frozenset[str] | None
    rate_limit: int | None = None

    def allows(self, needed: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(needed)

    def can_use_store(self, store: dict[str, Any]) -> bool:
        """A limited key sees its listed stores and the stores it created itself."""
        return (self.vector_stores is None or store["id"] in self.vector_stores
                or store.get("created_by") == self.id)


ANONYMOUS = Principal(id="anonymous", name="anonymous", scope="admin", vector_stores=None)


def create_key(db: Tables, name: str, scope: str = "read", vector_stores: Sequence[str] = (),
               rate_limit: int | None = None) -> dict[str, Any]:
    """Make a key; the returned dict is the only place the plain key ever appears."""
    name = name.strip()
    if not name:
        raise UsageError("a key needs a name")
    if scope not in SCOPES:
        raise UsageError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if rate_limit is not None and rate_limit < 0:
        raise UsageError("--rate-limit must be 0 (unlimited) or a positive number of requests per minute")
    if stored.name_taken(db, name):
        raise UsageError(f"an active key named {name!r} exists already: revoke it first or pick another name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = {"id": "key_" + secrets.token_hex(12), "name": name, "hash": hash_key(key), "prefix": key[:10],
           "scope": scope, "vector_stores": json.dumps(sorted(set(vector_stores))) if vector_stores else None,
           "rate_limit": rate_limit, "created_at": now()}
    stored.insert_key(db, row)
    return describe(row) | {"key": key}


def describe(row: dict[str, Any]) -> dict[str, Any]:
    """A key as ``keys list`` shows it: never the key or its hash."""
    return {"id": row["id"], "name": row["name"], "prefix": row["prefix"], "scope": row["scope"],
            "vector_stores": json.loads(row["vector_stores"]) if row.get("vector_stores") else None,
            "rate_limit": row.get("rate_limit"), "created_at": row["created_at"],
            "revoked_at": row.get("revoked_at"), "last_used_at": row.get("last_used_at")}


def list_keys(db: Tables, include_revoked: bool = False) -> list[dict[str, Any]]:
    return [describe(r) for r in stored.key_rows(db, include_revoked)]


def revoke_key(db: Tables, name_or_id: str) -> dict[str, Any]:
    row = stored.active_key(db, name_or_id)
    if row is None:
        raise UsageError(f"no active key named {name_or_id!r}")
    stored.revoke(db, row["id"])
    return describe(row | {"revoked_at": now()})


def principal_for(db: Tables, key: str) -> Principal | None:
    """The active key matching ``key``, or None (unknown or revoked)."""
    row = stored.key_by_hash(db, hash_key(key))
    if row is None:
        return None
    stores = frozenset(json.loads(row["vector_stores"])) if row["vector_stores"] else None
    return Principal(id=row["id"], name=row["name"], scope=row["scope"], vector_stores=stores,
                     rate_limit=row["rate_limit"])


def mark_used(db: Tables, key_id: str) -> None:
    stored.mark_used(db, key_id)
