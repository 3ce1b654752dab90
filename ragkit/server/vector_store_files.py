"""Files of a vector store and file batches: attach, poll, list, update attributes, detach, cancel.

Attaching only queues the file (status ``in_progress``); the ingest worker does the work and
the client polls, as with OpenAI. Polling responses carry ``openai-poll-after-ms`` so the SDK's
``create_and_poll`` / ``upload_and_poll`` helpers ask again soon instead of after a second.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from ragkit.server.auth import file_for, reader, store_for, writer
from ragkit.server.errors import not_found
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.params import (
    ChunkingStrategy,
    CreateBatch,
    CreateStoreFile,
    UpdateStoreFile,
    conflict_chunking,
)
from ragkit.server.shapes import ListQuery, batch, cursor_page, vs_file
from ragkit.server.state import ServerContext, context

router = APIRouter(route_class=JsonRoute, prefix="/v1/vector_stores/{vector_store_id}", tags=["vector_store_files"])


class FileListQuery(ListQuery):
    filter: Literal["in_progress", "completed", "failed", "cancelled"] | None = None


def _chunking(ctx: ServerContext, store: dict[str, Any], strategy: ChunkingStrategy | None) -> dict[str, Any]:
    """Accept a file's chunking when it matches the store's, or when the store is still empty
    (the store then adopts it); otherwise 400, since one collection is chunked one way."""
    if strategy is None or strategy.type == "auto":
        return store
    wanted = strategy.sizes((store["chunk_size"], store["chunk_overlap"]))
    if wanted == (store["chunk_size"], store["chunk_overlap"]):
        return store
    counts, _ = ctx.db.counts(store["id"])
    if counts["total"]:
        raise conflict_chunking(store, wanted)
    ctx.db.update_store(store["id"], chunk_size=wanted[0], chunk_overlap=wanted[1])
    ctx.library.forget(store["id"])
    return ctx.db.store(store["id"]) or store


def _render(ctx: ServerContext, store: dict[str, Any]):
    def render(row: dict[str, Any]) -> dict[str, Any]:
        found = ctx.db.file(row["file_id"])
        return vs_file(row, store, found["bytes"] if found else 0) | {"id": row["file_id"]}
    return render


def _poll_hint(response: Response, ctx: ServerContext, busy: bool) -> None:
    if busy:
        response.headers["openai-poll-after-ms"] = str(ctx.config.poll_after_ms)


# -- files --------------------------------------------------------------------------------------
@router.post("/files")
def attach_file(vector_store_id: str, body: CreateStoreFile, request: Request, response: Response,
                ctx: ServerContext = Depends(context), principal: Principal = Depends(writer)) -> dict[str, Any]:
    request.state.audit["vector_store"] = vector_store_id
    store = store_for(ctx, principal, vector_store_id)
    file_for(ctx, principal, body.file_id, "file_id")
    store = _chunking(ctx, store, body.chunking_strategy)
    ctx.db.attach(vector_store_id, [body.file_id], {body.file_id: body.attributes})
    ctx.library.wake()
    row = ctx.db.vs_file(vector_store_id, body.file_id)
    assert row is not None
    _poll_hint(response, ctx, row["status"] == "in_progress")
    return _render(ctx, store)(row)


@router.get("/files")
def list_files(vector_store_id: str, query: Annotated[FileListQuery, Query()],
               ctx: ServerContext = Depends(context), principal: Principal = Depends(reader)) -> dict[str, Any]:
    store = store_for(ctx, principal, vector_store_id)
    return cursor_page(lambda: ctx.db.store_files_page(vector_store_id, query, status=query.filter), query,
                       _render(ctx, store))


def _vs_file_or_404(ctx: ServerContext, vector_store_id: str, file_id: str) -> dict[str, Any]:
    row = ctx.db.vs_file(vector_store_id, file_id)
    if row is None:
        raise not_found("file", file_id, "file_id")
    return row


@router.get("/files/{file_id}")
def retrieve_file(vector_store_id: str, file_id: str, response: Response, ctx: ServerContext = Depends(context),
                  principal: Principal = Depends(reader)) -> dict[str, Any]:
    store = store_for(ctx, principal, vector_store_id)
    row = _vs_file_or_404(ctx, vector_store_id, file_id)
    _poll_hint(response, ctx, row["status"] == "in_progress")
    return _render(ctx, store)(row)


@router.post("/files/{file_id}")
def update_file(vector_store_id: str, file_id: str, body: UpdateStoreFile, ctx: ServerContext = Depends(context),
                principal: Principal = Depends(writer)) -> dict[str, Any]:
    store = store_for(ctx, principal, vector_store_id)
    _vs_file_or_404(ctx, vector_store_id, file_id)
    ctx.db.set_attributes(vector_store_id, file_id, body.attributes)
    return _render(ctx, store)(_vs_file_or_404(ctx, vector_store_id, file_id))


@router.delete("/files/{file_id}")
async def detach_file(vector_store_id: str, file_id: str, ctx: ServerContext = Depends(context),
                      principal: Principal = Depends(writer)) -> dict[str, Any]:
    store_for(ctx, principal, vector_store_id)
    _vs_file_or_404(ctx, vector_store_id, file_id)
    # Gone from listings and search at once; the ingest worker (the store's one writer) removes
    # its chunks, after an ingest of the file still running ends.
    await asyncio.to_thread(ctx.db.detach, vector_store_id, file_id)
    ctx.library.detached(vector_store_id)
    return {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}


@router.get("/files/{file_id}/content")
def file_content(vector_store_id: str, file_id: str, ctx: ServerContext = Depends(context),
                 principal: Principal = Depends(reader)) -> dict[str, Any]:
    """The file's chunks as ragkit stored them (the text a search can return)."""
    store = store_for(ctx, principal, vector_store_id)
    _vs_file_or_404(ctx, vector_store_id, file_id)
    found = ctx.db.file(file_id)
    data: list[dict[str, Any]] = []
    if found is not None:
        manifest = ctx.library.kb(store).manifest
        chunks = manifest.chunks_by_id(sorted(manifest.chunk_ids(found["path"])))
        ordered = sorted(chunks.items(), key=lambda item: item[1][1].get("chunk_index", 0))
        data = [{"type": "text", "text": text, "page": meta.get("page"), "chunk_id": chunk_id}
                for chunk_id, (text, meta) in ordered]
    return {"object": "vector_store.file_content.page", "data": data, "has_more": False, "next_page": None,
            "file_id": file_id, "filename": found["filename"] if found else None}


