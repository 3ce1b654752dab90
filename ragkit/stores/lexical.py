"""BM25 over the same chunks as the vector store, with bm25s.

Local Chroma has no lexical search, so ragkit keeps its own index: English Snowball stemming
(PyStemmer) and stopwords, which measurably help BM25 on English text. The index is derived
state: ingestion rebuilds it from the manifest's chunk table whenever the manifest's generation
moves, and it is saved beside the store with that generation, so a stale or missing index is
detected and rebuilt rather than trusted.

Alongside the sparse matrix it keeps, per chunk, the fields filters need (source, file type,
page), so a filter becomes a boolean mask over the score vector.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from ragkit.stores.lock import file_lock, is_locked
from ragkit.models import contextual_text
from ragkit.text import content_terms, fold, name_like_words, spells_acronym, tokenize

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.stores.manifest import Manifest

META_FILE = "ragkit_meta.json"
GENERATION_FILE = "generation"


class LexicalIndex:
    def __init__(self, retriever, ids: list[str], sources: list[str], file_types: list[str],
                 pages: np.ndarray, generation: int, paths: list[str], documents=None,
                 doc_of: np.ndarray | None = None) -> None:
        self._retriever = retriever
        #: BM25 over whole documents (every chunk of one path, with its context lines), and the
        #: document of each chunk: a question that names a document finds it here even when the
        #: chunk that answers it does not repeat the name
        self._documents = documents
        self.doc_of = doc_of if doc_of is not None else np.zeros(len(ids), dtype=np.int64)
        self._vocabulary: list[str] | None = None  # folded tokens, sorted for prefix search
        self._folded: set[str] = set()
        self.ids = ids
        self.sources = np.asarray(sources, dtype=object)
        self.paths = np.asarray(paths, dtype=object)
        self.file_types = np.asarray(file_types, dtype=object)
        self.pages = pages  # int array, -1 where a chunk has no page
        self.generation = generation
        self._position = {chunk_id: i for i, chunk_id in enumerate(ids)}

    def __len__(self) -> int:
        return len(self.ids)

    # -- building ----------------------------------------------------------------------
    @classmethod
    def build(cls, rows: Iterable[tuple[str, str, dict]], generation: int) -> "LexicalIndex":
        import bm25s

        ids: list[str] = []
        texts: list[str] = []
        sources: list[str] = []
        file_types: list[str] = []
        pages: list[int] = []
        paths: list[str] = []
        for chunk_id, text, meta in rows:
            ids.append(chunk_id)
            texts.append(contextual_text(text, meta.get("context", "")))
            sources.append(meta.get("source", ""))
            paths.append(meta.get("path", ""))
            file_types.append(meta.get("file_type", ""))
            page = meta.get("page")
            pages.append(int(page) if page is not None else -1)
        retriever = bm25s.BM25()
        documents = bm25s.BM25()
        doc_index: dict[str, int] = {}
        doc_texts: list[list[str]] = []
        doc_of = np.zeros(len(ids), dtype=np.int64)
        for i, (path, text) in enumerate(zip(paths, texts)):
            j = doc_index.setdefault(path, len(doc_index))
            if j == len(doc_texts):
                doc_texts.append([])
            doc_texts[j].append(text)
            doc_of[i] = j
        if texts:
            retriever.index(tokenize(texts), show_progress=False)
            documents.index(tokenize(["\n".join(parts) for parts in doc_texts]), show_progress=False)
        return cls(retriever, ids, sources, file_types, np.asarray(pages, dtype=np.int64), generation, paths,
                   documents, doc_of)

    def save(self, directory: Path) -> None:
        """Write beside the old index, then swap directories; readers never see half an index.
        Callers serialise writers with :func:`file_lock` (see :func:`current_index`)."""
        tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.ids:
            self._retriever.save(str(tmp), show_progress=False)
            self._documents.save(str(tmp / "documents"), show_progress=False)
        meta = {
            "generation": self.generation,
            "ids": self.ids,
            "sources": self.sources.tolist(),
            "file_types": self.file_types.tolist(),
            "pages": self.pages.tolist(),
            "paths": self.paths.tolist(),
            "doc_of": self.doc_of.tolist(),
        }
        (tmp / META_FILE).write_text(json.dumps(meta))
        (tmp / GENERATION_FILE).write_text(str(self.generation))
        old = directory.with_name(f"{directory.name}.old-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def saved_generation(directory: Path) -> int | None:
        """The manifest generation the saved index was built from, without loading it."""
        try:
            return int((directory / GENERATION_FILE).read_text())
        except (OSError, ValueError):
            return None

    @classmethod
    def load(cls, directory: Path) -> "LexicalIndex | None":
        import bm25s

        meta_path = directory / META_FILE
        if not meta_path.exists():
            return None
        meta = json.loads(meta_path.read_text())
        if "doc_of" not in meta:
            return None  # written by an older ragkit: rebuild
        retriever = bm25s.BM25.load(str(directory), mmap=False) if meta["ids"] else bm25s.BM25()
        documents = bm25s.BM25.load(str(directory / "documents"), mmap=False) if meta["ids"] else bm25s.BM25()
        return cls(retriever, meta["ids"], meta["sources"], meta["file_types"],
                   np.asarray(meta["pages"], dtype=np.int64), int(meta["generation"]), meta["paths"],
                   documents, np.asarray(meta["doc_of"], dtype=np.int64))

    # -- querying ----------------------------------------------------------------------
    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for the query's content words."""
        scores = self._score(self._retriever, query)
        return np.zeros(len(self.ids), dtype=np.float32) if scores is None else scores

    def document_scores(self, query: str) -> np.ndarray:
        """BM25 score of each chunk's whole document (the same value for all chunks of a document)."""
        scores = self._score(self._documents, query)
        return np.zeros(len(self.ids), dtype=np.float32) if scores is None else scores[self.doc_of]

    def _score(self, retriever, query: str) -> np.ndarray | None:
        """The retriever's score per indexed row, or None when there is nothing to score."""
        tokens = content_terms(query) if self.ids else []
        return np.asarray(retriever.get_scores(tokens), dtype=np.float32) if tokens else None

    def unknown_names(self, text: str, passages: Sequence[str] = ()) -> list[str]:
        """Names and codes in ``text`` (capitalised words after the first, words with digits)
        that no chunk of the collection contains, even as the start of a longer token
        ("UN" is known from "UN3091"), and acronyms that ``passages`` spell out. Ordinary words are not checked: a question may use a
        word the documents do not ("how high" for "above the ground"); a name it may not."""
        if not self.ids:
            return []
        if self._vocabulary is None:
            self._vocabulary = sorted({fold(token) for token in self._retriever.vocab_dict})
            self._folded = set(self._vocabulary)
        vocabulary = self._folded
        unknown = []
        for word in name_like_words(text):
            stem = tokenize([word], "en_plus")[0]
            forms = {fold(word), *(fold(s) for s in stem)}
            if any(_has_prefix(self._vocabulary, form) for form in forms):
                continue
            if any(_near(form, vocabulary) for form in forms if len(form) >= 5):
                continue  # a misspelling ("Brittish") or a compound ("Superbowl") of known words
            if spells_acronym(word, passages):
                continue  # "UMC" where the passages say "United Methodist Church"
            unknown.append(word)
        return unknown

    def position(self, chunk_id: str) -> int | None:
        return self._position.get(chunk_id)


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


