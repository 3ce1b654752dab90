"""What one server process holds: the library of vector stores, plus what only HTTP needs.

Built once per worker process by :func:`ragkit.server.app.create_app` and reached from routes
through the :func:`context` dependency. The :class:`~ragkit.library.Library` holds the settings,
state database, knowledge bases, ingest worker and answer cache; the context adds the server's
configuration, rate limiter and audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from ragkit.config import Settings
from ragkit.library import Library
from ragkit.server.config import ServerConfig
from ragkit.server.ratelimit import RateLimiter
from ragkit.state.audit import AuditLog
from ragkit.state.server import ServerState


@dataclass
class ServerContext:
    config: ServerConfig
    library: Library
    audit: AuditLog
    limiter: RateLimiter

    @property
    def settings(self) -> Settings:
        return self.library.settings

    @property
    def db(self) -> ServerState:
        """The state database: the library's, shared with the ingest worker."""
        return self.library.state

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
