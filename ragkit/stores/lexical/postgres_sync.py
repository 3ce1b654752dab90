"""The postgres backend's writer: bring a collection's postings to the manifest's generation.

Like the tantivy writer (:mod:`ragkit.stores.lexical.tantivy_sync`) it follows the manifest file
by file: a changed file's postings, chunks and row are deleted and written again, and the
statistics (chunk and file counts, tokens, each term's counts) move by the difference, so an
update costs what it changes. Unlike tantivy, all of it -- postings, statistics and the generation
-- is one transaction: a killed writer leaves nothing behind, and a reader sees the index before
or after a sync, never between.

Writers of one collection serialize on an advisory lock (``pg_advisory_xact_lock``, released with
the transaction, also when the writer's connection dies); the manifest's generation is read after
the lock is taken, so a writer that waited sees what the one before it wrote. Readers never wait:
they read their own snapshot (:mod:`ragkit.stores.lexical.postgres_index`).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Collection, Iterable

from ragkit.stores.lexical.base import Rows, chunk_fields, rows_of, stamp, tokenized
from ragkit.stores.lexical.postgres_index import PostgresIndex, open_reader
from ragkit.stores.lexical.postgres_schema import PostgresTarget, engines

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.stores.manifest import Manifest


def saved_generation(target: PostgresTarget) -> int | None:
    """The manifest generation the collection's index matches (None: never synced)."""
    with engines(target.url).reads.connect() as conn:
        row = conn.exec_driver_sql("SELECT generation FROM lexical_collections WHERE name = %s",
                                   (target.collection,)).fetchone()
    return None if row is None else row[0]


def sync(manifest: "Manifest", target: PostgresTarget, changed: Collection[str] | None = None) -> PostgresIndex:
    """Bring the index to the manifest's generation and return a snapshot of it.

    ``changed``: the paths written since the index last matched the manifest, when the caller
    knows them (an ingest run); otherwise every file's stamp is compared."""
    with _Writer(target) as writer:
        generation = manifest.generation()  # read after the lock: a later change shows as stale
        if writer.generation != generation:
            if changed is None or writer.generation is None:
                plan = writer.differences({record.path: stamp(record) for record in manifest.files()})
            else:
                plan = {path: stamp(manifest.file(path)) for path in changed}
            writer.remove(list(plan))
            writer.add(tokenized(rows_of(manifest, [p for p, value in plan.items() if value is not None])), plan)
            writer.finish(generation)
    return _reader(target)


def build(target: PostgresTarget, rows: Iterable[tuple[str, str, dict]], generation: int) -> PostgresIndex:
    """Replace the collection's index with these (id, text, metadata) rows, grouped by path, at
    ``generation``: an index without a manifest (tests, evaluations)."""
    by_path: dict[str, list[tuple[str, str, dict]]] = {}
    for row in rows:
        by_path.setdefault(row[2].get("path", ""), []).append(row)
    with _Writer(target) as writer:
        writer.remove(list(writer.differences({})))
        writer.add(tokenized(by_path.items()), {path: "" for path in by_path})
        writer.finish(generation)
    return _reader(target)


def drop(target: PostgresTarget) -> None:
    """Delete the collection's index (its postings, chunks, files, vocabulary and row)."""
    with _Writer(target) as writer:
        for table in ("lexical_terms", "lexical_chunks", "lexical_vocabulary"):
            writer.execute(f"DELETE FROM {table} WHERE collection_id = %s", (writer.id,))
        writer.execute("DELETE FROM lexical_collections WHERE id = %s", (writer.id,))  # files cascade


def _reader(target: PostgresTarget) -> PostgresIndex:
    reader = open_reader(target)
    assert reader is not None  # just written; a later writer may have moved it on, never back to None
    return reader


