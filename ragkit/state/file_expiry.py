"""When uploaded files expire (``api_files.expires_at``, revision 0005).

A file's expiry is written just after its row (:meth:`ragkit.state.library.Library.insert_file`),
by the request that created it; :func:`expired` lists the files whose time has come, for the
library to delete (:meth:`ragkit.library.Library.purge_expired_files`).
"""

from __future__ import annotations

from ragkit.state.tables import Row, Tables, now


def set_expiry(db: Tables, file_id: str, expires_at: int | None) -> None:
    with db.write() as conn:
        conn.execute("UPDATE api_files SET expires_at=? WHERE id=?", (expires_at, file_id))


def expired(db: Tables, at: int | None = None) -> list[Row]:
    """The files that have expired by ``at`` (now when not given), oldest expiry first."""
    return db.all("SELECT * FROM api_files WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at",
                  (now() if at is None else at,))


def has_expired(row: Row, at: int | None = None) -> bool:
    expires_at = row.get("expires_at")
    return expires_at is not None and expires_at <= (now() if at is None else at)
