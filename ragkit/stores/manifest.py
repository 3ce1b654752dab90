"""The ingest manifest: what is stored for each file, and the bookkeeping that makes re-runs exact.

The home's state database (:mod:`ragkit.state`: a SQLite file beside the Chroma store, or the
PostgreSQL database ``database_url`` names) holds, per collection:

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

It is shared by both stages (ingest writes it; retrieval, status and eval read it), by threads and
by processes: every read and write checks a connection out of the state database's pool, and
every change is one write transaction (:meth:`ragkit.state.StateDB.write`), on SQLite or
PostgreSQL alike. Readers run while one writer commits.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ragkit.models import Chunk
from ragkit.state import StateDB, open_database
from ragkit.state.session import Row, Session

#: ids per ``IN (...)`` list, and chunks per page of :meth:`Manifest.iter_chunks`
BATCH = 500
PAGE = 1000
_FILE_COLUMNS = "path, source, size, mtime_ns, sha256, status, error, warnings, n_chunks, ingested_at"


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

    def __init__(self, state: StateDB | Path | str, collection: str) -> None:
        """``state`` is a home's state database, or the file or URL of one (a standalone manifest)."""
        self.state = state if isinstance(state, StateDB) else open_database(state)
        self.db_path = self.state.path
        self.collection = collection

    def close(self) -> None:
        """Nothing to release: each call returns its connection to the state database's pool."""

    def _one(self, sql: str, *args: Any) -> Row | None:
        return self.state.one(sql, (self.collection, *args))

    def _all(self, sql: str, *args: Any) -> list[Row]:
        return self.state.all(sql, (self.collection, *args))

    # -- files -------------------------------------------------------------------------
    def file(self, path: str) -> FileRecord | None:
        row = self._one(f"SELECT {_FILE_COLUMNS} FROM files WHERE collection=? AND path=?", path)
        return _record(row) if row else None

    def files_at(self, paths: Sequence[str]) -> dict[str, FileRecord]:
        """The records of those of ``paths`` the manifest knows, in a few queries: an ingest of
        many small documents asked one path at a time, a round trip per document."""
        found: dict[str, FileRecord] = {}
        paths = list(dict.fromkeys(paths))
        for start in range(0, len(paths), BATCH):
            part = paths[start:start + BATCH]
            marks = ",".join("?" * len(part))
            for row in self._all(f"SELECT {_FILE_COLUMNS} FROM files WHERE collection=? AND path IN ({marks})", *part):
                record = _record(row)
                found[record.path] = record
        return found

    def paths_with_chunks(self, paths: Sequence[str]) -> set[str]:
        """Those of ``paths`` that have chunks stored (batched like :meth:`files_at`)."""
        found: set[str] = set()
        paths = list(dict.fromkeys(paths))
        for start in range(0, len(paths), BATCH):
            part = paths[start:start + BATCH]
            marks = ",".join("?" * len(part))
            found.update(r["path"] for r in self._all(
                f"SELECT DISTINCT path FROM chunks WHERE collection=? AND path IN ({marks})", *part))
        return found

    def collections(self) -> list[str]:
        """Every collection of this state database that holds a file, this one's or not."""
        return [r["collection"] for r in self.state.all("SELECT DISTINCT collection FROM files ORDER BY collection", ())]

    def files(self) -> list[FileRecord]:
        return [_record(r) for r in self._all(f"SELECT {_FILE_COLUMNS} FROM files WHERE collection=? ORDER BY path")]

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        """Content unchanged (same sha256) but stat changed: remember the new stat."""
        with self.state.write() as db:
            db.execute("UPDATE files SET size=?, mtime_ns=? WHERE collection=? AND path=?",
                       (size, mtime_ns, self.collection, path))

    def record_failure(self, path: str, source: str, error: str) -> None:
        """Mark a file failed. Chunks already stored for it stay (nothing stored is lost)."""
        with self.state.write() as db:
            db.execute(
                "INSERT INTO files(collection, path, source, status, error, n_chunks, ingested_at) "
                "VALUES(?,?,?,?,?,0,?) ON CONFLICT(collection, path) DO UPDATE SET "
                "status='failed', error=excluded.error, size=NULL, mtime_ns=NULL, ingested_at=excluded.ingested_at",
                (self.collection, path, source, "failed", error, time.time()),
            )

    # -- chunks ------------------------------------------------------------------------
    def chunk_ids(self, path: str) -> set[str]:
        return {r["id"] for r in self._all("SELECT id FROM chunks WHERE collection=? AND path=?", path)}

    def mentions(self, paths: Sequence[str], text: str) -> bool:
        """Do these documents say ``text`` (a plain substring) in a chunk, in a chunk's context
        (title, section path) or in their file path? "acme-annual-report-2019.md" is about 2019
        even when no sentence of it says so."""
        paths = list(paths)[:BATCH]
        if not paths:
            return False
        marks = ",".join("?" * len(paths))
        sql = self.state.dialect
        context = f"COALESCE({sql.json_text('meta', 'context')}, '')"
        row = self._one(
            f"SELECT 1 AS x FROM chunks WHERE collection=? AND path IN ({marks}) AND ({sql.contains('text')} "
            f"OR {sql.contains('path')} OR {sql.contains(context)}) LIMIT 1", *paths, text, text, text)
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
        for those that agree, every chunk's text (as a sorted list: chunk ids differ per path,
        so no order the two backends share ties a file's chunks to its reading order)."""
        rows = self._all("SELECT path, COUNT(*) AS n, SUM(LENGTH(text)) AS length FROM chunks "
                         "WHERE collection=? GROUP BY path")
        by_shape: dict[tuple[int, int], list[str]] = {}
        for row in rows:
            by_shape.setdefault((row["n"], row["length"]), []).append(row["path"])
        groups: list[list[str]] = []
        for paths in by_shape.values():
            if len(paths) < 2:
                continue
            by_text: dict[str, list[str]] = {}
            for path in paths:
                texts = sorted(r["text"] for r in self._all("SELECT text FROM chunks WHERE collection=? AND path=?",
                                                             path))
                digest = hashlib.sha256("\x00".join(texts).encode("utf-8", "surrogatepass")).hexdigest()
                by_text.setdefault(digest, []).append(path)
            groups += [sorted(group) for group in by_text.values() if len(group) > 1]
        return sorted(groups)

    def live_ids(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        found: set[str] = set()
        for start in range(0, len(ids), BATCH):
            part = ids[start : start + BATCH]
            marks = ",".join("?" * len(part))
            found.update(r["id"] for r in self._all(f"SELECT id FROM chunks WHERE collection=? AND id IN ({marks})",
                                                    *part))
        return found

    def iter_chunks(self) -> Iterator[tuple[str, str, dict]]:
        """(id, text, metadata) of every live chunk, ordered by id, read a page at a time (no
        connection is held between pages, however slowly the caller consumes them)."""
        after: str | None = None
        while True:
            later = "" if after is None else " AND id > ?"
            rows = self._all(f"SELECT id, text, meta FROM chunks WHERE collection=?{later} ORDER BY id LIMIT ?",
                             *(() if after is None else (after,)), PAGE)
            for row in rows:
                yield row["id"], row["text"], json.loads(row["meta"])
            if len(rows) < PAGE:
                return
            after = rows[-1]["id"]

    def chunks_by_id(self, ids: Sequence[str]) -> dict[str, tuple[str, dict]]:
        found: dict[str, tuple[str, dict]] = {}
        for start in range(0, len(ids), BATCH):
            part = list(ids[start : start + BATCH])
            marks = ",".join("?" * len(part))
            for row in self._all(f"SELECT id, text, meta FROM chunks WHERE collection=? AND id IN ({marks})", *part):
                found[row["id"]] = (row["text"], json.loads(row["meta"]))
        return found

    def document_labels(self) -> dict[str, str]:
        """Each document's label: the head of its chunks' context line (readable name and title),
        or its source name when chunks carry no context."""
        labels = {}
        for row in self._all("SELECT path, MIN(meta) AS meta FROM chunks WHERE collection=? GROUP BY path"):
            data = json.loads(row["meta"])
            labels[row["path"]] = (data.get("context") or "").split("\n")[0].split(" > ")[0] or data.get("source", "")
        return labels

    def count_chunks(self) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM chunks WHERE collection=?")
        return int(row["n"]) if row else 0

    # -- the write protocol ------------------------------------------------------------
    def journal_add(self, ids: Iterable[str]) -> None:
        with self.state.write() as db:
            _journal(db, self.collection, ids)

    def journal_remove(self, ids: Iterable[str]) -> None:
        with self.state.write() as db:
            db.executemany("DELETE FROM journal WHERE collection=? AND id=?", ((self.collection, i) for i in ids))

    def pending(self) -> tuple[set[str], set[str]]:
        """Journalled ids split into (live, dead). Dead ones must be deleted from the store."""
        ids = {r["id"] for r in self._all("SELECT id FROM journal WHERE collection=?")}
        live = self.live_ids(ids)
        return live, ids - live

    def commit_files(self, files: Sequence["FileCommit"]) -> set[str]:
        """Make each file's chunks its live chunks, all in one transaction.

        The new chunks must already be in the store. Returns the ids that are no longer live;
        they are journalled here and must be deleted from the store by the caller.
        """
        stale_all: set[str] = set()
        with self.state.write() as db:
            changed = False
            for f in files:
                new_ids = {c.id for c in f.chunks}
                old_ids = {r["id"] for r in db.all("SELECT id FROM chunks WHERE collection=? AND path=?",
                                                   (self.collection, f.path))}
                stale = old_ids - new_ids
                _journal(db, self.collection, stale)
                db.executemany("DELETE FROM chunks WHERE collection=? AND id=?", ((self.collection, i) for i in stale))
                db.executemany(
                    "INSERT INTO chunks(collection, id, path, text, meta) VALUES(?,?,?,?,?) ON CONFLICT(collection, id) "
                    "DO UPDATE SET path=excluded.path, text=excluded.text, meta=excluded.meta",
                    ((self.collection, c.id, f.path, c.text, json.dumps(c.metadata()))
                     for c in f.chunks if c.id not in old_ids),
                )
                db.executemany("DELETE FROM journal WHERE collection=? AND id=?", ((self.collection, i) for i in new_ids))
                db.execute(
                    "INSERT INTO files(collection, path, source, size, mtime_ns, sha256, status, error, warnings, "
                    "n_chunks, ingested_at) VALUES(?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(collection, path) DO UPDATE SET "
                    "source=excluded.source, size=excluded.size, mtime_ns=excluded.mtime_ns, sha256=excluded.sha256, "
                    "status=excluded.status, error=excluded.error, warnings=excluded.warnings, "
                    "n_chunks=excluded.n_chunks, ingested_at=excluded.ingested_at",
                    (self.collection, f.path, f.source, f.size, f.mtime_ns, f.sha256, "ok", None,
                     json.dumps(list(f.warnings)), len(f.chunks), time.time()),
                )
                changed = changed or bool(stale or new_ids - old_ids)
                stale_all |= stale
            if changed:
                _bump_generation(db, self.collection)
        return stale_all

    def forget_file(self, path: str) -> set[str]:
        """Remove a file and its chunks from the manifest; returns the (journalled) ids to delete."""
        with self.state.write() as db:
            ids = {r["id"] for r in db.all("SELECT id FROM chunks WHERE collection=? AND path=?",
                                           (self.collection, path))}
            _journal(db, self.collection, ids)
            db.execute("DELETE FROM chunks WHERE collection=? AND path=?", (self.collection, path))
            db.execute("DELETE FROM files WHERE collection=? AND path=?", (self.collection, path))
            if ids:
                _bump_generation(db, self.collection)
        return ids

    def drop_collection(self) -> None:
        """Forget everything this collection holds (files, chunks, journal, state)."""
        with self.state.write() as db:
            for table in ("files", "chunks", "journal", "state"):
                db.execute(f"DELETE FROM {table} WHERE collection=?", (self.collection,))

    # -- state -------------------------------------------------------------------------
    def generation(self) -> int:
        row = self._one("SELECT value FROM state WHERE collection=? AND key='generation'")
        return int(row["value"]) if row else 0

    def set_state(self, key: str, value: str) -> None:
        with self.state.write() as db:
            db.execute("INSERT INTO state(collection, key, value) VALUES(?,?,?) "
                       "ON CONFLICT(collection, key) DO UPDATE SET value=excluded.value", (self.collection, key, value))

    def get_state(self, key: str) -> str | None:
        row = self._one("SELECT value FROM state WHERE collection=? AND key=?", key)
        return row["value"] if row else None

    # -- embedding cache ---------------------------------------------------------------
    def cached_vectors(self, embedder_id: str, shas: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(shas))
        for start in range(0, len(unique), BATCH):
            part = unique[start : start + BATCH]
            marks = ",".join("?" * len(part))
            rows = self.state.all(
                f"SELECT text_sha256, vector FROM embed_cache WHERE embedder=? AND text_sha256 IN ({marks})",
                (embedder_id, *part))
            for row in rows:
                found[row["text_sha256"]] = np.frombuffer(row["vector"], dtype=np.float32)
        return found

    def cache_vectors(self, embedder_id: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        with self.state.write() as db:
            db.executemany(
                "INSERT INTO embed_cache(embedder, text_sha256, vector) VALUES(?,?,?) "
                "ON CONFLICT(embedder, text_sha256) DO UPDATE SET vector=excluded.vector",
                ((embedder_id, sha, np.asarray(v, dtype=np.float32).tobytes()) for sha, v in items),
            )


def _journal(db: Session, collection: str, ids: Iterable[str]) -> None:
    """Journal ids (inside the caller's write transaction); ids already journalled stay once."""
    db.executemany("INSERT INTO journal(collection, id) VALUES(?, ?) ON CONFLICT DO NOTHING",
                   ((collection, i) for i in ids))


def _bump_generation(db: Session, collection: str) -> None:
    db.execute(
        "INSERT INTO state(collection, key, value) VALUES(?, 'generation', '1') ON CONFLICT(collection, key) "
        "DO UPDATE SET value = CAST(CAST(state.value AS INTEGER) + 1 AS TEXT)",
        (collection,),
    )


def _record(row: Row) -> FileRecord:
    return FileRecord(row["path"], row["source"], row["size"], row["mtime_ns"], row["sha256"], row["status"],
                      row["error"], json.loads(row["warnings"] or "[]"), row["n_chunks"] or 0, row["ingested_at"])
