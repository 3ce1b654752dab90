"""One :class:`~ragkit.KnowledgeBase` per vector store, opened once per process and shared.

A vector store is a ragkit collection named by its id (``vs_<hex>`` is a valid collection name)
in the home. All of them share one loaded embedding model: loading it per store would
cost memory and seconds for nothing, and the ONNX session is safe to call from many threads.
Generators are cached per (name, model) for the same reason: a chat client keeps its connection
pool between requests.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ragkit.api import KnowledgeBase
from ragkit.config import ChunkTruncationWarning, Settings
from ragkit.errors import NotFound, RagkitError
from ragkit.generators import Generator, make_generator

log = logging.getLogger("ragkit.library")
#: seconds a store deletion waits for searches still reading the store
PURGE_WAIT = 30.0

# A chunk size above the embedder's window is the client's choice (OpenAI's default is 800
# tokens); the store records it and BM25 still reads whole chunks, so no warning per ingest.
warnings.filterwarnings("ignore", category=ChunkTruncationWarning)


class StoreGone(NotFound):
    """The vector store is being deleted: its knowledge base no longer takes new users."""

    def __init__(self, vs_id: str) -> None:
        super().__init__("vector store", vs_id, "vector_store_id")


class StoreRegistry:
    """The knowledge bases of the process's vector stores, and who is using each one.

    A knowledge base is shared by every request thread and the ingest worker, so it is never
    closed under them: a user holds a :meth:`lease` while it works on the store, and deleting the
    store (:meth:`purge`, run by the ingest worker, the one writer) first stops new leases, then
    waits for the running ones to end, and only then drops the collection. Closing handles that
    another thread still used is what crashed the server when a store was deleted mid-ingest."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._users = threading.Condition(self._lock)
        self._kbs: dict[str, KnowledgeBase] = {}
        self._leases: dict[str, int] = {}
        self._closing: set[str] = set()
        self._purged: set[str] = set()  # ids are never reused: a purged store stays gone
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
        """The knowledge base of a vector store row (chunking as the store was created with).
        For reads that tolerate a store vanishing; work on the store's index takes a :meth:`lease`."""
        vs_id = store["id"]
        found = self._kbs.get(vs_id)
        if found is not None:
            return found
        if vs_id in self._closing or vs_id in self._purged:
            raise StoreGone(vs_id)  # never reopen (and so recreate) a store being dropped
        embedder = self.embedder
        with self._lock:
            found = self._kbs.get(vs_id)
            if found is None:
                found = self._kbs[vs_id] = self._open(store, embedder)
        return found

    def _open(self, store: dict[str, Any], embedder: Any) -> KnowledgeBase:
        settings = self.settings.model_copy(update={
            "collection": store["id"], "chunk_size": int(store["chunk_size"]),
            "chunk_overlap": int(store["chunk_overlap"])})
        return KnowledgeBase(settings=settings, embedder=embedder)

    @contextmanager
    def lease(self, store: dict[str, Any]) -> Iterator[KnowledgeBase]:
        """Use a store's knowledge base; it is not dropped until every lease has ended.
        Raises :class:`StoreGone` once the store's deletion has begun."""
        vs_id = store["id"]
        with self._users:
            if vs_id in self._closing:
                raise StoreGone(vs_id)
            self._leases[vs_id] = self._leases.get(vs_id, 0) + 1
        try:
            yield self.kb(store)
        finally:
            with self._users:
                self._leases[vs_id] -= 1
                if not self._leases[vs_id]:
                    del self._leases[vs_id]
                    self._users.notify_all()

    def forget(self, vs_id: str) -> None:
        """Reopen a store's knowledge base on next use (its chunking changed while it was empty)."""
        with self._lock:  # not closed: another thread may still be using it
            self._kbs.pop(vs_id, None)

    def purge(self, store: dict[str, Any], wait: float = PURGE_WAIT) -> None:
        """Delete a store's collection (vectors, manifest rows, BM25 index) once nobody uses it.
        Safe to repeat: a collection already gone is not an error."""
        vs_id = store["id"]
        deadline = time.monotonic() + wait
        with self._users:
            self._closing.add(vs_id)
            while self._leases.get(vs_id) and time.monotonic() < deadline:
                self._users.wait(deadline - time.monotonic())
            if self._leases.get(vs_id):
                log.warning("deleting %s while %d request(s) still read it", vs_id, self._leases[vs_id])
        try:  # the cached knowledge base, or one opened just to drop the collection (never cached)
            (self._kbs.get(vs_id) or self._open(store, self.embedder)).drop()
        except RagkitError as exc:
            log.warning("dropping %s: %s", vs_id, exc)
        except Exception as exc:  # noqa: BLE001 - an empty collection left behind is harmless
            log.warning("could not delete Chroma collection %s: %s", vs_id, exc)
        with self._users:
            self._kbs.pop(vs_id, None)
            self._closing.discard(vs_id)
            self._purged.add(vs_id)

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
