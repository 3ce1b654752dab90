"""The postgres backend's reader: one snapshot of a collection's postings, scored by PostgreSQL.

A reader answers for the generation it opened at, whatever writers commit meanwhile. Writers
change the postings, the statistics and the generation in one transaction, so a generation's
content never changes: while the index is still at the reader's generation, a query is one
autocommit statement that checks the generation and reads the postings in the same snapshot (one
round trip). For the index having moved on, the reader keeps its own snapshot: when it opens, one
connection (its *anchor*) begins a REPEATABLE READ transaction, exports its snapshot
(``pg_export_snapshot``) and reads the generation and statistics; a query that finds the
generation moved runs again in a transaction importing that snapshot (``SET TRANSACTION
SNAPSHOT``), on a pooled connection, so many threads query one reader at once.

An open anchor keeps PostgreSQL from vacuuming rows deleted after it, so it is bounded: its
session ends after ``ANCHOR_SECONDS`` idle in its transaction (or when the reader is closed or
collected). A reader queried after that *and* after a writer moved the index answers from the
newer postings over its own positions (chunks added since are left out); KnowledgeBase swaps its
reader as soon as the manifest's generation moves, so only a reader held aside lives that long.

BM25 is tantivy's: idf = ln(1 + (N - n + 0.5) / (n + 0.5)), k1 = 1.2, b = 0.75, with exact
lengths (tantivy rounds long ones to one byte), summed in SQL over the query's terms, a repeated
term counting as often as it is repeated. ``search``, ``top`` and ``scores_for`` rank in SQL (the
filter joined in) and read nothing else.

Dense per-position arrays (``scores``, ``ids`` and the filter fields) need the collection's
chunk list: it is read once per reader, when first asked for, in (chunk key) order. At 1M chunks
(10,000 files) that is one pass over ``lexical_chunks`` and ``lexical_files``: 3.4 to 7.4 s on 2
busy cores and about 310 MB more resident memory (bench/bench_lexical_postgres.py; chunk ids as
strings, the id-to-position map, int64 and object arrays). It is paid once per generation and process: every
thread shares the current reader. A query (``top``, ``scores_for``) needs none of it.

Queries read only the postings index (an index-only scan) once the table's visibility map is set,
which autovacuum does after a bulk load; until then each posting also costs a heap fetch.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ragkit.stores.lexical.base import ChunkFilter, Vocabulary
from ragkit.stores.lexical.postgres_schema import B, K1, PostgresTarget, engines
from ragkit.text import content_terms

#: an anchor's session ends after this long idle in its transaction (it then re-anchors when used)
ANCHOR_SECONDS = 300
_SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")

_WEIGHTS = """
WITH q AS (SELECT term, count(*) AS k FROM unnest(%(terms)s::text[]) AS term GROUP BY term),
w AS (SELECT q.term, q.k * ln(1 + (%(n)s - v.{count} + 0.5) / (v.{count} + 0.5)) * %(k1p1)s AS weight
      FROM q JOIN lexical_vocabulary v ON v.collection_id = %(c)s AND v.term = q.term)"""
_NORM = "%(k1)s * (1 - %(b)s + %(b)s * {length} / %(avg)s)"
CHUNK_SCORES = _WEIGHTS.format(count="chunks") + f"""
SELECT t.chunk, sum(w.weight * t.tf / (t.tf + {_NORM.format(length="t.tokens")})) AS score
FROM w JOIN lexical_terms t ON t.collection_id = %(c)s AND t.term = w.term
GROUP BY t.chunk"""
TOP_CHUNKS = f"""
SELECT c.chunk_id, s.score, s.chunk FROM ({CHUNK_SCORES} ORDER BY score DESC, t.chunk LIMIT %(k)s) s
JOIN lexical_chunks c ON c.id = s.chunk"""
FILE_SCORES = _WEIGHTS.format(count="files") + f""",
hits AS (SELECT t.file_id, t.term, sum(t.tf) AS tf
         FROM w JOIN lexical_terms t ON t.collection_id = %(c)s AND t.term = w.term GROUP BY t.file_id, t.term)
