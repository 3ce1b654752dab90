"""What one server process holds: settings, metadata DB, knowledge bases, audit log, caches.

Built once per worker process by :func:`ragkit.server.app.create_app` and reached from routes
through the :func:`context` dependency. Nothing here is the source of truth for anything a
client can see: that is SQLite and the knowledge bases on disk, which is what lets several
workers serve the same home.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from ragkit.config import Settings
from ragkit.server.config import ServerConfig
from ragkit.server.ratelimit import RateLimiter
from ragkit.server.stores import StoreRegistry
from ragkit.state.audit import AuditLog
from ragkit.state.server import ServerState

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.server.ingest_worker import IngestWorker


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


@dataclass
class ServerContext:
    config: ServerConfig
    settings: Settings
    db: ServerState
    registry: StoreRegistry
    audit: AuditLog
    cache: AnswerCache
    limiter: RateLimiter
    worker: IngestWorker

    @property
    def chat_model(self) -> str | None:
        """The upstream chat model's name when one is configured (API key or base_url)."""
        return self.settings.model if self.settings.uses_chat_model else None

    @property
    def models(self) -> list[str]:
        return ["ragkit-extractive"] + ([self.chat_model] if self.chat_model else [])


async def context(request: Request) -> ServerContext:
    """The server's context. ``async`` only because it never blocks: FastAPI runs a plain ``def``
    dependency in its thread pool, one more thread hop per request for an attribute lookup."""
    return request.app.state.ctx
