"""``/v1/uploads``: a large file sent in parts, then turned into an ordinary file.

The SDK's ``uploads.upload_file_chunked`` (and any client of OpenAI's Uploads API) creates an
Upload with the file's name, size and purpose, adds Parts (each up to 64 MB, in any order, even
concurrently), and completes it with the Parts in order. The completed Upload holds a File that
is the same as one posted to ``/v1/files``: stored under the key ``files/<file_id>/<name>``, with
the same sanitised name and the same size limit, ready to attach to a vector store. Parts wait in
the state database when it is PostgreSQL -- so a part sent to one replica and the ``complete``
sent to another meet there -- else under ``<home>/server/uploads/<upload_id>/``
(:mod:`ragkit.library.file_bytes`). An Upload expires an hour after it was created, as OpenAI's
do, and cancelling or completing one removes its parts.

An Upload belongs to the key that created it: another key gets 404, as for every other object.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any, Literal, NoReturn

from fastapi import APIRouter, Depends, File, UploadFile
from pydantic import Field

from ragkit.library.file_bytes import ChecksumMismatch, TooLarge
from ragkit.server.auth import writer
from ragkit.server.errors import bad_request, not_found, too_large
from ragkit.server.files import PURPOSES, new_file_row, sanitise_filename
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.params import Body
from ragkit.server.state import ServerContext, context
from ragkit.state import uploads as stored
from ragkit.state.tables import now

router = APIRouter(route_class=JsonRoute, prefix="/v1/uploads", tags=["uploads"])

#: OpenAI's limits: a Part is at most 64 MB, an Upload lives an hour
PART_LIMIT = 64 * 1024 * 1024
LIFETIME = 3600


class ExpiresAfter(Body):
    anchor: Literal["created_at"] = "created_at"
    seconds: int = Field(ge=3600, le=2592000)


class UploadBody(Body):
    bytes: int = Field(ge=0)
    filename: str = Field(min_length=1)
    mime_type: str = Field(min_length=1)
    purpose: str
    expires_after: ExpiresAfter | None = None


class CompleteBody(Body):
    part_ids: list[str]
    md5: str | None = None


def _object(ctx: ServerContext, row: dict[str, Any]) -> dict[str, Any]:
    from ragkit.server.shapes import file_object

    file = ctx.db.file(row["file_id"]) if row.get("file_id") else None
    return {"id": row["id"], "object": "upload", "bytes": row["bytes"], "created_at": row["created_at"],
            "expires_at": row["expires_at"], "filename": row["filename"], "purpose": row["purpose"],
            "status": row["status"], "file": file_object(file) if file else None}


def _owned(ctx: ServerContext, principal: Principal, upload_id: str) -> dict[str, Any]:
    """The upload, when this key created it (404 otherwise); a pending one past its hour is expired."""
    row = stored.upload(ctx.db, upload_id)
    if row is None or row["created_by"] != principal.id:
        raise not_found("upload", upload_id, "upload_id")
    if row["status"] == "pending" and row["expires_at"] <= time.time():
        stored.expire(ctx.db, upload_id)
        ctx.library.files.drop_parts(upload_id)
        row = dict(row, status="expired")
    return row


def _pending(row: dict[str, Any]) -> None:
    if row["status"] != "pending":
        raise bad_request(f"Upload '{row['id']}' is {row['status']}: parts can be added to, and a pending "
                          "upload completed or cancelled, only while it is pending.", "upload_id")


def _gone(ctx: ServerContext, principal: Principal, upload_id: str) -> NoReturn:
    """A part's bytes vanished under a request: another request cancelled or completed the upload
    meanwhile (and removed its parts), so this one is told what the upload became, as it would
    have been a moment later. Parts of a pending upload never vanish: that one stays an error."""
    _pending(_owned(ctx, principal, upload_id))
    raise RuntimeError(f"the parts of pending upload {upload_id!r} are missing")


@router.post("")
def create_upload(body: UploadBody, ctx: ServerContext = Depends(context),
                  principal: Principal = Depends(writer)) -> dict[str, Any]:
    if body.purpose not in PURPOSES:
        raise bad_request(f"Invalid purpose {body.purpose!r}: use one of {', '.join(PURPOSES)}.", "purpose")
    if body.bytes > ctx.config.max_upload_bytes:
        raise too_large(ctx.config.max_upload_bytes)
    created = now()
    lifetime = body.expires_after.seconds if body.expires_after else LIFETIME
    row = {"id": "upload_" + secrets.token_hex(12), "filename": sanitise_filename(body.filename),
           "bytes": body.bytes, "purpose": body.purpose, "mime_type": body.mime_type, "created_at": created,
           "expires_at": created + lifetime, "status": "pending", "created_by": principal.id, "file_id": None}
    stored.insert_upload(ctx.db, row)
    return _object(ctx, row)


@router.post("/{upload_id}/parts")
async def add_part(upload_id: str, data: UploadFile = File(...), ctx: ServerContext = Depends(context),
                   principal: Principal = Depends(writer)) -> dict[str, Any]:
    row = _owned(ctx, principal, upload_id)
    _pending(row)
    part_id = "part_" + secrets.token_hex(12)
    try:
        size = await asyncio.to_thread(ctx.library.files.store_part, upload_id, part_id, data.file, PART_LIMIT)
    except TooLarge:
        raise too_large(PART_LIMIT) from None
    except FileNotFoundError:
        _gone(ctx, principal, upload_id)
    outcome = stored.add_part(ctx.db, upload_id, part_id, size, row["bytes"])
    if not outcome.added:
        problem = (f"upload '{upload_id}' was {outcome.status} while the part arrived" if outcome.status != "pending"
                   else f"the parts would hold {outcome.received + size} bytes, more than the {row['bytes']} "
                   "the upload was created with")
        ctx.library.files.drop_part(upload_id, part_id)
        raise bad_request(problem[0].upper() + problem[1:] + ".", "data")
    return {"id": part_id, "object": "upload.part", "created_at": now(), "upload_id": upload_id}


def _assemble(ctx: ServerContext, row: dict[str, Any], part_ids: list[str], principal: Principal,
              md5: str | None) -> dict[str, Any]:
    """Store the parts, in order, as a new file; returns the file's row (not yet stored)."""
    file_id = "file-" + secrets.token_hex(12)
    try:
        stored_file = ctx.library.files.assemble(file_id, row["filename"], row["id"], part_ids, md5)
    except ChecksumMismatch as exc:
        raise bad_request(str(exc), "md5") from None
    return new_file_row(file_id, row["filename"], row["purpose"], stored_file, principal)


