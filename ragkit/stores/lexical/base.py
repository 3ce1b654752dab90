"""What every lexical backend shares: the reader interface, row fields and the name check.

The retriever, the filters and the refusal check read an index through :class:`LexicalReader`:
one immutable snapshot of the collection's BM25 index at one manifest generation, whose chunks
have positions ``0..len-1`` so that scores and per-chunk filter fields are parallel arrays.
Backends differ in how they store and update the index, not in what a reader sees.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Protocol, Sequence

import numpy as np

from ragkit.models import contextual_text
from ragkit.text import fold, name_like_words, spells_acronym, tokenize

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.stores.manifest import FileRecord, Manifest

#: (chunk id, text, metadata) rows of one file
Rows = Sequence[tuple[str, str, dict]]
#: above this many files to (re)index, read the manifest's chunks in one pass instead of per file
BULK_FILES = 200


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
    positive = np.flatnonzero(scores > 0)
    if not positive.size or k <= 0:
        return []
    n = min(k, positive.size)
    best = positive[np.argpartition(-scores[positive], n - 1)[:n]]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(ids[int(i)], float(scores[i])) for i in best]


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