def build_index(manifest: "Manifest", directory: Path) -> LexicalIndex:
    """Rebuild the index from the manifest's live chunks and save it (one writer at a time)."""
    with file_lock(directory.with_name(directory.name + ".lock")):
        generation = manifest.generation()
        index = LexicalIndex.build(manifest.iter_chunks(), generation)
        index.save(directory)
        return index


def current_index(manifest: "Manifest", directory: Path, loaded: LexicalIndex | None = None,
                  writer_lock: Path | None = None) -> LexicalIndex:
    """The index for the manifest's current generation: ``loaded`` if it is current, else the
    saved one if that is current, else a rebuilt one. Several processes may share a knowledge base
    (``ragkit serve --workers``), so "current" is always checked against the manifest itself.

    While an ingest holds ``writer_lock`` the generation moves with every stored window and the
    ingest rebuilds the index when it finishes, so readers keep the index they have (or the saved
    one) instead of rebuilding after every window: for those minutes BM25 lags the vectors, and
    chunks deleted meanwhile are dropped at lookup, never cited."""
    generation = manifest.generation()
    if loaded is not None and loaded.generation == generation:
        return loaded
    if writer_lock is not None and is_locked(writer_lock):
        if loaded is not None:
            return loaded
        saved = _load_quietly(directory)
        if saved is not None:
            return saved
    if LexicalIndex.saved_generation(directory) == generation:
        index = _load_quietly(directory)
        if index is not None and index.generation == generation:
            return index
    return build_index(manifest, directory)


def _load_quietly(directory: Path) -> LexicalIndex | None:
    try:
        return LexicalIndex.load(directory)
    except (OSError, ValueError):
        return None  # swapped out under us by another writer
