"""``/v1/files``: uploads stored under the key ``files/<file_id>/<sanitised name>``.

The bytes are kept by :mod:`ragkit.library.file_bytes`: at ``<home>/<key>`` on this replica and,
when the state database is PostgreSQL, in it too, so that every replica can read them.

The client's file name is never used as a path: it is reduced to its last component, control
characters are dropped, each run of characters outside a conservative set (letters, digits,
space and ``. - ( ) + , = @``) becomes ``_``, and leading and trailing dots, spaces and ``_`` go,
so ``../../etc/passwd`` is stored as ``passwd`` inside the file's own directory. A multipart
file name is first read as WHATWG's multipart/form-data encoding writes it (browsers, Node's
FormData, httpx and so the Python SDK): ``%22``, ``%0D`` and ``%0A`` are ``"``, CR and LF, and
nothing else is decoded; so ``a"b.txt``, sent as ``a%22b.txt``, is stored as ``a_b.txt``, like
any name with a ``"``. The size limit is checked while the body streams in (see
:mod:`ragkit.server.guard`) and again on the stored file.

``expires_after`` (the SDK sends ``expires_after[anchor]`` and ``expires_after[seconds]`` form
fields) sets the file's ``expires_at``, ``seconds`` (1 hour to 30 days) after it was created, as
OpenAI's does; an expired file is deleted (by a sweep every minute, and at once when it is listed
or named). Any other form field is OpenAI's "Unrecognized request argument" 400.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from ragkit.library.file_bytes import ContentMissing, StoredFile, TooLarge
from ragkit.server.auth import can_see_file, file_for, reader, writer
from ragkit.server.errors import ApiError, bad_request, not_found, too_large, unknown_argument
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.shapes import ListQuery, cursor_page, file_object
from ragkit.server.state import ServerContext, context
from ragkit.state import file_expiry
from ragkit.state.tables import now

router = APIRouter(route_class=JsonRoute, prefix="/v1/files", tags=["files"])
#: bytes read at a time from a file being sent
CHUNK = 64 * 1024

PURPOSES = ("assistants", "assistants_output", "batch", "batch_output", "fine-tune", "fine-tune-results",
            "vision", "user_data", "evals")
_UNSAFE = re.compile(r"[^\w.\- ()+,=@]+", re.UNICODE)
#: how browsers and Node's FormData escape '"', CR and LF in a multipart file name (WHATWG)
_FORM_CHARS = {"%22": '"', "%0D": "\r", "%0A": "\n"}
_FORM_ESCAPES = re.compile("|".join(_FORM_CHARS))
#: OpenAI's bounds on a file's ``expires_after.seconds``: an hour to 30 days
EXPIRY_SECONDS = (3600, 2592000)
_FIELDS = ("file", "purpose", "expires_after[anchor]", "expires_after[seconds]")


def form_filename(name: str | None) -> str | None:
    """A multipart part's file name with the three escapes of WHATWG's multipart/form-data
    encoding decoded (``%22``, ``%0D``, ``%0A``); any other ``%`` is the name's own."""
    return _FORM_ESCAPES.sub(lambda found: _FORM_CHARS[found.group()], name) if name else name


def sanitise_filename(name: str | None) -> str:
    """A file name safe to create inside one directory, keeping the extension when it can."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE.sub("_", name).strip(" ._")
    if name in ("", ".", ".."):
        name = "file"
    if len(name.encode("utf-8")) > 200:
        stem, dot, ext = name.rpartition(".")
        ext = ext if dot and len(ext) <= 10 else ""
        keep = stem or name
        while len((keep + ("." + ext if ext else "")).encode("utf-8")) > 200:
            keep = keep[:-1]
        name = keep + ("." + ext if ext else "")
    return name


def new_file_row(file_id: str, name: str, purpose: str, stored: StoredFile, principal: Principal) -> dict[str, Any]:
    """The metadata of a file whose bytes are stored (by ``POST /v1/files`` or a completed upload)."""
    return {"id": file_id, "filename": name, "bytes": stored.size, "purpose": purpose, "created_at": now(),
            "path": stored.key, "sha256": stored.sha256, "created_by": principal.id}


def lifetime(form: Mapping[str, Any]) -> int | None:
    """Seconds from ``expires_after`` in the multipart form (None without one), or a 400 naming
    the field; an unknown field is OpenAI's 400 too."""
    unknown = next((key for key in form if key not in _FIELDS), None)
    if unknown is not None:
        raise unknown_argument(unknown)
    anchor, seconds = form.get("expires_after[anchor]"), form.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise bad_request(f"Invalid value for 'expires_after.anchor': {anchor!r}. The supported anchor is "
                          "'created_at'.", "expires_after.anchor", "invalid_value")
    low, high = EXPIRY_SECONDS
    # ASCII digits and few of them: str.isdigit() takes "٣٦٠٠" and int() refuses 5000 digits
    if not isinstance(seconds, str) or not re.fullmatch(r"[0-9]{1,9}", seconds.strip()) \
            or not low <= int(seconds) <= high:
        raise bad_request(f"Invalid value for 'expires_after.seconds': {seconds!r}. Give a whole number of seconds "
                          f"from {low} (1 hour) to {high} (30 days).", "expires_after.seconds", "invalid_value")
    return int(seconds)


