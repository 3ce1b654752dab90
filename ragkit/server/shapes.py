"""Rows of the metadata DB as the OpenAI objects the SDK parses (every declared field present).

Kept apart from the routers so that a list, a retrieve and the object embedded in another
response are always the same shape.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, Literal

from fastapi import Response
from pydantic import BaseModel, Field

from ragkit.server.errors import bad_request
from ragkit.server.json_body import utf8
from ragkit.state.library import Library
from ragkit.state.tables import NotFound, Page

DAY = 86400


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    """``body`` sent as JSON as it is. The answering routes build plain JSON-safe dicts, so
    FastAPI's validation and encoding passes over them are skipped: about 0.5 ms a page of search
    results, a twentieth of a search (``bench/bench_server.py``). Stored text with a lone
    surrogate is written with U+FFFD in its place (:func:`ragkit.server.json_body.utf8`)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=_plain)
    return Response(utf8(text), status_code=status, media_type="application/json")


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # a numpy scalar
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class ListQuery(BaseModel):
    """The cursor parameters every list endpoint takes."""

    limit: int = Field(20, ge=1, le=100)
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


def cursor_page(fetch: Callable[[], Page], query: ListQuery, render: Callable[[Any], dict[str, Any]]
                ) -> dict[str, Any]:
    """A list object from one page a repository ``fetch``es for ``query`` (an unknown cursor is a 400)."""
    try:
        rows, has_more = fetch()
    except NotFound as exc:
        param = "after" if query.after == exc.args[0] else "before"
        raise bad_request(f"No object with id '{exc.args[0]}' in this list (cursor '{param}').", param) from None
    data = [render(r) for r in rows]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": has_more}


def file_object(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object": "file", "bytes": row["bytes"], "created_at": row["created_at"],
            "filename": row["filename"], "purpose": row["purpose"], "status": "processed",
            "expires_at": row.get("expires_at"), "status_details": None}


def _expiry(store: dict[str, Any]) -> tuple[dict[str, Any] | None, int | None]:
    policy = json.loads(store["expires_after"]) if store.get("expires_after") else None
    if not policy:
        return None, None
    anchor = store.get("last_active_at") or store["created_at"]
    return policy, int(anchor) + int(policy["days"]) * DAY


def chunking(store: dict[str, Any]) -> dict[str, Any]:
    return {"type": "static", "static": {"max_chunk_size_tokens": store["chunk_size"],
                                         "chunk_overlap_tokens": store["chunk_overlap"]}}


def vector_store(db: Library, store: dict[str, Any]) -> dict[str, Any]:
    counts, usage = db.counts(store["id"])
    policy, expires_at = _expiry(store)
    if expires_at is not None and expires_at < time.time():
        status = "expired"
    else:
        status = "in_progress" if counts["in_progress"] else "completed"
    return {"id": store["id"], "object": "vector_store", "created_at": store["created_at"],
            "name": store["name"] or None, "description": store.get("description"), "usage_bytes": usage,
            "file_counts": counts, "status": status, "expires_after": policy, "expires_at": expires_at,
            "last_active_at": store.get("last_active_at"),
            "metadata": json.loads(store["metadata"]) if store.get("metadata") else {},
            "chunking_strategy": chunking(store)}


#: the command-line advice an ingest error may carry, which an API client cannot follow
_CLI_PASSWORD = re.compile(r"\s*\(use --pdf-password\)")


def api_last_error(stored: str | None) -> dict[str, Any] | None:
    """A file's ``last_error`` as an API client should read it: an encrypted PDF's advice to pass
    ``--pdf-password`` (a CLI flag) becomes what the client can do, upload an unencrypted copy."""
    if not stored:
        return None
    error = json.loads(stored)
    message = error.get("message") or ""
    if _CLI_PASSWORD.search(message):
        error["message"] = (_CLI_PASSWORD.sub("", message) + "; the server cannot open password-protected files "
                            "sent through the API: upload an unencrypted copy of the file and attach that instead")
    return error


def vs_file(row: dict[str, Any], store: dict[str, Any], size: int | None) -> dict[str, Any]:
    return {"id": row["file_id"], "object": "vector_store.file", "created_at": row["created_at"],
            "usage_bytes": (size or 0) if row["status"] == "completed" else 0,
            "vector_store_id": row["vector_store_id"], "status": row["status"],
            "last_error": api_last_error(row.get("last_error")),
            "attributes": json.loads(row["attributes"]) if row.get("attributes") else {},
            "chunking_strategy": chunking(store)}


def batch(db: Library, row: dict[str, Any]) -> dict[str, Any]:
    status, counts = db.batch_status(row)
    return {"id": row["id"], "object": "vector_store.files_batch", "created_at": row["created_at"],
            "vector_store_id": row["vector_store_id"], "status": status, "file_counts": counts}
