"""The library of vector stores: what one process holds to serve them, behind one object.

A :class:`Library` is the OpenAI vector-store semantics written once, over a
:class:`~ragkit.KnowledgeBase` per collection (:mod:`ragkit.library.registry`) and the home's state
database (:class:`~ragkit.state.server.ServerState`): the ingest worker that is each store's one
writer, the shared embedding model and chat clients, and a cache of finished answers. Retrieval
(:mod:`ragkit.library.retrieval`), grounded answers (:mod:`ragkit.library.answering`) and
follow-up history (:mod:`ragkit.library.history`) take a library; a surface (the HTTP server)
parses requests, calls them and maps what they return onto its own shapes.

Nothing here is the source of truth for anything a client can see: that is the state database
and the knowledge bases on disk, which is what lets several processes serve the same home.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from ragkit.config import Settings
from ragkit.library.file_bytes import FileBytes
from ragkit.library.registry import StoreRegistry
from ragkit.library.worker import IngestWorker
from ragkit.state import file_expiry, uploads
from ragkit.state.server import ServerState

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.api import KnowledgeBase
    from ragkit.conversations.rewrite import Rewrite
    from ragkit.conversations.store import Message
    from ragkit.generators import Generator


class AnswerCache:
    """A small LRU of finished answers.

    Keys include each searched collection's generation (bumped by every change to its chunks)
    and everything else that shapes an answer, so a hit is always an answer the same request
    would produce again; entries of an old generation simply stop being asked for."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        if self.size <= 0:
            return None
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, value: Any) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class Library:
    """Settings, state database, knowledge bases, uploaded files' bytes, the ingest worker and the
    answer cache of one process. Changes to a store's index go through the worker (:meth:`wake`, :meth:`cancel`,
    :meth:`detached`); reads go through :meth:`kb` and the retrieval and answering modules."""

    def __init__(self, settings: Settings, state: ServerState, *, answer_cache: int = 0) -> None:
        self.settings = settings
        self.state = state
        self.registry = StoreRegistry(settings)
        #: uploaded files' bytes (local copies, and the shared copy in a PostgreSQL state database)
        self.files = FileBytes.for_state(settings.home, state.state)
        self.worker = IngestWorker(state, self.registry, self.files)
        self.cache = AnswerCache(answer_cache)

    # -- lifetime ----------------------------------------------------------------------------
    def start(self) -> None:
        """Load the embedding model (before the first request, not during it) and start ingesting."""
        _ = self.registry.embedder
        self.files.sweep({row["id"] for row in self.state.all_files()}, uploads.pending_ids(self.state))
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    # -- shared models and knowledge bases --------------------------------------------------
    @property
    def embedder(self) -> Any:
        return self.registry.embedder

    def kb(self, store: dict[str, Any]) -> KnowledgeBase:
        """The knowledge base of a vector store row, for reads that tolerate the store vanishing."""
        return self.registry.kb(store)

    def generator(self, name: str, model: str | None) -> Generator:
        return self.registry.generator(name, model)

    def upstream(self) -> Any:
        """The OpenAI client of the configured chat model, shared by every request."""
        from ragkit.llm import make_client

        return self.registry.upstream(make_client)

    def follow_up(self, question: str, history: list[tuple[Message, Message]]) -> tuple[Rewrite, list[str]]:
        """The query to search for ``question`` after ``history`` (unchanged when there is none):
        the chat model condenses it when one is configured, else the offline rewrite does."""
        from ragkit.conversations.session import phrase_similarity, standalone_question

        return standalone_question(question, history, self.settings, self.upstream,
                                   lambda: phrase_similarity(lambda: self.embedder))

    # -- changes to stores' indexes: all made by the worker ------------------------------
    def wake(self) -> None:
        """Files were queued: the worker ingests them."""
        self.worker.wake()

    def cancel(self, vs_id: str) -> None:
        """The store was deleted: stop ingesting into it and purge it."""
        self.worker.cancel(vs_id)

    def detached(self, vs_id: str) -> None:
        """Files left the store: their chunks are removed."""
        self.worker.detached(vs_id)

    # -- uploaded files ------------------------------------------------------------------------
    def remove_file(self, row: dict[str, Any]) -> None:
        """Delete an uploaded file: its row and its place in every store (their chunks go next, by
        the worker), then its bytes."""
        for vs_id in self.state.delete_file(row["id"]):
            self.detached(vs_id)
        self.files.delete(row["path"])

    def purge_expired_files(self) -> list[str]:
        """Delete the files whose ``expires_at`` has passed, and the parts of uploads whose hour
        passed unfinished; returns the files' ids. Safe to run in every process at once: a file
        another process deleted first is deleted again as a no-op, and each overdue upload is
        expired by one process only."""
        rows = file_expiry.expired(self.state)
        for row in rows:
            self.remove_file(row)
        for upload_id in uploads.expire_overdue(self.state):
            self.files.drop_parts(upload_id)
        return [row["id"] for row in rows]

    def forget(self, vs_id: str) -> None:
        """Reopen a store's knowledge base on next use (its chunking changed while it was empty)."""
        self.registry.forget(vs_id)
