"""The ingest manifest: what is stored for each file, and the bookkeeping that makes re-runs exact.

The home's state database (:mod:`ragkit.state`, one SQLite file beside the Chroma store) holds,
per collection:

* ``files``: path, size, mtime, sha256, status, error, warnings -- lets an unchanged file be
  skipped from a ``stat`` alone;
* ``chunks``: every live chunk's id, text and metadata -- the source of truth for the BM25 index
  and for citations;
* ``journal``: chunk ids that may exist in Chroma without being live (about to be written, or
  about to be deleted). Ids enter the journal *before* Chroma is touched and leave it only after,
  so a run killed at any point is repaired by the next one (:meth:`Manifest.pending`), which
  deletes every journalled id that is not live. That is what makes an interrupted run followed
  by a re-run converge to exactly the store a clean run makes;
* ``embed_cache``: vectors keyed by (embedder id, sha256 of text), so unchanged text is never
  embedded twice, even when a file is edited and its chunks shift;
* ``state``: a generation counter bumped on every change (the BM25 index records the generation
  it was built from) and the last ingest time.

It is shared by both stages (ingest writes it; retrieval, status and eval read it) and by
threads: each thread gets its own SQLite connection (a connection must not be shared across
threads), and WAL mode lets readers run while one writer commits.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ragkit.models import Chunk
from ragkit.state import StateDB, open_database


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileCommit:
    """The new state of one file, to be made live by :meth:`Manifest.commit_files`."""

    path: str
    source: str
    size: int
    mtime_ns: int
    sha256: str
    chunks: Sequence[Chunk]
    warnings: Sequence[str] = ()


@dataclass(frozen=True)
class FileRecord:
    path: str
    source: str
    size: int | None
    mtime_ns: int | None
    sha256: str | None
    status: str  # ok | failed
    error: str | None
    warnings: list[str]
    n_chunks: int
    ingested_at: float | None


class Manifest:
    """One collection's manifest, in the home's state database (its tables are created by the
    state layer's migrations, :mod:`ragkit.state`)."""

    def __init__(self, state: StateDB | Path, collection: str) -> None:
        """``state`` is a home's state database, or the file of one (a standalone manifest)."""
        self.state = state if isinstance(state, StateDB) else open_database(state)
        self.db_path = self.state.path
        self.collection = collection
        self._connections = self.state.connections()

    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's connection (see :mod:`ragkit.state.connections`)."""
        return self._connections.db

    def close(self) -> None:
        """Close this thread's connection; threads still using the manifest keep theirs."""
        self._connections.close()

    # -- transactions ------------------------------------------------------------------
    def _tx(self):
        return _Transaction(self._db)

    # -- files -------------------------------------------------------------------------
    def file(self, path: str) -> FileRecord | None:
        row = self._db.execute(
            "SELECT path, source, size, mtime_ns, sha256, status, error, warnings, n_chunks, ingested_at "
            "FROM files WHERE collection=? AND path=?",
            (self.collection, path),
        ).fetchone()
        return _record(row) if row else None

    def files(self) -> list[FileRecord]:
        rows = self._db.execute(
            "SELECT path, source, size, mtime_ns, sha256, status, error, warnings, n_chunks, ingested_at "
            "FROM files WHERE collection=? ORDER BY path",
            (self.collection,),
        ).fetchall()
        return [_record(r) for r in rows]

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        """Content unchanged (same sha256) but stat changed: remember the new stat."""
        self._db.execute(
            "UPDATE files SET size=?, mtime_ns=? WHERE collection=? AND path=?",
            (size, mtime_ns, self.collection, path),
        )

    def record_failure(self, path: str, source: str, error: str) -> None:
        """Mark a file failed. Chunks already stored for it stay (nothing stored is lost)."""
        with self._tx():
            self._db.execute(
                "INSERT INTO files(collection, path, source, status, error, n_chunks, ingested_at) "
                "VALUES(?,?,?,?,?,0,?) ON CONFLICT(collection, path) DO UPDATE SET "
                "status='failed', error=excluded.error, size=NULL, mtime_ns=NULL, ingested_at=excluded.ingested_at",
                (self.collection, path, source, "failed", error, time.time()),
            )

    # -- chunks ------------------------------------------------------------------------
    def chunk_ids(self, path: str) -> set[str]:
        rows = self._db.execute("SELECT id FROM chunks WHERE collection=? AND path=?", (self.collection, path))
        return {r[0] for r in rows}

    def mentions(self, paths: Sequence[str], text: str) -> bool:
        """Do these documents say ``text`` (a plain substring) in a chunk, in a chunk's context
        (title, section path) or in their file path? "acme-annual-report-2019.md" is about 2019
        even when no sentence of it says so."""
        paths = list(paths)[:500]
        if not paths:
            return False
        marks = ",".join("?" * len(paths))
        row = self._db.execute(
            f"SELECT 1 FROM chunks WHERE collection=? AND path IN ({marks}) AND (instr(text, ?) > 0 "
            "OR instr(path, ?) > 0 OR instr(coalesce(json_extract(meta, '$.context'), ''), ?) > 0) LIMIT 1",
            (self.collection, *paths, text, text, text),
        ).fetchone()
        return row is not None

    def duplicates(self) -> list[list[str]]:
        """Groups of stored documents (by source name) with identical bytes or identical text.
        Their chunks are embedded once (the embedding cache is keyed by text) but stored and
        retrieved once per file, so they crowd results; the user may want to remove one."""
        files = self.files()
        source = {record.path: record.source for record in files}
        by_hash: dict[str, list[str]] = {}
        for record in files:
            if record.status == "ok" and record.sha256:
                by_hash.setdefault(record.sha256, []).append(record.path)
        groups: list[set[str]] = []
        for group in [*by_hash.values(), *self.same_text()]:
            if len(group) < 2:
                continue
            merged = set(group)
            for other in [g for g in groups if g & merged]:  # the same bytes are the same text too
                merged |= other
                groups.remove(other)
            groups.append(merged)
        return sorted(sorted(source.get(path, path) for path in group) for group in groups)

    def same_text(self) -> list[list[str]]:
        """Groups of documents (paths) whose chunks have the same texts: the same document saved
        twice (a PDF re-exported, a text in another encoding), whose bytes differ. Compared in two
        steps so that a large collection stays quick: chunk count and total length first, then,
        for those that agree, every chunk's text."""
        rows = self._db.execute("SELECT path, COUNT(*), SUM(LENGTH(text)) FROM chunks WHERE collection=? GROUP BY path",
                                (self.collection,)).fetchall()
        by_shape: dict[tuple[int, int], list[str]] = {}
        for path, count, length in rows:
            by_shape.setdefault((count, length), []).append(path)
        groups: list[list[str]] = []
        for paths in by_shape.values():
            if len(paths) < 2:
                continue
            by_text: dict[str, list[str]] = {}
            for path in paths:
                texts = self._db.execute("SELECT text FROM chunks WHERE collection=? AND path=? ORDER BY rowid",
                                         (self.collection, path))
                digest = hashlib.sha256("\x00".join(t for (t,) in texts).encode("utf-8", "surrogatepass")).hexdigest()
                by_text.setdefault(digest, []).append(path)
            groups += [sorted(group) for group in by_text.values() if len(group) > 1]
        return sorted(groups)

    def live_ids(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT id FROM chunks WHERE collection=? AND id IN ({marks})", (self.collection, *part)
            )
            found.update(r[0] for r in rows)
        return found

    def iter_chunks(self) -> Iterator[tuple[str, str, dict]]:
        """(id, text, metadata) of every live chunk, in a stable order."""
        rows = self._db.execute("SELECT id, text, meta FROM chunks WHERE collection=? ORDER BY rowid", (self.collection,))
        for chunk_id, text, meta in rows:
            yield chunk_id, text, json.loads(meta)

    def chunks_by_id(self, ids: Sequence[str]) -> dict[str, tuple[str, dict]]:
        found: dict[str, tuple[str, dict]] = {}
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT id, text, meta FROM chunks WHERE collection=? AND id IN ({marks})", (self.collection, *part)
            )
            for chunk_id, text, meta in rows:
                found[chunk_id] = (text, json.loads(meta))
        return found

    def document_labels(self) -> dict[str, str]:
        """Each document's label: the head of its chunks' context line (readable name and title),
        or its source name when chunks carry no context."""
        rows = self._db.execute("SELECT path, MIN(meta) FROM chunks WHERE collection=? GROUP BY path",
                                (self.collection,))
        labels = {}
        for path, meta in rows:
            data = json.loads(meta)
            labels[path] = (data.get("context") or "").split("\n")[0].split(" > ")[0] or data.get("source", "")
        return labels

    def count_chunks(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM chunks WHERE collection=?", (self.collection,)).fetchone()[0]

    # -- the write protocol ------------------------------------------------------------
    def journal_add(self, ids: Iterable[str]) -> None:
        with self._tx():
            self._db.executemany(
                "INSERT OR IGNORE INTO journal(collection, id) VALUES(?, ?)", ((self.collection, i) for i in ids)
            )

    def journal_remove(self, ids: Iterable[str]) -> None:
        with self._tx():
            self._db.executemany("DELETE FROM journal WHERE collection=? AND id=?", ((self.collection, i) for i in ids))

    def pending(self) -> tuple[set[str], set[str]]:
        """Journalled ids split into (live, dead). Dead ones must be deleted from the store."""
        ids = {r[0] for r in self._db.execute("SELECT id FROM journal WHERE collection=?", (self.collection,))}
        live = self.live_ids(ids)
        return live, ids - live

    def commit_files(self, files: Sequence["FileCommit"]) -> set[str]:
        """Make each file's chunks its live chunks, all in one transaction.

        The new chunks must already be in the store. Returns the ids that are no longer live;
        they are journalled here and must be deleted from the store by the caller.
        """
        stale_all: set[str] = set()
        with self._tx():
            changed = False
            for f in files:
                new_ids = {c.id for c in f.chunks}
                old_ids = {r[0] for r in self._db.execute(
                    "SELECT id FROM chunks WHERE collection=? AND path=?", (self.collection, f.path))}
                stale = old_ids - new_ids
                self._db.executemany(
                    "INSERT OR IGNORE INTO journal(collection, id) VALUES(?, ?)", ((self.collection, i) for i in stale)
                )
                self._db.executemany("DELETE FROM chunks WHERE collection=? AND id=?",
                                     ((self.collection, i) for i in stale))
                self._db.executemany(
                    "INSERT OR REPLACE INTO chunks(collection, id, path, text, meta) VALUES(?,?,?,?,?)",
                    ((self.collection, c.id, f.path, c.text, json.dumps(c.metadata()))
                     for c in f.chunks if c.id not in old_ids),
                )
                self._db.executemany("DELETE FROM journal WHERE collection=? AND id=?",
                                     ((self.collection, i) for i in new_ids))
                self._db.execute(
                    "INSERT OR REPLACE INTO files(collection, path, source, size, mtime_ns, sha256, status, error, "
                    "warnings, n_chunks, ingested_at) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                    (self.collection, f.path, f.source, f.size, f.mtime_ns, f.sha256, "ok", None,
                     json.dumps(list(f.warnings)), len(f.chunks), time.time()),
                )
                changed = changed or bool(stale or new_ids - old_ids)
                stale_all |= stale
            if changed:
                self._bump_generation()
        return stale_all

    def forget_file(self, path: str) -> set[str]:
        """Remove a file and its chunks from the manifest; returns the (journalled) ids to delete."""
        with self._tx():
            ids = {r[0] for r in self._db.execute(
                "SELECT id FROM chunks WHERE collection=? AND path=?", (self.collection, path))}
            self._db.executemany(
                "INSERT OR IGNORE INTO journal(collection, id) VALUES(?, ?)", ((self.collection, i) for i in ids)
            )
            self._db.execute("DELETE FROM chunks WHERE collection=? AND path=?", (self.collection, path))
            self._db.execute("DELETE FROM files WHERE collection=? AND path=?", (self.collection, path))
            if ids:
                self._bump_generation()
        return ids

    def drop_collection(self) -> None:
        """Forget everything this collection holds (files, chunks, journal, state)."""
        with self._tx():
            for table in ("files", "chunks", "journal", "state"):
                self._db.execute(f"DELETE FROM {table} WHERE collection=?", (self.collection,))

    # -- state -------------------------------------------------------------------------
    def _bump_generation(self) -> None:
        self._db.execute(
            "INSERT INTO state(collection, key, value) VALUES(?, 'generation', '1') "
            "ON CONFLICT(collection, key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            (self.collection,),
        )

    def generation(self) -> int:
        row = self._db.execute(
            "SELECT value FROM state WHERE collection=? AND key='generation'", (self.collection,)
        ).fetchone()
        return int(row[0]) if row else 0

    def set_state(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO state(collection, key, value) VALUES(?,?,?)", (self.collection, key, value)
        )

    def get_state(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM state WHERE collection=? AND key=?", (self.collection, key)).fetchone()
        return row[0] if row else None

    # -- embedding cache ---------------------------------------------------------------
    def cached_vectors(self, embedder_id: str, shas: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(shas))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT text_sha256, vector FROM embed_cache WHERE embedder=? AND text_sha256 IN ({marks})",
                (embedder_id, *part),
            )
            for sha, blob in rows:
                found[sha] = np.frombuffer(blob, dtype=np.float32)
        return found

    def cache_vectors(self, embedder_id: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        with self._tx():
            self._db.executemany(
                "INSERT OR REPLACE INTO embed_cache(embedder, text_sha256, vector) VALUES(?,?,?)",
                ((embedder_id, sha, np.asarray(v, dtype=np.float32).tobytes()) for sha, v in items),
            )


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self):
        self._db.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, exc_type, exc, tb):
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False


def _record(row) -> FileRecord:
    path, source, size, mtime_ns, sha, status, error, warnings, n_chunks, ingested_at = row
    return FileRecord(path, source, size, mtime_ns, sha, status, error, json.loads(warnings or "[]"),
                      n_chunks or 0, ingested_at)
