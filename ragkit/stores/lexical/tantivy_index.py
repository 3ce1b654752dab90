"""The tantivy backend's reader: one searcher snapshot per manifest generation.

The indexes are written by :mod:`ragkit.stores.lexical.tantivy_sync` in the layout of
:mod:`ragkit.stores.lexical.tantivy_layout`. Scores are tantivy's BM25 (k1=1.2, b=0.75), raw and
unnormalised.

A query costs what it finds: :meth:`TantivyIndex.top` and :meth:`TantivyIndex.scores_for` are
one tantivy search each, the filter a clause of it (chunks carry their source, file type, path
and page). Opening a snapshot reads nothing per chunk. The dense view (live chunks numbered
``0..len-1`` in (segment, doc) order, scores and filter fields as arrays over those positions)
is built when first asked for, by document-level evidence, tests and consistency checks.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import tantivy

from ragkit.stores.lexical.base import ChunkFilter, Vocabulary, read_generation, tokenized
from ragkit.stores.lexical.tantivy_layout import (CHUNKS, DOCUMENTS, GENERATION_FILE, chunk_documents, chunk_schema,
                                                  document_schema, indexes, lock_path, schema_current)
from ragkit.stores.lock import file_lock
from ragkit.text import content_terms

#: first search size; a query matching more chunks is searched again with room for all of them
_FIRST_LIMIT = 1024
#: compiled filters kept per snapshot
_KEPT_FILTERS = 8


def _address_key(address: tantivy.DocAddress) -> int:
    return (address.segment_ord << 32) | address.doc


def _all(searcher: tantivy.Searcher) -> list[tantivy.DocAddress]:
    if not searcher.num_docs:
        return []
    hits = searcher.search(tantivy.Query.all_query(), limit=searcher.num_docs, count=False).hits
    return [address for _, address in hits]


def _filter_fields(stored: tantivy.Document) -> tuple[str, str, str, int]:
    """A chunk's (source, path, file type, page or -1) from its stored fields."""
    page = stored.get_first("page")
    return (stored.get_first("source") or "", stored.get_first("path") or "", stored.get_first("file_type") or "",
            -1 if page is None else int(page))


def _with(query: tantivy.Query, clauses: list[tantivy.Query]) -> tantivy.Query:
    """``query`` restricted to documents every clause matches, scored by ``query`` alone (the
    clauses score 0, so a score is the same float with or without a filter)."""
    if not clauses:
        return query
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, query)] + [
        (tantivy.Occur.Must, tantivy.Query.const_score_query(clause, 0.0)) for clause in clauses])


class _StoredIds(Sequence[str]):
    """Chunk ids by position, read from the stored field when asked: a query needs a few dozen,
    a consistency check needs all of them (then they are read once and kept)."""

    def __init__(self, searcher: tantivy.Searcher, addresses: list[tantivy.DocAddress]) -> None:
        self._searcher = searcher
        self._addresses = addresses
        self._all: list[str] | None = None

    def __len__(self) -> int:
        return len(self._addresses)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice) or self._all is not None:
            return self._every()[i]
        return self._searcher.doc(self._addresses[i]).get_first("id")

    def _every(self) -> list[str]:
        if self._all is None:
            self._all = [self._searcher.doc(a).get_first("id") for a in self._addresses]
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._every())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented


class TantivyIndex:
    """One immutable snapshot of a collection's tantivy indexes (see the module docstring)."""

    def __init__(self, chunks: tantivy.Index, documents: tantivy.Index, generation: int) -> None:
        chunks.reload()
        documents.reload()
        self.generation = generation
        self._schema = chunks.schema
        self._document_schema = documents.schema
        self._searcher = chunks.searcher()
        self._documents = documents.searcher()
        self._vocabulary: Vocabulary | None = None
        self._sources: list[str] | None = None
        self._compiled: dict[ChunkFilter, list[tantivy.Query] | None] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._searcher.num_docs

    @cached_property
    def _positions(self) -> tuple[np.ndarray, list[tantivy.DocAddress]]:
        """(sorted address keys, addresses) of every live chunk: the dense view's numbering."""
        addresses = _all(self._searcher)
        keys = np.fromiter((_address_key(a) for a in addresses), dtype=np.int64, count=len(addresses))
        order = np.argsort(keys, kind="stable")
        return keys[order], [addresses[i] for i in order]

    @property
    def _keys(self) -> np.ndarray:
        return self._positions[0]

    @property
    def _addresses(self) -> list[tantivy.DocAddress]:
        return self._positions[1]

    @cached_property
    def ids(self) -> Sequence[str]:  # type: ignore[override]
        return _StoredIds(self._searcher, self._addresses)

    # -- in memory, from rows (tests and evaluations) ----------------------------------------
    @classmethod
    def build(cls, rows: Iterable[tuple[str, str, dict]], generation: int) -> "TantivyIndex":
        """An index held in memory, built from (id, text, metadata) rows grouped by path."""
        chunks, documents = tantivy.Index(chunk_schema()), tantivy.Index(document_schema())
        by_path: dict[str, list[tuple[str, str, dict]]] = {}
        for row in rows:
            by_path.setdefault(row[2].get("path", ""), []).append(row)
        writers = {CHUNKS: chunks.writer(50_000_000, 1), DOCUMENTS: documents.writer(50_000_000, 1)}
        for path, group, tokens in tokenized(by_path.items()):
            for kind, document in chunk_documents(path, "", group, tokens):
                writers[kind].add_document(document)
        for writer in writers.values():
            writer.commit()
            writer.wait_merging_threads()
        return cls(chunks, documents, generation)

    # -- per-chunk fields ---------------------------------------------------------------------
    @cached_property
    def pages(self) -> np.ndarray:
        return self._fast("page")

    @cached_property
    def _doc_keys(self) -> np.ndarray:
        return self._fast("doc_key")

    def _fast(self, field: str) -> np.ndarray:
        if not self._addresses:
            return np.zeros(0, dtype=np.int64)
        return np.asarray(self._searcher.fast_field_values(field, self._addresses), dtype=np.int64)

    @cached_property
    def _files(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(sorted doc keys of the files, each chunk's file row, per-file fields by name); a chunk
        whose file is missing points at a last empty row."""
        stored = [self._documents.doc(a) for a in _all(self._documents)]
        keys = np.asarray([d.get_first("doc_key") for d in stored], dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        rows = np.searchsorted(keys, self._doc_keys) if keys.size else np.zeros(len(self), dtype=np.int64)
        found = np.zeros(len(rows), dtype=bool)
        inside = rows < keys.size
        found[inside] = keys[rows[inside]] == self._doc_keys[inside]
        rows = np.where(found, rows, keys.size)
        fields = {name: np.asarray([stored[i].get_first(name) or "" for i in order] + [""], dtype=object)
                  for name in ("path", "source", "file_type")}
        return keys, rows, fields

    @property
    def doc_of(self) -> np.ndarray:
        return self._files[1]

    @cached_property
    def sources(self) -> np.ndarray:
        return self._files[2]["source"][self.doc_of]

    @cached_property
    def paths(self) -> np.ndarray:
        return self._files[2]["path"][self.doc_of]

    @cached_property
    def file_types(self) -> np.ndarray:
        return self._files[2]["file_type"][self.doc_of]

    # -- querying -----------------------------------------------------------------------------
    def _query(self, schema: tantivy.Schema, query: str) -> tantivy.Query | None:
        tokens = content_terms(query) if len(self) else []
        if not tokens:
            return None
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, tantivy.Query.term_query(schema, "body", t))
                                            for t in tokens])

    @staticmethod
    def _every_match(searcher: tantivy.Searcher, query: tantivy.Query) -> list[tuple[float, tantivy.DocAddress]]:
        found = searcher.search(query, limit=min(searcher.num_docs, _FIRST_LIMIT), count=True)
        if found.count > len(found.hits):
            found = searcher.search(query, limit=found.count, count=False)
        return found.hits

    def scores(self, query: str) -> np.ndarray:
        """Raw BM25 score of every chunk for the query's content words (0 where none occurs)."""
        scores = np.zeros(len(self), dtype=np.float32)
        parsed = self._query(self._schema, query)
        if parsed is None:
            return scores
        hits = self._every_match(self._searcher, parsed)
        if hits:
            keys = np.fromiter((_address_key(a) for _, a in hits), dtype=np.int64, count=len(hits))
            scores[np.searchsorted(self._keys, keys)] = [score for score, _ in hits]
        return scores

    def document_scores(self, query: str) -> np.ndarray:
        """Raw BM25 score of each chunk's whole document (the same value for all its chunks)."""
        parsed = self._query(self._document_schema, query)
        if parsed is None:
            return np.zeros(len(self), dtype=np.float32)
        keys, rows, _ = self._files
        by_file = np.zeros(keys.size + 1, dtype=np.float32)
        hits = self._every_match(self._documents, parsed)
        if hits:
            hit_keys = np.asarray(self._documents.fast_field_values("doc_key", [a for _, a in hits]), dtype=np.int64)
            by_file[np.searchsorted(keys, hit_keys)] = [score for score, _ in hits]
        return by_file[rows]

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` best chunks by raw BM25 score, best first."""
        parsed = self._query(self._schema, query)
        if parsed is None or k <= 0:
            return []
        hits = self._searcher.search(parsed, limit=k, count=False).hits
        return [(self._searcher.doc(a).get_first("id"), float(score)) for score, a in hits if score > 0]

    def top(self, query: str, k: int, where: ChunkFilter | None = None) -> list[tuple[str, float]]:
        """The ``k`` best chunks ``where`` allows, best first: one search, the filter inside it."""
        parsed = self._query(self._schema, query)
        clauses = self._clauses(where)
        if parsed is None or clauses is None or k <= 0:
            return []
        hits = self._searcher.search(_with(parsed, clauses), limit=k, count=False).hits
        return [(self._searcher.doc(a).get_first("id"), float(score)) for score, a in hits if score > 0]

    def scores_for(self, query: str, chunk_ids: Sequence[str], where: ChunkFilter | None = None) -> dict[str, float]:
        """BM25 of just these chunks: the query restricted to their ids; ``where`` is checked on
        the hits' stored fields (a filter clause would cost what the filter covers, not the hits)."""
        wanted = list(dict.fromkeys(chunk_ids))
        parsed = self._query(self._schema, query)
        if parsed is None or not wanted:
            return {}
        ids = tantivy.Query.term_set_query(self._schema, "id", wanted)
        hits = self._searcher.search(_with(parsed, [ids]), limit=len(wanted), count=False).hits
        found: dict[str, float] = {}
        for score, address in hits:
            stored = self._searcher.doc(address)
            if score > 0 and (where is None or where.allows(*_filter_fields(stored))):
                found.setdefault(stored.get_first("id"), float(score))
        return found

    def source_values(self) -> Sequence[str]:
        """Distinct sources of the live files, from the per-file index's term dictionary."""
        if self._sources is None:
            terms = self._documents.terms_with_prefix("source", "", filter_query=tantivy.Query.all_query()) \
                if self._documents.num_docs else []
            self._sources = sorted(term for term, count in terms if count > 0)
        return self._sources

    def _clauses(self, where: ChunkFilter | None) -> list[tantivy.Query] | None:
        """The filter as queries every result must match; None when nothing can match. The last
        few are kept: a scope's thousands of paths are the same query after query."""
        if where is None:
            return []
        with self._lock:
            known = where in self._compiled
            clauses = self._compiled.get(where)
        if not known:
            clauses = self._compile(where)
            with self._lock:
                if len(self._compiled) >= _KEPT_FILTERS:
                    del self._compiled[next(iter(self._compiled))]
                self._compiled[where] = clauses
        return None if clauses is None else list(clauses)

    def _compile(self, where: ChunkFilter) -> list[tantivy.Query] | None:
        clauses = []
        for name, allowed in (("source", where.sources), ("path", where.paths), ("file_type", where.file_types)):
            if allowed is None:
                continue
            if not allowed:
                return None
            clauses.append(tantivy.Query.term_set_query(self._schema, name, list(allowed)))
        pages = where.page_range
        if pages is not None:
            clauses.append(tantivy.Query.range_query(self._schema, "page", tantivy.FieldType.Integer, *pages))
        return clauses

    def position(self, chunk_id: str) -> int | None:
        hits = self._searcher.search(tantivy.Query.term_query(self._schema, "id", chunk_id), limit=1, count=False).hits
        if not hits:
            return None
        key = _address_key(hits[0][1])
        i = int(np.searchsorted(self._keys, key))
        return i if i < len(self._keys) and self._keys[i] == key else None

    def unknown_names(self, text: str, passages: Sequence[str] = ()) -> list[str]:
        if not len(self):
            return []
        if self._vocabulary is None:
            # counted over live chunks only, so a removed file's words are not "known" until a merge
            terms = self._searcher.terms_with_prefix("body", "", filter_query=tantivy.Query.all_query())
            self._vocabulary = Vocabulary(term for term, count in terms if count > 0)
        return self._vocabulary.unknown_names(text, passages)

    # -- on disk ------------------------------------------------------------------------------
    @staticmethod
    def saved_generation(directory: Path) -> int | None:
        """The manifest generation the saved index matches, without opening it (None when it was
        written with another schema version: it will be rebuilt)."""
        return read_generation(directory / GENERATION_FILE) if schema_current(directory) else None

    @classmethod
    def load(cls, directory: Path) -> "TantivyIndex | None":
        """The saved index, or None when there is none."""
        return open_saved(directory)


def open_saved(directory: Path, generation: int | None = None) -> TantivyIndex | None:
    """A snapshot of the saved index (of ``generation``, when given), or None."""
    with file_lock(lock_path(directory)):
        return open_snapshot(directory, generation)


def open_snapshot(directory: Path, generation: int | None = None) -> TantivyIndex | None:
    saved = TantivyIndex.saved_generation(directory)
    if saved is None or (generation is not None and saved != generation):
        return None
    try:
        found = indexes(directory, create=False)
    except (OSError, ValueError):
        return None
    return TantivyIndex(*found, saved) if found else None