class _Writer:
    """One write transaction on a collection's index, holding the collection's advisory lock."""

    def __init__(self, target: PostgresTarget) -> None:
        self.target = target
        self.chunks = self.files = self.tokens = 0
        #: term -> [chunks, files] holding it, added minus removed
        self.vocabulary: dict[str, list[int]] = {}

    def __enter__(self) -> "_Writer":
        self._conn = engines(self.target.url).writes.connect()
        self._tx = self._conn.begin()
        self._db = self._conn.connection.driver_connection
        self.execute("SELECT pg_advisory_xact_lock(%s)", (self.target.lock_key(),))
        self.execute("INSERT INTO lexical_collections (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                     (self.target.collection,))
        self.id, self.generation = self.execute("SELECT id, generation FROM lexical_collections WHERE name = %s",
                                                (self.target.collection,))[0]
        return self

    def __exit__(self, kind, *_: object) -> None:
        try:
            self._tx.commit() if kind is None else self._tx.rollback()
        finally:
            self._conn.close()

    def execute(self, sql: str, params: Any = None) -> list[tuple]:
        cursor = self._db.cursor()
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def differences(self, wanted: dict[str, str | None]) -> dict[str, str | None]:
        """Files whose stamp differs between ``wanted`` and the index: path -> new stamp (None: drop)."""
        wanted = {path: value for path, value in wanted.items() if value is not None}
        have = dict(self.execute("SELECT path, stamp FROM lexical_files WHERE collection_id = %s", (self.id,)))
        plan: dict[str, str | None] = {path: value for path, value in wanted.items() if have.get(path) != value}
        plan.update({path: None for path in have if path not in wanted})
        return plan

    def remove(self, paths: list[str]) -> None:
        """Delete these files' postings, chunks and rows, counting what leaves the statistics."""
        if not paths:
            return
        found = self.execute("SELECT id, tokens FROM lexical_files WHERE collection_id = %s AND path = ANY(%s)",
                             (self.id, paths))
        if not found:
            return
        ids = [file_id for file_id, _ in found]
        self.files -= len(ids)
        self.tokens -= sum(tokens for _, tokens in found)
        self.chunks -= self.execute("SELECT count(*) FROM lexical_chunks WHERE file_id = ANY(%s)", (ids,))[0][0]
        for term, chunks, files in self.execute(
                "SELECT term, count(*), count(DISTINCT file_id) FROM lexical_terms WHERE file_id = ANY(%s) "
                "GROUP BY term", (ids,)):
            counts = self.vocabulary.setdefault(term, [0, 0])
            counts[0] -= chunks
            counts[1] -= files
        for sql in ("DELETE FROM lexical_terms WHERE file_id = ANY(%s)",
                    "DELETE FROM lexical_chunks WHERE file_id = ANY(%s)",
                    "DELETE FROM lexical_files WHERE id = ANY(%s)"):
            self.execute(sql, (ids,))

    def add(self, batches: Iterable[tuple[str, Rows, list[list[str]]]], stamps: dict[str, str | None]) -> None:
        """Write each file's chunks and postings, a few thousand chunks per COPY."""
        pending: list[tuple[str, Rows, list[list[str]]]] = []
        size = 0
        for path, rows, tokens in batches:
            pending.append((path, rows, tokens))
            size += len(rows)
            if size >= 4096:
                self._copy(pending, stamps)
                pending, size = [], 0
        self._copy(pending, stamps)

    def _ids(self, sequence: str, n: int) -> list[int]:
        return [row[0] for row in self.execute(f"SELECT nextval('{sequence}') FROM generate_series(1, %s)", (n,))]

    def _copy(self, pending: list[tuple[str, Rows, list[list[str]]]], stamps: dict[str, str | None]) -> None:
        if not pending:
            return
        file_ids = iter(self._ids("lexical_file_ids", len(pending)))
        chunk_ids = iter(self._ids("lexical_chunk_ids", sum(len(rows) for _, rows, _ in pending)))
        file_rows, chunk_rows, term_rows = [], [], []
        for path, rows, token_lists in pending:
            file_id, seen, source, file_type = next(file_ids), set(), "", ""
            for (chunk_id, _, meta), tokens in zip(rows, token_lists):
                key = next(chunk_ids)
                source, _, file_type, page = chunk_fields(meta)
                chunk_rows.append((key, self.id, file_id, chunk_id, page, len(tokens)))
                for term, tf in Counter(tokens).items():
                    term_rows.append((self.id, term, key, file_id, tf, len(tokens)))
                    self.vocabulary.setdefault(term, [0, 0])[0] += 1
                    seen.add(term)
            for term in seen:
                self.vocabulary[term][1] += 1
            length = sum(len(tokens) for tokens in token_lists)
            file_rows.append((file_id, self.id, path, source, file_type, stamps.get(path) or "", length))
            self.files += 1
            self.chunks += len(rows)
            self.tokens += length
        cursor = self._db.cursor()
        for table, columns, data in (
                ("lexical_files", "id, collection_id, path, source, file_type, stamp, tokens", file_rows),
                ("lexical_chunks", "id, collection_id, file_id, chunk_id, page, tokens", chunk_rows),
                ("lexical_terms", "collection_id, term, chunk, file_id, tf, tokens", term_rows)):
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)

    def finish(self, generation: int) -> None:
        """Move the vocabulary and the statistics by what changed, and record the generation."""
        moved = sorted((term, c, f) for term, (c, f) in self.vocabulary.items() if c or f)
        if moved:
            terms, chunks, files = (list(column) for column in zip(*moved))
            self.execute(
                "INSERT INTO lexical_vocabulary (collection_id, term, chunks, files) "
                "SELECT %s, t, c, f FROM unnest(%s::text[], %s::int[], %s::int[]) AS u(t, c, f) "
                "ON CONFLICT (collection_id, term) DO UPDATE SET chunks = lexical_vocabulary.chunks + EXCLUDED.chunks, "
                "files = lexical_vocabulary.files + EXCLUDED.files", (self.id, terms, chunks, files))
            self.execute("DELETE FROM lexical_vocabulary WHERE collection_id = %s AND term = ANY(%s) AND chunks <= 0",
                         (self.id, terms))
        self.execute("UPDATE lexical_collections SET chunks = chunks + %s, files = files + %s, tokens = tokens + %s, "
                     "generation = %s WHERE id = %s", (self.chunks, self.files, self.tokens, generation, self.id))
