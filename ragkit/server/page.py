"""The web page served at ``/``: sign in with a key, upload, ask, open citations, rate answers.

Plain HTML, CSS and JavaScript shipped inside the package (no build step, no CDN), talking to
the same OpenAI-compatible endpoints the SDK uses. The page itself is public (it holds no
data); everything it shows comes from ``/v1`` and ``/page/*`` calls that carry the key as a
Bearer header, so a key never appears in a URL, a log line or a browser history.

What the OpenAI API has no words for lives under ``/page``:

* ``GET /page/citation``: the cited chunk with the quote's offsets and, for a PDF, the page's
  picture address and the quote's rectangles on it;
* ``GET /page/render``: a PDF page as a PNG (cached under the home, see :mod:`ragkit.pages`);
* ``POST /page/feedback``: a thumbs up or down (see :mod:`ragkit.feedback`);
* ``POST /page/standalone``: a follow-up rewritten as a question that can be searched alone
  (the chat model's condenser when one is configured, else the offline rewriter of ``ragkit
  chat``), so a conversation on the page keeps its subject.

The page asks the configured chat model when the server has one (``/v1/models`` lists it), the
extractive answerer otherwise, and shows under each answer which of them wrote it.

Every page response carries a strict Content-Security-Policy: scripts only from this origin, no
inline script, no framing; the page writes document text with ``textContent`` only, so a
document containing ``<script>`` is shown, never run.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from ragkit.library.file_bytes import ContentMissing
from ragkit.server.auth import reader, store_for
from ragkit.server.errors import ApiError, bad_request, not_found
from ragkit.server.files import content_gone
from ragkit.feedback import FeedbackStore, Rating
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.pages import PageError, find_quote, rendered_page
from ragkit.server.state import ServerContext, context

router = APIRouter(route_class=JsonRoute, include_in_schema=False)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-cache"}
STATIC = {"index.html": "text/html; charset=utf-8", "app.css": "text/css; charset=utf-8",
          **{name: "text/javascript; charset=utf-8" for name in ("app.js", "sources.js", "uploads.js", "threads.js")}}


def _static(name: str) -> Response:
    body = resources.files("ragkit.server").joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC[name], headers=PAGE_HEADERS)


@router.get("/")
def index() -> Response:
    return _static("index.html")


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise not_found("page asset", name, "name")
    return _static(name)


def _document(ctx: ServerContext, principal: Principal, vector_store_id: str, file_id: str) -> tuple[Any, dict]:
    """The store's knowledge base and the file's row, or 404 as if neither existed."""
    store = store_for(ctx, principal, vector_store_id, "vector_store_id")
    row = ctx.db.file(file_id)
    if row is None or ctx.db.vs_file(vector_store_id, file_id) is None:
        raise not_found("file", file_id, "file_id")
    return ctx.library.kb(store), row


def _is_pdf(row: dict[str, Any]) -> bool:
    return row["filename"].lower().endswith(".pdf")


@router.get("/page/citation")
async def citation(request: Request, vector_store_id: str, file_id: str, chunk_id: str,
                   quote_start: int = Query(ge=0), quote_end: int = Query(ge=0),
                   ctx: ServerContext = Depends(context),
                   principal: Principal = Depends(reader)) -> dict[str, Any]:
    """A citation as the page shows it: the chunk's text with the quote's span, and for a PDF
    the quote's rectangles on the rendered page."""
    request.state.audit["vector_store"] = vector_store_id
    kb, row = _document(ctx, principal, vector_store_id, file_id)
    chunk = kb.manifest.chunks_by_id([chunk_id]).get(chunk_id)
    if chunk is None or chunk[1].get("path") != row["path"]:
        raise not_found("chunk", chunk_id, "chunk_id")
    text, meta = chunk
    if quote_end > len(text) or quote_start > quote_end:
        raise bad_request(f"quote_start..quote_end must lie within the chunk's {len(text)} characters "
                          f"(got {quote_start}..{quote_end}).", "quote_end")
    quote = text[quote_start:quote_end]
    shown: dict[str, Any] = {"object": "page.citation", "file_id": file_id, "filename": row["filename"],
                             "vector_store_id": vector_store_id, "chunk_id": chunk_id, "page": meta.get("page"),
                             "section": meta.get("section") or "", "text": text, "quote": quote,
                             "quote_start": quote_start, "quote_end": quote_end, "kind": "text"}
    if _is_pdf(row) and meta.get("page"):
        try:
            local = await asyncio.to_thread(ctx.library.files.materialize, row["path"])
            found = await asyncio.to_thread(find_quote, local, int(meta["page"]), quote, text)
        except (PageError, ContentMissing, FileNotFoundError) as exc:
            if ctx.db.file(file_id) is None:  # deleted by another request meanwhile
                raise not_found("file", file_id, "file_id") from None
            raise ApiError(409, f"The cited page cannot be shown: {exc}.", code="page_unavailable") from None
        shown |= {"kind": "pdf", "pages": found.pages, "width": found.width, "height": found.height,
                  "rects": found.rects, "matched": found.matched,
                  "image": f"/page/render?vector_store_id={vector_store_id}&file_id={file_id}&page={found.page}"}
    return shown