# -- batches ------------------------------------------------------------------------------------
@router.post("/file_batches")
def create_batch(vector_store_id: str, body: CreateBatch, request: Request, response: Response,
                 ctx: ServerContext = Depends(context), principal: Principal = Depends(writer)) -> dict[str, Any]:
    request.state.audit["vector_store"] = vector_store_id
    store = store_for(ctx, principal, vector_store_id)
    if body.files is not None:
        entries = [(f.file_id, f.attributes, f.chunking_strategy) for f in body.files]
    else:
        entries = [(file_id, body.attributes, body.chunking_strategy) for file_id in body.file_ids or []]
    for file_id, _, strategy in entries:
        file_for(ctx, principal, file_id, "file_ids" if body.file_ids is not None else "files")
        store = _chunking(ctx, store, strategy)
    batch_id = "vsfb_" + secrets.token_hex(12)
    ids = list(dict.fromkeys(file_id for file_id, _, _ in entries))
    ctx.db.attach(vector_store_id, ids, {file_id: attrs for file_id, attrs, _ in entries}, batch_id=batch_id)
    ctx.library.wake()
    shown = batch(ctx.db, ctx.db.batch(vector_store_id, batch_id) or {})
    _poll_hint(response, ctx, shown["status"] == "in_progress")
    return shown


def _batch_or_404(ctx: ServerContext, vector_store_id: str, batch_id: str) -> dict[str, Any]:
    row = ctx.db.batch(vector_store_id, batch_id)
    if row is None:
        raise not_found("file batch", batch_id, "batch_id")
    return row


@router.get("/file_batches/{batch_id}")
def retrieve_batch(vector_store_id: str, batch_id: str, response: Response, ctx: ServerContext = Depends(context),
                   principal: Principal = Depends(reader)) -> dict[str, Any]:
    store_for(ctx, principal, vector_store_id)
    shown = batch(ctx.db, _batch_or_404(ctx, vector_store_id, batch_id))
    _poll_hint(response, ctx, shown["status"] in ("in_progress", "cancelling"))
    return shown


@router.post("/file_batches/{batch_id}/cancel")
def cancel_batch(vector_store_id: str, batch_id: str, ctx: ServerContext = Depends(context),
                 principal: Principal = Depends(writer)) -> dict[str, Any]:
    store_for(ctx, principal, vector_store_id)
    _batch_or_404(ctx, vector_store_id, batch_id)
    ctx.db.cancel_batch(vector_store_id, batch_id)  # a worker ingesting its files stops at its next step
    return batch(ctx.db, _batch_or_404(ctx, vector_store_id, batch_id))


@router.get("/file_batches/{batch_id}/files")
def list_batch_files(vector_store_id: str, batch_id: str, query: Annotated[FileListQuery, Query()],
                     ctx: ServerContext = Depends(context), principal: Principal = Depends(reader)) -> dict[str, Any]:
    store = store_for(ctx, principal, vector_store_id)
    _batch_or_404(ctx, vector_store_id, batch_id)
    return cursor_page(lambda: ctx.db.store_files_page(vector_store_id, query, status=query.filter,
                                                       batch_id=batch_id), query, _render(ctx, store))
