"""``/v1/vector_stores``: create, list, retrieve, update and delete vector stores.

A vector store is a ragkit collection named by its id. Its chunking is fixed when it is created
(``chunking_strategy`` static sizes become the collection's ``chunk_size``/``chunk_overlap``;
``auto`` means ragkit's configured defaults) because one collection is chunked one way.
``expires_after`` is recorded and reported (``expires_at``, status ``expired``); expired stores
are not deleted automatically.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from ragkit.server.auth import file_for, reader, store_for, writer
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.params import CreateStore, UpdateStore
from ragkit.server.shapes import ListQuery, cursor_page, vector_store
from ragkit.server.state import ServerContext, context
from ragkit.state.tables import now

router = APIRouter(route_class=JsonRoute, prefix="/v1/vector_stores", tags=["vector_stores"])


def new_store_id() -> str:
    """``vs_`` + 24 hex digits: also a valid ragkit collection name (3-512 of [A-Za-z0-9._-])."""
    return "vs_" + secrets.token_hex(12)


@router.post("")
def create_store(body: CreateStore, request: Request, ctx: ServerContext = Depends(context),
                 principal: Principal = Depends(writer)) -> dict[str, Any]:
    for file_id in body.file_ids:
        file_for(ctx, principal, file_id, "file_ids")
    default = (ctx.settings.chunk_size, ctx.settings.chunk_overlap)
    size, overlap = body.chunking_strategy.sizes(default) if body.chunking_strategy else default
    stamp = now()
    row = {"id": new_store_id(), "name": body.name or "", "description": body.description,
           "created_at": stamp, "last_active_at": stamp,
           "metadata": json.dumps(body.metadata) if body.metadata else None,
           "expires_after": body.expires_after.model_dump_json() if body.expires_after else None,
           "chunk_size": size, "chunk_overlap": overlap, "created_by": principal.id}
    ctx.db.insert_store(row)
    if body.file_ids:
        ctx.db.attach(row["id"], list(dict.fromkeys(body.file_ids)), {})
        ctx.library.wake()
    request.state.audit["vector_store"] = row["id"]
    return vector_store(ctx.db, ctx.db.store(row["id"]) or row)


@router.get("")
def list_stores(query: Annotated[ListQuery, Query()], ctx: ServerContext = Depends(context),
                principal: Principal = Depends(reader)) -> dict[str, Any]:
    limited = principal.vector_stores is not None
    return cursor_page(lambda: ctx.db.stores_page(query, creator=principal.id if limited else None,
                                                  allowed=sorted(principal.vector_stores or ())),
                       query, lambda r: vector_store(ctx.db, r))


@router.get("/{vector_store_id}")
def retrieve_store(vector_store_id: str, request: Request, ctx: ServerContext = Depends(context),
                   principal: Principal = Depends(reader)) -> dict[str, Any]:
    request.state.audit["vector_store"] = vector_store_id
    return vector_store(ctx.db, store_for(ctx, principal, vector_store_id))


@router.post("/{vector_store_id}")
def update_store(vector_store_id: str, body: UpdateStore, request: Request, ctx: ServerContext = Depends(context),
                 principal: Principal = Depends(writer)) -> dict[str, Any]:
    request.state.audit["vector_store"] = vector_store_id
    store_for(ctx, principal, vector_store_id)
    given = body.model_fields_set
    values: dict[str, Any] = {}
    if "name" in given:
        values["name"] = body.name or ""
    if "metadata" in given:
        values["metadata"] = json.dumps(body.metadata) if body.metadata else None
    if "expires_after" in given:
        values["expires_after"] = body.expires_after.model_dump_json() if body.expires_after else None
    values["last_active_at"] = now()
    ctx.db.update_store(vector_store_id, **values)
    return vector_store(ctx.db, store_for(ctx, principal, vector_store_id))


@router.delete("/{vector_store_id}")
async def delete_store(vector_store_id: str, request: Request, ctx: ServerContext = Depends(context),
                       principal: Principal = Depends(writer)) -> dict[str, Any]:
    request.state.audit["vector_store"] = vector_store_id
    store_for(ctx, principal, vector_store_id)
    # Gone for every client at once; an ingest into it stops at its next step and the ingest
    # worker drops the collection once no search reads it (after a crash, at the next start).
    await asyncio.to_thread(ctx.db.delete_store, vector_store_id)
    ctx.library.cancel(vector_store_id)
    return {"id": vector_store_id, "object": "vector_store.deleted", "deleted": True}