SELECT h.file_id, sum(w.weight * h.tf / (h.tf + {_NORM.format(length="f.tokens")}))
FROM hits h JOIN w ON w.term = h.term JOIN lexical_files f ON f.id = h.file_id
GROUP BY h.file_id"""
STATE = "SELECT id, generation, chunks, files, tokens FROM lexical_collections WHERE name = %s"
#: chunk scores under a filter (``{where}``: conditions on the chunk ``c`` and its file ``f``)
SCORES_WHERE = _WEIGHTS.format(count="chunks") + f"""
SELECT t.chunk, c.chunk_id, sum(w.weight * t.tf / (t.tf + {_NORM.format(length="t.tokens")})) AS score
FROM w JOIN lexical_terms t ON t.collection_id = %(c)s AND t.term = w.term
JOIN lexical_chunks c ON c.id = t.chunk JOIN lexical_files f ON f.id = t.file_id
WHERE {{where}}
GROUP BY t.chunk, c.chunk_id"""
TOP_WHERE = "SELECT chunk_id, score, chunk FROM ({scores} ORDER BY score DESC, t.chunk LIMIT %(k)s) s"
CHOSEN_WHERE = "SELECT chunk_id, score FROM ({scores}) s"


@dataclass(frozen=True)
class State:
    """A collection's row: its id, the generation the index matches and the BM25 statistics."""

    id: int
    generation: int
    chunks: int
    files: int
    tokens: int


class _Anchor:
    """One connection holding a REPEATABLE READ transaction whose snapshot queries import."""

    def __init__(self, target: PostgresTarget) -> None:
        self._connection = engines(target.url).anchors.raw_connection()
        try:
            cursor = self._connection.cursor()
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute(f"SET LOCAL idle_in_transaction_session_timeout = '{ANCHOR_SECONDS}s'")
            cursor.execute("SELECT pg_export_snapshot()")
            self.snapshot: str = cursor.fetchone()[0]
            cursor.execute(STATE, (target.collection,))
            row = cursor.fetchone()
        except BaseException:
            self.close()
            raise
        self.state = State(*row) if row is not None and row[1] is not None else None

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()  # the session may already be gone; never reuse it
            except Exception:  # noqa: BLE001 - closing a dead connection
                pass


def open_reader(target: PostgresTarget, generation: int | None = None) -> "PostgresIndex | None":
    """A snapshot of the collection's index (of ``generation``, when given), or None when it has
    never been synced (or is at another generation)."""
    anchor = _Anchor(target)
    state = anchor.state
    if state is None or (generation is not None and state.generation != generation):
        anchor.close()
        return None
    return PostgresIndex(target, anchor, state)


