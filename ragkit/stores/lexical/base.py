"""What every lexical backend shares: the reader interface, row fields and the name check.

The retriever, the filters and the refusal check read an index through :class:`LexicalReader`:
one immutable snapshot of the collection's BM25 index at one manifest generation. A query reads
it through three calls whose cost follows the result, not the collection:

* :meth:`~LexicalReader.top`: the best ``k`` chunks by BM25 under a :class:`ChunkFilter`
  (the filter pushed down into the engine);
* :meth:`~LexicalReader.scores_for`: the BM25 scores of a few given chunks (the other side's
  candidates);
* :meth:`~LexicalReader.source_values`: the distinct ``source`` values, from which a query's
  source patterns are resolved to exact values (:mod:`ragkit.query.filters`).

The dense view (chunks at positions ``0..len-1``, scores and per-chunk fields as parallel
arrays) stays for what needs every chunk: document-level evidence (``doc_weight``), tests and
consistency checks. A backend that has no better way may answer :meth:`~LexicalReader.top` and
:meth:`~LexicalReader.scores_for` from it with :func:`top_from_scores` and
:func:`scores_from_dense`. Backends differ in how they store and update the index, not in what
a reader sees.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np

from ragkit.models import contextual_text
from ragkit.text import fold, name_like_words, spells_acronym, tokenize

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.stores.manifest import FileRecord, Manifest

#: (chunk id, text, metadata) rows of one file
Rows = Sequence[tuple[str, str, dict]]
#: above this many files to (re)index, read the manifest's chunks in one pass instead of per file
BULK_FILES = 200


@dataclass(frozen=True)
class ChunkFilter:
    """Which chunks a query may return, as exact values (None: that field is not restricted).

    Source patterns are already resolved to the source values they match, so a backend needs
    only equality and a page range. Pages: a chunk without a page (-1) passes ``page_min``
    only when ``page_min`` is below 0, and never passes ``page_max``: what the dense mask did."""

    sources: frozenset[str] | None = None
    paths: frozenset[str] | None = None
    file_types: frozenset[str] | None = None
    page_min: int | None = None
    page_max: int | None = None

    def mask(self, sources: np.ndarray, paths: np.ndarray, file_types: np.ndarray, pages: np.ndarray) -> np.ndarray:
        """The filter over per-chunk field arrays (the dense fallback)."""
        mask = np.ones(len(pages), dtype=bool)
        for allowed, values in ((self.sources, sources), (self.paths, paths), (self.file_types, file_types)):
            if allowed is not None:
                mask &= np.fromiter((v in allowed for v in values), dtype=bool, count=len(mask))
        if self.page_min is not None:
            mask &= pages >= self.page_min
        if self.page_max is not None:
            mask &= (pages <= self.page_max) & (pages >= 0)
        return mask

    def allows(self, source: str, path: str, file_type: str, page: int) -> bool:
        """Does one chunk with these fields pass (page -1: none)? The mask, for a few chunks."""
        if any(allowed is not None and value not in allowed
               for allowed, value in ((self.sources, source), (self.paths, path), (self.file_types, file_type))):
            return False
        if self.page_min is not None and page < self.page_min:
            return False
        return self.page_max is None or 0 <= page <= self.page_max

    @property
    def page_range(self) -> tuple[int, int | None] | None:
        """(lowest, highest or None) page allowed, or None when pages are not restricted."""
        if self.page_min is None and self.page_max is None:
            return None
        low = self.page_min if self.page_min is not None else 0
        return (max(low, 0), self.page_max) if self.page_max is not None else (low, None)


class LexicalReader(Protocol):
    """One generation of the lexical index, as retrieval and answering read it."""

    generation: int
    #: per position: the chunk's id, and the fields filters need (page is -1 where none)
    ids: Sequence[str]
    sources: np.ndarray
    paths: np.ndarray
    file_types: np.ndarray
    pages: np.ndarray

    def __len__(self) -> int: ...

    def scores(self, query: str) -> np.ndarray:
        """Raw BM25 score of every chunk (0 where no query term occurs)."""

    def document_scores(self, query: str) -> np.ndarray:
        """Raw BM25 score of each chunk's whole document, per chunk."""

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` best chunks by raw BM25 score, best first, as (chunk id, score)."""

    def top(self, query: str, k: int, where: ChunkFilter | None = None) -> list[tuple[str, float]]:
        """The ``k`` best chunks by raw BM25 score among those ``where`` allows, best first, as
        (chunk id, score); only chunks with a score above 0. Ties may come in any order."""

    def scores_for(self, query: str, chunk_ids: Sequence[str], where: ChunkFilter | None = None) -> dict[str, float]:
        """Raw BM25 score of each of ``chunk_ids`` that ``where`` allows and the query matches
        (absent: 0). The same values as :meth:`scores` gives those chunks."""

    def source_values(self) -> Sequence[str]:
        """The distinct ``source`` values of the live chunks (read once per snapshot)."""

    def unknown_names(self, text: str, passages: Sequence[str] = ()) -> list[str]: ...

    def position(self, chunk_id: str) -> int | None: ...


def read_generation(path: Path) -> int | None:
    """The manifest generation an index on disk was written for (its generation file), or None
    when there is no readable one: read without opening the index."""
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def chunk_fields(meta: dict) -> tuple[str, str, str, int]:
    """(source, path, file type, page or -1) of one chunk's metadata."""
    page = meta.get("page")
    return meta.get("source", ""), meta.get("path", ""), meta.get("file_type", ""), int(page) if page is not None else -1


def indexed_text(text: str, meta: dict) -> str:
    """What BM25 indexes for a chunk: its text with its context line (title, section path)."""
    return contextual_text(text, meta.get("context", ""))


def stamp(record: "FileRecord | None") -> str | None:
    """What identifies a file's chunks in the manifest; None when it has none to index."""
    if record is None or not record.n_chunks:
        return None
    return f"{record.sha256}|{record.n_chunks}|{record.ingested_at!r}"


def rows_of(manifest: "Manifest", paths: list[str]) -> Iterator[tuple[str, Rows]]:
    """Each path's live chunks, in chunk order: per file when few files changed, else in one pass."""
    if len(paths) > BULK_FILES:
        wanted = set(paths)
        grouped: dict[str, list[tuple[str, str, dict]]] = {}
        for row in manifest.iter_chunks():
            path = row[2].get("path", "")
            if path in wanted:
                grouped.setdefault(path, []).append(row)
        yield from grouped.items()
        return
    for path in paths:
        found = manifest.chunks_by_id(sorted(manifest.chunk_ids(path)))
        rows = sorted(((chunk_id, text, meta) for chunk_id, (text, meta) in found.items()),
                      key=lambda row: (row[2].get("chunk_index", 0), row[0]))
        if rows:
            yield path, rows


def tokenized(files: Iterable[tuple[str, Rows]], batch: int = 4096) -> Iterator[tuple[str, Rows, list[list[str]]]]:
    """Each file's rows with their chunks' tokens, tokenized a few thousand chunks per call
    (one call per file would spend more time in the tokenizer's setup than in tokenizing)."""
    pending: list[tuple[str, Rows]] = []
    size = 0
    for path, rows in files:
        pending.append((path, rows))
        size += len(rows)
        if size >= batch:
            yield from _tokenize(pending)
            pending, size = [], 0
    yield from _tokenize(pending)


def _tokenize(pending: list[tuple[str, Rows]]) -> Iterator[tuple[str, Rows, list[list[str]]]]:
    if not pending:
        return
    tokens = tokenize([indexed_text(text, meta) for _, rows in pending for _, text, meta in rows])
    at = 0
    for path, rows in pending:
        yield path, rows, tokens[at:at + len(rows)]
        at += len(rows)


def top_k(ids: Sequence[str], scores: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The ``k`` best positive scores of a dense array, best first, as (id, score). Equal scores go
    by position, lowest first, also where they straddle the cut: the order tantivy's top-k
    keeps (by document address), so the dense fallback and a search engine agree on ties."""
    positive = np.flatnonzero(scores > 0)
    if not positive.size or k <= 0:
        return []
    n = min(k, positive.size)
    values = scores[positive]
    cut = np.partition(values, positive.size - n)[positive.size - n]  # the n-th best score
    above = positive[values > cut]
    best = np.concatenate([above, positive[values == cut][: n - above.size]])
    best = best[np.lexsort((best, -scores[best]))]
    return [(ids[int(i)], float(scores[i])) for i in best]


def top_from_scores(ids: Sequence[str], scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
    """:meth:`LexicalReader.top` from a dense score array and an optional mask over the same
    positions (:meth:`ChunkFilter.mask`): the fallback of a backend that scores every chunk."""
    if allowed is not None and scores.size:
        scores = np.where(allowed, scores, 0.0)
    return top_k(ids, scores, k)


def scores_from_dense(position: Callable[[str], int | None], scores: np.ndarray, chunk_ids: Sequence[str],
                      allowed: np.ndarray | None = None) -> dict[str, float]:
    """:meth:`LexicalReader.scores_for` from a dense score array: each id's score at
    ``position(id)``, left out when the id is unknown, masked out or scored 0."""
    found: dict[str, float] = {}
    for chunk_id in chunk_ids:
        i = position(chunk_id)
        if i is not None and (allowed is None or allowed[i]) and scores[i] > 0:
            found[chunk_id] = float(scores[i])
    return found


class Vocabulary:
    """The folded tokens of a collection, sorted for prefix search: what the name check needs."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self.ordered = sorted({fold(token) for token in tokens})
        self.known = set(self.ordered)

    def unknown_names(self, text: str, passages: Sequence[str] = ()) -> list[str]:
        """Names and codes in ``text`` (capitalised words after the first, words with digits)
        that no chunk of the collection contains, even as the start of a longer token
        ("UN" is known from "UN3091"), and acronyms that ``passages`` spell out. Ordinary words are
        not checked: a question may use a word the documents do not ("how high" for "above the
        ground"); a name it may not."""
        unknown = []
        for word in name_like_words(text):
            stem = tokenize([word], "en_plus")[0]
            forms = {fold(word), *(fold(s) for s in stem)}
            if any(_has_prefix(self.ordered, form) for form in forms):
                continue
            if any(_near(form, self.known) for form in forms if len(form) >= 5):
                continue  # a misspelling ("Brittish") or a compound ("Superbowl") of known words
            if spells_acronym(word, passages):
                continue  # "UMC" where the passages say "United Methodist Church"
            unknown.append(word)
        return unknown


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _near(word: str, vocabulary: set[str]) -> bool:
    """Is ``word`` one edit away from a known token, or two known tokens run together?"""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    if any(a and b and len(a) >= 3 and len(b) >= 3 and a in vocabulary and b in vocabulary for a, b in splits):
        return True
    edits = {a + b[1:] for a, b in splits if b}
    edits |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    edits |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    edits |= {a + c + b for a, b in splits for c in _LETTERS}
    return any(edit in vocabulary for edit in edits)


def _has_prefix(ordered: list[str], prefix: str) -> bool:
    position = bisect.bisect_left(ordered, prefix)
    return position < len(ordered) and ordered[position].startswith(prefix)
