"""Who may call what: Bearer keys, scopes, per-store limits and a per-key rate limit.

Every route depends on :func:`reader`, :func:`writer` or :func:`admin`. The dependency finds the
key (``Authorization: Bearer rk-...``), checks its scope and its rate, names the caller in the
audit record and returns the :class:`~ragkit.server.keys.Principal`. With ``--no-auth`` (loopback
only) every caller is an anonymous admin.

The dependencies are ``async``: the key lookup is one indexed SQLite read (a reader never waits
for a writer in WAL mode), and a plain ``def`` dependency costs a hop to FastAPI's thread pool
and back, measured at about 0.5 ms of a 15 ms search. The only write, a key's ``last_used_at``
(at most once a minute per key), goes to a thread, so it cannot hold up the event loop.

A key limited to some vector stores gets 404 for the others, exactly as if they did not exist:
a 403 would confirm that a store id is valid.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from fastapi import Depends, Request

from ragkit.server.errors import ApiError, not_found
from ragkit.server.keys import ANONYMOUS, Principal, mark_used, principal_for
from ragkit.server.state import ServerContext, context
from ragkit.state import file_expiry

_last_used: dict[str, float] = {}


async def _authenticate(request: Request, ctx: ServerContext) -> Principal:
    if ctx.config.no_auth:
        return ANONYMOUS
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
                            "(create one with: ragkit keys create NAME).", code="missing_api_key")
    principal = principal_for(ctx.db, key.strip())
    if principal is None:
        raise ApiError(401, "Incorrect API key provided (unknown or revoked).", code="invalid_api_key")
    stamp = time.monotonic()
    if stamp - _last_used.get(principal.id, -1e9) > 60:  # at most one write per key per minute
        _last_used[principal.id] = stamp
        await asyncio.to_thread(mark_used, ctx.db, principal.id)
    return principal


async def _guard(request: Request, ctx: ServerContext, needed: str) -> Principal:
    principal = await _authenticate(request, ctx)
    request.state.audit["key"] = principal.name
    if not principal.allows(needed):
        raise ApiError(403, f"This key has scope '{principal.scope}'; this request needs '{needed}'.",
                       code="insufficient_scope")
    limit = principal.rate_limit if principal.rate_limit is not None else ctx.config.rate_limit
    wait = ctx.limiter.take(principal.id, limit)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise ApiError(429, f"Rate limit reached for key '{principal.name}': {limit} requests per minute. "
                            f"Retry in {seconds} s.", code="rate_limit_exceeded",
                       headers={"Retry-After": str(seconds)})
    return principal


async def reader(request: Request, ctx: ServerContext = Depends(context)) -> Principal:
    return await _guard(request, ctx, "read")


async def writer(request: Request, ctx: ServerContext = Depends(context)) -> Principal:
    return await _guard(request, ctx, "write")


async def admin(request: Request, ctx: ServerContext = Depends(context)) -> Principal:
    return await _guard(request, ctx, "admin")


def store_for(ctx: ServerContext, principal: Principal, vs_id: str, param: str | None = None) -> dict[str, Any]:
    """The vector store row, or 404 when it does not exist or this key may not use it."""
    store = ctx.db.store(vs_id)
    if store is None or not principal.can_use_store(store):
        raise not_found("vector store", vs_id, param)
    return store


def file_for(ctx: ServerContext, principal: Principal, file_id: str, param: str | None = None) -> dict[str, Any]:
    """An uploaded file this key may see: its own uploads, or files of stores it may use."""
    row = ctx.db.file(file_id)
    if row is not None and file_expiry.has_expired(row):  # gone, as the next sweep would have made it
        ctx.library.remove_file(row)
        row = None
    if row is None or not can_see_file(ctx, principal, row):
        raise not_found("file", file_id, param)
    return row


def can_see_file(ctx: ServerContext, principal: Principal, row: dict[str, Any]) -> bool:
    if principal.vector_stores is None or row.get("created_by") == principal.id:
        return True
    stores = ctx.db.stores_holding(row["id"])
    return any(principal.can_use_store(s) for s in stores)
