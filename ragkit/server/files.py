"""``/v1/files``: uploads kept under ``<home>/files/<file_id>/<sanitised name>``.

The client's file name is never used as a path: it is reduced to its last component, stripped
of control characters, leading dots and anything outside a conservative character set, so
``../../etc/passwd`` is stored as ``passwd`` inside the file's own directory. The size limit is
checked while the body streams in (see :mod:`ragkit.server.limits`) and again on the stored file.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
import shutil
import unicodedata
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse

from ragkit.server.auth import can_see_file, file_for, reader, writer
from ragkit.server.errors import ApiError, bad_request, too_large
from ragkit.server.keys import Principal
from ragkit.server.shapes import ListQuery, cursor_page, file_object
from ragkit.server.state import ServerContext, context
from ragkit.state.tables import now

router = APIRouter(prefix="/v1/files", tags=["files"])

PURPOSES = ("assistants", "assistants_output", "batch", "batch_output", "fine-tune", "fine-tune-results",
            "vision", "user_data", "evals")
_UNSAFE = re.compile(r"[^\w.\- ()+,=@]+", re.UNICODE)


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


def _store_upload(upload: UploadFile, target: Path, limit: int) -> tuple[int, str]:
    """Copy the spooled upload into place; returns (bytes, sha256). Raises 413 past ``limit``."""
    digest = hashlib.sha256()
    size = 0
    upload.file.seek(0)
    with open(target, "wb") as out:
        while True:
            block = upload.file.read(1 << 20)
            if not block:
                break
            size += len(block)
            if size > limit:
                raise too_large(limit)
            digest.update(block)
            out.write(block)
    return size, digest.hexdigest()


def new_file_row(file_id: str, name: str, size: int, purpose: str, target: Path, sha256: str,
                 principal: Principal) -> dict[str, Any]:
    """The metadata of a file stored at ``target`` (by ``POST /v1/files`` or a completed upload)."""
    return {"id": file_id, "filename": name, "bytes": size, "purpose": purpose, "created_at": now(),
            "path": os.path.realpath(target), "sha256": sha256, "created_by": principal.id}


@router.post("")
async def create_file(request: Request, file: UploadFile = File(...), purpose: str = Form(...),
                      ctx: ServerContext = Depends(context), principal: Principal = Depends(writer)) -> dict[str, Any]:
    if purpose not in PURPOSES:
        raise bad_request(f"Invalid purpose {purpose!r}: use one of {', '.join(PURPOSES)}.", "purpose")
    file_id = "file-" + secrets.token_hex(12)
    name = sanitise_filename(file.filename)
    directory = ctx.config.files_dir / file_id
    directory.mkdir(parents=True, exist_ok=False)
    target = directory / name
    try:
        size, sha = await asyncio.to_thread(_store_upload, file, target, ctx.config.max_upload_bytes)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    row = new_file_row(file_id, name, size, purpose, target, sha, principal)
    ctx.db.insert_file(row)
    request.state.audit["file_id"] = file_id
    return file_object(row)


@router.get("")
def list_files(purpose: str | None = None, limit: int = Query(10000, ge=1, le=10000),
               order: str = Query("desc", pattern="^(asc|desc)$"), after: str | None = None,
               before: str | None = None, ctx: ServerContext = Depends(context),
               principal: Principal = Depends(reader)) -> dict[str, Any]:
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

    def remove() -> None:
        for vs_id in ctx.db.delete_file(file_id):
            ctx.library.detached(vs_id)  # its chunks go next, by the stores' one writer
        shutil.rmtree(Path(row["path"]).parent, ignore_errors=True)

    await asyncio.to_thread(remove)
    return {"id": file_id, "object": "file", "deleted": True}


@router.get("/{file_id}/content")
def file_content(file_id: str, ctx: ServerContext = Depends(context),
                 principal: Principal = Depends(reader)) -> FileResponse:
    row = file_for(ctx, principal, file_id, "file_id")
    if not Path(row["path"]).is_file():
        raise ApiError(404, f"The content of file '{file_id}' is missing on the server.", code="not_found")
    return FileResponse(row["path"], media_type="application/octet-stream", filename=row["filename"])
