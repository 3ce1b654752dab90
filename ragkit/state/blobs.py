"""The ``file_blobs`` table: bytes kept in the state database, in numbered parts, by key.

Replicas on several hosts share uploaded files through it (:mod:`ragkit.library.file_bytes` keeps
a local copy beside it). A blob is written one part per short write transaction -- a 64 MB upload
in one transaction would hold the database's write lock, and so every other writer of every
replica, for as long as it takes to send -- and read one part per query, so no side holds a whole
file in memory. A blob is therefore visible part by part while it is written: its readers learn
its key only from a row inserted after the last part (``api_files``, ``upload_parts``), and a
writer that dies midway leaves rows that :meth:`Blobs.sweep` removes once they are old.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from ragkit.state.tables import Tables

#: bytes per row: large enough that a file is few rows, small enough for one quick statement
PART_BYTES = 4 * 1024 * 1024


class Blobs(Tables):
    """Write, read and delete blobs by key."""

    def put(self, key: str, parts: Iterable[bytes]) -> int:
        """Store ``parts`` (each at most :data:`PART_BYTES`) as the blob ``key``, replacing one of
        that key; returns its size. An empty blob is one empty part, so it exists. If ``parts``
        raises, what was written is deleted and the error goes on."""
        self.delete(key)
        stamp, size, number = time.time(), 0, 0
        try:
            for number, data in enumerate(_nonempty(parts)):
                with self.write() as db:
                    db.execute("INSERT INTO file_blobs(key, part, data, created_at) VALUES(?,?,?,?)",
                               (key, number, data, stamp))
                size += len(data)
        except BaseException:
            self.delete(key)
            raise
        return size

    def parts(self, key: str) -> Iterator[bytes]:
        """The blob's bytes, part by part (nothing when there is no such blob)."""
        numbers = [r["part"] for r in self.all("SELECT part FROM file_blobs WHERE key=? ORDER BY part", (key,))]
        for number in numbers:
            row = self.one("SELECT data FROM file_blobs WHERE key=? AND part=?", (key, number))
            if row is None:  # deleted while it was read
                raise FileNotFoundError(key)
            yield bytes(row["data"])

    def exists(self, key: str) -> bool:
        return self.one("SELECT 1 AS x FROM file_blobs WHERE key=? AND part=0", (key,)) is not None

    def delete(self, key: str) -> None:
        with self.write() as db:
            db.execute("DELETE FROM file_blobs WHERE key=?", (key,))

    def delete_under(self, prefix: str) -> None:
        """Delete every blob whose key starts with ``prefix`` (``uploads/<id>/``: an upload's parts)."""
        with self.write() as db:
            db.execute("DELETE FROM file_blobs WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))

    def sweep(self, older_than: float) -> int:
        """Delete blobs nobody can reach and that were written more than ``older_than`` seconds
        ago (so none being written now): files whose ``api_files`` row never came, or went, and
        parts of uploads no longer pending. Returns how many blobs went."""
        cutoff = time.time() - older_than
        rows = self.all("SELECT key FROM file_blobs b WHERE part=0 AND created_at < ? AND ("
                        "(substr(key, 1, 6) = 'files/' AND NOT EXISTS (SELECT 1 FROM api_files f WHERE f.path = b.key)) "
                        "OR substr(key, 1, 8) = 'uploads/')", (cutoff,))
        pending = {r["id"] for r in self.all("SELECT id FROM uploads WHERE status='pending' AND expires_at > ?",
                                             (time.time(),))}
        gone = [r["key"] for r in rows if not (r["key"].startswith("uploads/") and r["key"].split("/")[1] in pending)]
        for key in gone:
            self.delete(key)
        return len(gone)


def _nonempty(parts: Iterable[bytes]) -> Iterator[bytes]:
    """``parts`` without empty ones, or one empty part for an empty blob."""
    any_part = False
    for data in parts:
        if data:
            any_part = True
            yield data
    if not any_part:
        yield b""