@router.post("")
async def create_file(request: Request, file: UploadFile = File(...), purpose: str = Form(...),
                      ctx: ServerContext = Depends(context), principal: Principal = Depends(writer)) -> dict[str, Any]:
    if purpose not in PURPOSES:
        raise bad_request(f"Invalid purpose {purpose!r}: use one of {', '.join(PURPOSES)}.", "purpose")
    seconds = lifetime(await request.form())
    file_id = "file-" + secrets.token_hex(12)
    name = sanitise_filename(form_filename(file.filename))
    try:
        stored = await asyncio.to_thread(ctx.library.files.store, file_id, name, file.file, ctx.config.max_upload_bytes)
    except TooLarge as exc:
        raise too_large(exc.limit) from None
    row = new_file_row(file_id, name, purpose, stored, principal)
    ctx.db.insert_file(row)
    if seconds is not None:
        row["expires_at"] = row["created_at"] + seconds
        file_expiry.set_expiry(ctx.db, file_id, row["expires_at"])
    request.state.audit["file_id"] = file_id
    return file_object(row)


@router.get("")
def list_files(purpose: str | None = None, limit: int = Query(10000, ge=1, le=10000),
               order: str = Query("desc", pattern="^(asc|desc)$"), after: str | None = None,
               before: str | None = None, ctx: ServerContext = Depends(context),
               principal: Principal = Depends(reader)) -> dict[str, Any]:
    ctx.library.purge_expired_files()
    visible = None
    if principal.vector_stores is not None:
        visible = [r["id"] for r in ctx.db.all_files() if can_see_file(ctx, principal, r)]
    # OpenAI lists up to 10,000 files per page here (other lists stop at 100).
    query = ListQuery.model_construct(limit=limit, order=order, after=after, before=before)
    return cursor_page(lambda: ctx.db.files_page(query, purpose=purpose, visible=visible), query, file_object)


@router.get("/{file_id}")
def retrieve_file(file_id: str, ctx: ServerContext = Depends(context),
                  principal: Principal = Depends(reader)) -> dict[str, Any]:
    return file_object(file_for(ctx, principal, file_id, "file_id"))


@router.delete("/{file_id}")
async def delete_file(file_id: str, ctx: ServerContext = Depends(context),
                      principal: Principal = Depends(writer)) -> dict[str, Any]:
    row = file_for(ctx, principal, file_id, "file_id")
    await asyncio.to_thread(ctx.library.remove_file, row)  # its chunks go next, by the stores' one writer
    return {"id": file_id, "object": "file", "deleted": True}


def content_gone(ctx: ServerContext, file_id: str) -> ApiError:
    """The 404 for a file whose bytes cannot be read: deleted (by another request) since it was
    found, as the request would have been told a moment later; else its bytes are missing here."""
    if ctx.db.file(file_id) is None:
        return not_found("file", file_id, "file_id")
    return ApiError(404, f"The content of file '{file_id}' is missing on the server.", code="not_found")


def _attachment(filename: str) -> str:
    """``Content-Disposition`` for a download named ``filename`` (RFC 6266; non-ASCII per RFC 5987)."""
    quoted = quote(filename)
    return f'attachment; filename="{filename}"' if quoted == filename else f"attachment; filename*=utf-8''{quoted}"


def _read(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while block := handle.read(CHUNK):
            yield block


@router.get("/{file_id}/content")
def file_content(file_id: str, ctx: ServerContext = Depends(context),
                 principal: Principal = Depends(reader)) -> StreamingResponse:
    """The file's bytes, from a handle opened before the response starts: a delete while they
    are sent no longer takes them from under it (that was a 500, or a body cut short)."""
    row = file_for(ctx, principal, file_id, "file_id")
    try:
        handle = open(ctx.library.files.materialize(row["path"]), "rb")  # noqa: SIM115 - closed by _read
    except (ContentMissing, FileNotFoundError):
        raise content_gone(ctx, file_id) from None
    headers = {"Content-Length": str(os.fstat(handle.fileno()).st_size),
               "Content-Disposition": _attachment(row["filename"])}
    return StreamingResponse(_read(handle), media_type="application/octet-stream", headers=headers,
                             background=BackgroundTask(handle.close))
