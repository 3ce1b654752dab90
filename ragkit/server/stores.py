"""One :class:`~ragkit.KnowledgeBase` per vector store, opened once per process and shared.

A vector store is a ragkit collection named by its id (``vs_<hex>`` is a valid collection name)
in the server's home. All of them share one loaded embedding model: loading it per store would
cost memory and seconds for nothing, and the ONNX session is safe to call from many threads.
Generators are cached per (name, model) for the same reason: a chat client keeps its connection
pool between requests.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any

from ragkit.api import KnowledgeBase
from ragkit.config import ChunkTruncationWarning, Settings
from ragkit.errors import RagkitError
from ragkit.generators import Generator, make_generator

log = logging.getLogger("ragkit.server")

# A chunk size above the embedder's window is the client's choice (OpenAI's default is 800
# tokens); the store records it and BM25 still reads whole chunks, so no warning per ingest.
warnings.filterwarnings("ignore", category=ChunkTruncationWarning)


class StoreRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._kbs: dict[str, KnowledgeBase] = {}
        self._generators: dict[tuple[str, str], Generator] = {}
        self._embedder: Any = None
        self._upstream: Any = None

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from ragkit.embedders import make_embedder

            with self._lock:
                if self._embedder is None:
                    self._embedder = make_embedder(self.settings)
        return self._embedder

    def kb(self, store: dict[str, Any]) -> KnowledgeBase:
        """The knowledge base of a vector store row (chunking as the store was created with)."""
        vs_id = store["id"]
        found = self._kbs.get(vs_id)
        if found is not None:
            return found
        embedder = self.embedder
        with self._lock:
            found = self._kbs.get(vs_id)
            if found is None:
                settings = self.settings.model_copy(update={
                    "collection": vs_id, "chunk_size": int(store["chunk_size"]),
                    "chunk_overlap": int(store["chunk_overlap"])})
                found = self._kbs[vs_id] = KnowledgeBase(settings=settings, embedder=embedder)
        return found

    def forget(self, vs_id: str) -> None:
        """Reopen a store's knowledge base on next use (its chunking changed while it was empty)."""
        with self._lock:  # not closed: another thread may still be using it
            self._kbs.pop(vs_id, None)

    def drop(self, store: dict[str, Any], paths: list[str]) -> None:
        """Delete a store's collection: vectors, manifest rows and BM25 index."""
        kb = self.kb(store)
        try:
            kb.drop()
        except RagkitError as exc:
            log.warning("dropping %s: %s", store["id"], exc)
        except Exception as exc:  # noqa: BLE001 - an empty collection left behind is harmless
            log.warning("could not delete Chroma collection %s: %s", store["id"], exc)
        with self._lock:
            self._kbs.pop(store["id"], None)
        kb.close()

    def generator(self, name: str, model: str | None) -> Generator:
        """``extractive`` or the configured chat model (``openai``), reused across requests."""
        if name == "extractive":  # keeps per-call state: a fresh one each time (it is cheap)
            return make_generator(self.settings, name)
        key = (name, model or "")
        found = self._generators.get(key)
        if found is None:
            settings = self.settings.model_copy(update={"model": model}) if model else self.settings
            found = make_generator(settings, name)
            with self._lock:
                self._generators.setdefault(key, found)
        return found

    def upstream(self, factory: Callable[[Settings], Any]) -> Any:
        """The OpenAI client of the configured chat model (for proxied chat completions)."""
        if self._upstream is None:
            with self._lock:
                if self._upstream is None:
                    self._upstream = factory(self.settings)
        return self._upstream
