"""The bm25s backend: the whole index in memory, rebuilt from the manifest on every change.

Kept as the comparison peer of :mod:`ragkit.stores.lexical.tantivy_index` (``lexical_backend =
"bm25s"``): scoring is exact Lucene BM25 over numpy arrays, but every update rebuilds and
rewrites the whole index, so its cost grows with the collection, not with the change. Saved
beside the store with the manifest generation it was built from; a stale or missing index is
rebuilt rather than trusted.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ragkit.stores.lexical.base import (ChunkFilter, Vocabulary, chunk_fields, indexed_text, read_generation,
                                        scores_from_dense, top_from_scores, top_k)
from ragkit.text import content_terms, tokenize

META_FILE = "ragkit_meta.json"
GENERATION_FILE = "generation"


class Bm25sIndex:
    def __init__(self, retriever, ids: list[str], sources: list[str], file_types: list[str],
                 pages: np.ndarray, generation: int, paths: list[str], documents=None,
                 doc_of: np.ndarray | None = None) -> None:
        self._retriever = retriever
        #: BM25 over whole documents (every chunk of one path, with its context lines), and the
        #: document of each chunk: a question that names a document finds it here even when the
        #: chunk that answers it does not repeat the name
        self._documents = documents
        self.doc_of = doc_of if doc_of is not None else np.zeros(len(ids), dtype=np.int64)
        self._vocabulary: Vocabulary | None = None
        self._sources: list[str] | None = None
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
    def build(cls, rows: Iterable[tuple[str, str, dict]], generation: int) -> "Bm25sIndex":
        import bm25s

        ids: list[str] = []
        texts: list[str] = []
        fields: list[tuple[str, str, str, int]] = []
        for chunk_id, text, meta in rows:
            ids.append(chunk_id)
            texts.append(indexed_text(text, meta))
            fields.append(chunk_fields(meta))
        sources, paths, file_types, pages = (list(column) for column in zip(*fields)) if fields else ([], [], [], [])
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
        Callers serialise writers with a file lock (see :mod:`ragkit.stores.lexical`)."""
        tmp = directory.with_name(f"{directory.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.ids:
            self._retriever.save(str(tmp), show_progress=False)
            self._documents.save(str(tmp / "documents"), show_progress=False)
        meta = {
            "generation": self.generation, "ids": self.ids, "sources": self.sources.tolist(),
            "file_types": self.file_types.tolist(), "pages": self.pages.tolist(),
            "paths": self.paths.tolist(), "doc_of": self.doc_of.tolist(),
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
        return read_generation(directory / GENERATION_FILE)

    @classmethod
    def load(cls, directory: Path) -> "Bm25sIndex | None":
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
        scores = self._score(self._retriever, query)
        return np.zeros(len(self.ids), dtype=np.float32) if scores is None else scores

    def document_scores(self, query: str) -> np.ndarray:
        scores = self._score(self._documents, query)
        return np.zeros(len(self.ids), dtype=np.float32) if scores is None else scores[self.doc_of]

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        return top_k(self.ids, self.scores(query), k)

    def top(self, query: str, k: int, where: ChunkFilter | None = None) -> list[tuple[str, float]]:
        """The dense fallback: every chunk scored, then masked (this backend holds the arrays anyway)."""
        return top_from_scores(self.ids, self.scores(query), k, self._mask(where))

    def scores_for(self, query: str, chunk_ids: Sequence[str], where: ChunkFilter | None = None) -> dict[str, float]:
        return scores_from_dense(self._position.get, self.scores(query), chunk_ids, self._mask(where))

    def source_values(self) -> Sequence[str]:
        if self._sources is None:
            self._sources = sorted(set(self.sources.tolist()))
        return self._sources

    def _mask(self, where: ChunkFilter | None) -> np.ndarray | None:
        return None if where is None else where.mask(self.sources, self.paths, self.file_types, self.pages)

    def _score(self, retriever, query: str) -> np.ndarray | None:
        """The retriever's score per indexed row, or None when there is nothing to score."""
        tokens = content_terms(query) if self.ids else []
        return np.asarray(retriever.get_scores(tokens), dtype=np.float32) if tokens else None

    def unknown_names(self, text: str, passages: Sequence[str] = ()) -> list[str]:
        if not self.ids:
            return []
        if self._vocabulary is None:
            self._vocabulary = Vocabulary(self._retriever.vocab_dict)
        return self._vocabulary.unknown_names(text, passages)

    def position(self, chunk_id: str) -> int | None:
        return self._position.get(chunk_id)