@router.get("/page/render")
async def render(request: Request, vector_store_id: str, file_id: str, page: int = Query(ge=1),
                 ctx: ServerContext = Depends(context), principal: Principal = Depends(reader)) -> FileResponse:
    request.state.audit["vector_store"] = vector_store_id
    _, row = _document(ctx, principal, vector_store_id, file_id)
    if not _is_pdf(row):
        raise bad_request(f"File '{file_id}' is not a PDF: only PDF pages are rendered.", "file_id")
    cache = ctx.config.home / "page-cache"
    try:
        local = await asyncio.to_thread(ctx.library.files.materialize, row["path"])
        png = await asyncio.to_thread(rendered_page, local, row["sha256"], page, cache)
    except (ContentMissing, FileNotFoundError):  # FileNotFoundError: deleted while it was read
        raise content_gone(ctx, file_id) from None
    except PageError as exc:
        raise bad_request(f"{exc}.", "page") from None
    return FileResponse(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/page/feedback")
def feedback(body: Rating, request: Request, ctx: ServerContext = Depends(context),
             principal: Principal = Depends(reader)) -> dict[str, Any]:
    """Keep a rating; ``ragkit feedback export`` turns ratings into gold questions."""
    if body.vector_store_id:
        store_for(ctx, principal, body.vector_store_id, "vector_store_id")
        request.state.audit["vector_store"] = body.vector_store_id
    return FeedbackStore(ctx.config.server_dir).add(body, principal.id, principal.name)


class Followup(BaseModel):
    model_config = {"extra": "forbid", "strict": True}

    question: str = Field(min_length=1, max_length=4000)
    previous: str = Field(min_length=1, max_length=4000)
    passages: list[str] = Field(default_factory=list, max_length=20)


@router.post("/page/standalone")
def standalone(body: Followup, ctx: ServerContext = Depends(context),
               principal: Principal = Depends(reader)) -> dict[str, Any]:
    """The follow-up as a standalone question, from the previous turn's question and passages:
    condensed by the chat model when the server has one (as threads and Responses do), else
    rewritten offline."""
    from ragkit.conversations.rewrite import Context, rewrite

    passages = tuple(p[:20_000] for p in body.passages)
    notices: list[str] = []
    if ctx.settings.uses_chat_model:
        done, notices = _condensed(ctx, body.question, body.previous, passages)
    else:
        done = rewrite(body.question, Context(body.previous, passages))
    return {"object": "page.standalone", "query": done.query, "method": done.method, "changed": done.changed,
            "notices": notices}


def _condensed(ctx: ServerContext, question: str, previous: str, passages: tuple[str, ...]) -> tuple[Any, list[str]]:
    from ragkit.conversations.store import Message

    asked = Message(id=0, thread_id="", role="user", content=previous, created_at=0.0)
    answered = Message(id=0, thread_id="", role="assistant", content=passages[0] if passages else "",
                       created_at=0.0, sources=[{"text": p} for p in passages[1:]])
    return ctx.library.follow_up(question, [(asked, answered)])
