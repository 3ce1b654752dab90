"""The ``uploads`` and ``upload_parts`` tables: large files sent in parts (OpenAI's Uploads API).

An upload is ``pending`` until it is completed (then it names the file it became), cancelled or
expired. Adding a part and completing are decided inside one write transaction, so a part racing
a cancel, or two completes racing each other, cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ragkit.state.tables import Row, Tables, now


@dataclass(frozen=True)
class PartOutcome:
    """What adding a part found: the upload's status and the bytes it held before the part."""

    status: str
    received: int
    added: bool


def insert_upload(db: Tables, row: dict[str, Any]) -> None:
    with db.write() as conn:
        conn.execute("INSERT INTO uploads VALUES(:id, :filename, :bytes, :purpose, :mime_type, :created_at, "
                     ":expires_at, :status, :created_by, :file_id)", row)


def upload(db: Tables, upload_id: str) -> Row | None:
    return db.one("SELECT * FROM uploads WHERE id=?", (upload_id,))


def expire(db: Tables, upload_id: str) -> None:
    with db.write() as conn:
        conn.execute("UPDATE uploads SET status='expired' WHERE id=?", (upload_id,))


def expire_overdue(db: Tables, at: int | None = None) -> list[str]:
    """Mark every pending upload whose hour has passed by ``at`` (now when not given) expired, and
    return their ids so their parts can go: an upload nobody reads again would otherwise keep its
    parts on disk for ever. A complete racing this loses cleanly (it only completes a pending one)."""
    cutoff = now() if at is None else at
    with db.write() as conn:
        rows = conn.execute("UPDATE uploads SET status='expired' WHERE status='pending' AND expires_at <= ? "
                            "RETURNING id", (cutoff,)).fetchall()
    return [row["id"] for row in rows]


def pending_ids(db: Tables) -> set[str]:
    """The uploads still waiting for parts or a complete."""
    return {row["id"] for row in db.all("SELECT id FROM uploads WHERE status='pending'")}


def add_part(db: Tables, upload_id: str, part_id: str, size: int, capacity: int) -> PartOutcome:
    """Record a part while the upload is pending and its parts stay within ``capacity`` bytes."""
    with db.write() as conn:
        status = conn.execute("SELECT status FROM uploads WHERE id=?", (upload_id,)).fetchone()["status"]
        received = conn.execute("SELECT COALESCE(SUM(bytes), 0) AS n FROM upload_parts WHERE upload_id=?",
                                (upload_id,)).fetchone()["n"]
        added = status == "pending" and received + size <= capacity
        if added:
            conn.execute("INSERT INTO upload_parts VALUES(?,?,?,?)", (part_id, upload_id, now(), size))
    return PartOutcome(status, received, added)


def part_sizes(db: Tables, upload_id: str) -> dict[str, int]:
    """Each part's id and bytes."""
    return {p["id"]: p["bytes"] for p in db.all("SELECT * FROM upload_parts WHERE upload_id=?", (upload_id,))}


def complete(db: Tables, upload_id: str, file_id: str) -> bool:
    """Mark a pending upload completed as ``file_id``; False when it was no longer pending."""
    with db.write() as conn:
        return conn.execute("UPDATE uploads SET status='completed', file_id=? WHERE id=? AND status='pending'",
                            (file_id, upload_id)).rowcount > 0


def cancel(db: Tables, upload_id: str) -> bool:
    """Mark a pending upload cancelled; False when it was no longer pending (completed meanwhile)."""
    with db.write() as conn:
        return conn.execute("UPDATE uploads SET status='cancelled' WHERE id=? AND status='pending'",
                            (upload_id,)).rowcount > 0