class PostgresIndex:
    """One snapshot of a collection's postgres index (see the module docstring)."""

    def __init__(self, target: PostgresTarget, anchor: _Anchor, state: State) -> None:
        self.target = target
        self.generation = state.generation
        self._state = state
        self._anchor: _Anchor | None = anchor
        self._anchor_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _Anchor.close, anchor)
        self._layout: tuple[np.ndarray, list[str], np.ndarray, np.ndarray] | None = None
        self._files: tuple[np.ndarray, dict[str, np.ndarray]] | None = None
        self._positions: dict[str, int] | None = None
        self._vocabulary: Vocabulary | None = None
        self._sources: list[str] | None = None

    def __len__(self) -> int:
        return self._state.chunks

    def close(self) -> None:
        """End the snapshot now (it also ends when the reader is collected)."""
        self._finalizer()

    # -- reading in the snapshot --------------------------------------------------------
    def _read(self, sql: str, params: dict[str, Any], columns: int) -> list[tuple]:
        """Rows of ``sql`` (``columns`` wide, first never NULL) as this reader's snapshot sees them."""
        rows = _query(self.target, _guarded(sql, columns), {**params, "c": self._state.id, "g": self.generation})
        if not rows or rows[-1][0] is not None:
            return rows
        anchor = self._anchor  # the index moved on since this reader opened
        if anchor is not None:
            found = _query(self.target, sql, {**params, "c": self._state.id}, anchor.snapshot)
            if found is not None:
                return found
            with self._anchor_lock:  # its session ended (ANCHOR_SECONDS): the newer postings it is
                if self._anchor is anchor:
                    self._finalizer()
                    self._anchor = None
        return _query(self.target, sql, {**params, "c": self._state.id}) or []

    def _params(self, terms: list[str], count: int, length: float, **more: Any) -> dict[str, Any]:
        return {"terms": terms, "n": float(count), "k1": K1, "b": B, "k1p1": 1.0 + K1, "avg": max(length, 1e-9),
                **more}

    def _chunk_params(self, terms: list[str], **more: Any) -> dict[str, Any]:
        return self._params(terms, self._state.chunks, self._state.tokens / max(self._state.chunks, 1), **more)

    def _loaded(self) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
        """(chunk keys ascending, chunk ids, file key, page) per position, read once."""
        if self._layout is None:
            with self._load_lock:
                if self._layout is None:
                    rows = self._read("SELECT id, chunk_id, file_id, page FROM lexical_chunks "
                                      "WHERE collection_id = %(c)s", {}, 4)
                    keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                    order = np.argsort(keys, kind="stable")  # positions in key order: the order of writing
                    files = np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows))[order]
                    pages = np.fromiter((r[3] for r in rows), dtype=np.int64, count=len(rows))[order]
                    self._layout = (keys[order], [rows[i][1] for i in order.tolist()], files, pages)
        return self._layout

    def _file_fields(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(sorted file keys, per-file fields by name with a last empty row for a missing file)."""
        if self._files is None:
            rows = sorted(self._read("SELECT id, path, source, file_type FROM lexical_files "
                                     "WHERE collection_id = %(c)s", {}, 4))
            keys = np.asarray([r[0] for r in rows], dtype=np.int64)
            fields = {name: np.asarray([r[i] for r in rows] + [""], dtype=object)
                      for i, name in enumerate(("path", "source", "file_type"), start=1)}
            self._files = (keys, fields)
        return self._files

    def _file_rows(self) -> np.ndarray:
        keys, _ = self._file_fields()
        return _rows(keys, self._loaded()[2])

    # -- per-chunk fields -----------------------------------------------------------------
    @property
    def ids(self) -> Sequence[str]:
        return self._loaded()[1]

    @property
    def pages(self) -> np.ndarray:
        return self._loaded()[3]

    @property
    def paths(self) -> np.ndarray:
        return self._file_fields()[1]["path"][self._file_rows()]

    @property
    def sources(self) -> np.ndarray:
        return self._file_fields()[1]["source"][self._file_rows()]

    @property
    def file_types(self) -> np.ndarray:
        return self._file_fields()[1]["file_type"][self._file_rows()]

    def position(self, chunk_id: str) -> int | None:
        if self._positions is None:
            self._positions = {chunk_id: i for i, chunk_id in enumerate(self._loaded()[1])}
        return self._positions.get(chunk_id)

    # -- querying -----------------------------------------------------------------------
    def _terms(self, query: str) -> list[str]:
        return content_terms(query) if len(self) else []

    def scores(self, query: str) -> np.ndarray:
        """Raw BM25 score of every chunk for the query's content words (0 where none occurs)."""
        scores = np.zeros(len(self), dtype=np.float32)
        terms = self._terms(query)
        if terms:
            keys = self._loaded()[0]
            hits = self._read(CHUNK_SCORES, self._chunk_params(terms), 2)
            _scatter(scores, keys, hits, np.arange(len(keys)))
        return scores

    def document_scores(self, query: str) -> np.ndarray:
        """Raw BM25 score of each chunk's whole document (the same value for all its chunks)."""
        terms = self._terms(query)
        if not terms:
            return np.zeros(len(self), dtype=np.float32)
        keys, _ = self._file_fields()
        by_file = np.zeros(keys.size + 1, dtype=np.float32)
        state = self._state
        hits = self._read(FILE_SCORES, self._params(terms, state.files, state.tokens / max(state.files, 1)), 2)
        _scatter(by_file, keys, hits, np.arange(keys.size))
        return by_file[self._file_rows()]

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` best chunks by raw BM25 score, best first (ranked by PostgreSQL)."""
        terms = self._terms(query)
        if not terms or k <= 0:
            return []
        best = sorted(self._read(TOP_CHUNKS, self._chunk_params(terms, k=k), 3), key=lambda row: (-row[1], row[2]))
        return [(chunk_id, float(np.float32(score))) for chunk_id, score, _ in best if score > 0]

    def top(self, query: str, k: int, where: ChunkFilter | None = None) -> list[tuple[str, float]]:
        """The ``k`` best chunks ``where`` allows, best first: the filter joined in SQL."""
        if where is None:
            return self.search(query, k)
        terms = self._terms(query)
        found = _conditions(where)
        if not terms or k <= 0 or found is None:
            return []
        conditions, params = found
        sql = TOP_WHERE.format(scores=SCORES_WHERE.format(where=conditions))
        best = sorted(self._read(sql, self._chunk_params(terms, k=k, **params), 3), key=lambda row: (-row[1], row[2]))
        return [(chunk_id, float(np.float32(score))) for chunk_id, score, _ in best if score > 0]

    def scores_for(self, query: str, chunk_ids: Sequence[str], where: ChunkFilter | None = None) -> dict[str, float]:
        """BM25 of just these chunks: the postings of the query's terms joined to them in SQL."""
        terms = self._terms(query)
        found = _conditions(where or ChunkFilter())
        wanted = list(dict.fromkeys(chunk_ids))
        if not terms or not wanted or found is None:
            return {}
        conditions, params = found
        sql = CHOSEN_WHERE.format(scores=SCORES_WHERE.format(
            where=f"{conditions} AND c.chunk_id IN (SELECT unnest(%(chosen)s::text[]))"))
        rows = self._read(sql, self._chunk_params(terms, chosen=wanted, **params), 2)
        return {chunk_id: float(np.float32(score)) for chunk_id, score in rows if score > 0}

    def source_values(self) -> Sequence[str]:
        """Distinct sources of the indexed files, read once per reader."""
        if self._sources is None:
            rows = self._read("SELECT DISTINCT source FROM lexical_files WHERE collection_id = %(c)s", {}, 1)
            self._sources = sorted(source for (source,) in rows)
        return self._sources

    def unknown_names(self, text: str, passages: Sequence[str] = ()) -> list[str]:
        if not len(self):
            return []
        if self._vocabulary is None:
            rows = self._read("SELECT term FROM lexical_vocabulary WHERE collection_id = %(c)s", {}, 1)
            self._vocabulary = Vocabulary(term for (term,) in rows)
        return self._vocabulary.unknown_names(text, passages)


def _conditions(where: ChunkFilter) -> tuple[str, dict[str, Any]] | None:
    """``where`` as SQL conditions on chunk ``c`` and file ``f`` with their parameters; None when
    nothing can match. Value sets are joined as arrays (a hashed semi-join, however many)."""
    conditions, params = ["TRUE"], {}
    for column, allowed in (("source", where.sources), ("path", where.paths), ("file_type", where.file_types)):
        if allowed is None:
            continue
        if not allowed:
            return None
        conditions.append(f"f.{column} IN (SELECT unnest(%(f_{column})s::text[]))")
        params[f"f_{column}"] = sorted(allowed)
    pages = where.page_range
    if pages is not None:
        conditions.append("c.page >= %(page_low)s")
        params["page_low"] = pages[0]
        if pages[1] is not None:
            conditions.append("c.page <= %(page_high)s")
            params["page_high"] = pages[1]
    return " AND ".join(conditions), params


def _rows(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Each wanted key's row in sorted ``keys``; ``len(keys)`` (a last empty row) where absent."""
    if not keys.size:
        return np.zeros(wanted.size, dtype=np.int64)
    rows = np.searchsorted(keys, wanted)
    found = rows < keys.size
    found[found] = keys[rows[found]] == wanted[found]
    return np.where(found, rows, keys.size)


def _scatter(out: np.ndarray, keys: np.ndarray, hits: list[tuple], positions: np.ndarray) -> None:
    """Write each (key, score) hit at its key's position in ``out``; keys not in ``keys`` are dropped."""
    if not hits or not keys.size:
        return
    hit_keys = np.fromiter((h[0] for h in hits), dtype=np.int64, count=len(hits))
    values = np.fromiter((h[1] for h in hits), dtype=np.float64, count=len(hits))
    rows = _rows(keys, hit_keys)
    inside = rows < keys.size
    out[positions[rows[inside]]] = values[inside]


def _guarded(sql: str, columns: int) -> str:
    """``sql`` run only while the collection is at generation ``%(g)s``; else one row of NULLs."""
    nulls = ", ".join(["NULL"] * columns)
    return (f"WITH guard AS MATERIALIZED (SELECT 1 FROM lexical_collections WHERE id = %(c)s AND generation = %(g)s) "
            f"SELECT * FROM ({sql}) r WHERE EXISTS (SELECT 1 FROM guard) "
            f"UNION ALL SELECT {nulls} WHERE NOT EXISTS (SELECT 1 FROM guard)")


def _query(target: PostgresTarget, sql: str, params: dict[str, Any], snapshot: str | None = None) -> list[tuple] | None:
    """Rows of ``sql``: one autocommit statement, or in a REPEATABLE READ transaction importing
    ``snapshot`` (None when that snapshot is gone). A connection the server dropped (a restart) is
    replaced, and the query run once more."""
    import psycopg

    engine = engines(target.url).reads
    for attempt in (1, 2):
        connection = engine.raw_connection()
        try:
            return _run(connection.driver_connection, sql, params, snapshot)
        except psycopg.OperationalError:
            connection.invalidate()
            if attempt == 2:
                raise
            engine.dispose()  # its other connections went with the same server
        finally:
            connection.close()
    return None  # not reached


def _run(db, sql: str, params: dict[str, Any], snapshot: str | None) -> list[tuple] | None:
    import psycopg

    cursor = db.cursor()
    if snapshot is None:
        cursor.execute(sql, params)
        return cursor.fetchall()
    if not _SNAPSHOT_ID.match(snapshot):
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    try:
        try:
            cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        except psycopg.errors.InvalidParameterValue:
            return None
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.execute("ROLLBACK")