@router.post("/{upload_id}/complete")
async def complete_upload(upload_id: str, body: CompleteBody, ctx: ServerContext = Depends(context),
                          principal: Principal = Depends(writer)) -> dict[str, Any]:
    row = _owned(ctx, principal, upload_id)
    _pending(row)
    parts = stored.part_sizes(ctx.db, upload_id)
    unknown = [p for p in body.part_ids if p not in parts]
    if unknown:
        raise bad_request(f"Part '{unknown[0]}' is not a part of upload '{upload_id}'.", "part_ids")
    if len(set(body.part_ids)) != len(body.part_ids):
        raise bad_request("part_ids names a part more than once.", "part_ids")
    total = sum(parts[p] for p in body.part_ids)
    if total != row["bytes"]:
        raise bad_request(f"The parts hold {total} bytes, but the upload was created with bytes={row['bytes']}.",
                          "part_ids")
    try:
        file_row = await asyncio.to_thread(_assemble, ctx, row, body.part_ids, principal, body.md5)
    except FileNotFoundError:
        _gone(ctx, principal, upload_id)
    ctx.db.insert_file(file_row)
    if not stored.complete(ctx.db, upload_id, file_row["id"]):  # cancelled, or completed by another request, while the parts were copied
        ctx.db.delete_file(file_row["id"])
        ctx.library.files.delete(file_row["path"])
        _pending(_owned(ctx, principal, upload_id))
    ctx.library.files.drop_parts(upload_id)
    return _object(ctx, dict(row, status="completed", file_id=file_row["id"]))


@router.post("/{upload_id}/cancel")
def cancel_upload(upload_id: str, ctx: ServerContext = Depends(context),
                  principal: Principal = Depends(writer)) -> dict[str, Any]:
    row = _owned(ctx, principal, upload_id)
    _pending(row)
    if not stored.cancel(ctx.db, upload_id):  # completed by another request since it was read
        _pending(_owned(ctx, principal, upload_id))
    ctx.library.files.drop_parts(upload_id)
    return _object(ctx, _owned(ctx, principal, upload_id))
