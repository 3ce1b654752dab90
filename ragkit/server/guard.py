"""The ASGI layer around every request: body limits, the request timeout and the audit record.

* Body limits: a declared ``Content-Length`` over the limit is refused before anything is read;
  a body streamed without one is counted as it arrives and cut off at the limit. Uploads
  (``POST /v1/files``) may be ``max_upload_bytes`` (plus room for the multipart envelope), the
  parts of an Upload (``POST /v1/uploads/{id}/parts``) 64 MB or that if smaller; every other
  body ``max_json_bytes``. All answer 413.
* Timeout: a request that has not started its response after ``request_timeout`` seconds is
  answered 504 (a stream that has started is not cut: its client is already reading).
* Audit: routes add what they know (store, question, hits, answer...) to ``request.state.audit``;
  when the last byte of the response is sent, one line is written with the status and latency.
* Request id: every response, error or stream, starts with OpenAI's ``x-request-id`` header
  (``req_`` and 32 hex digits); the audit record and the log lines about the request hold the
  same id (``request.state.request_id``, and :data:`~ragkit.server.errors.REQUEST_ID` while it runs).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragkit.server.errors import REQUEST_ID, REQUEST_ID_HEADER, ApiError, new_request_id, too_large
from ragkit.server.uploads import PART_LIMIT
from ragkit.server.state import ServerContext

log = logging.getLogger("ragkit.server")
MULTIPART_ROOM = 1024 * 1024


class RequestGuard:
    def __init__(self, app: ASGIApp, ctx: ServerContext) -> None:
        self.app = app
        self.ctx = ctx

    def _limit(self, scope: Scope) -> int:
        config = self.ctx.config
        path = scope["path"].rstrip("/")
        if scope["method"] == "POST" and path == "/v1/files":
            return config.max_upload_bytes + MULTIPART_ROOM
        if scope["method"] == "POST" and path.startswith("/v1/uploads/") and path.endswith("/parts"):
            return min(config.max_upload_bytes, PART_LIMIT) + MULTIPART_ROOM
        return config.max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        audit: dict[str, Any] = {}
        request_id = new_request_id()
        scope.setdefault("state", {}).update(audit=audit, request_id=request_id)
        REQUEST_ID.set(request_id)
        outcome = {"status": 500, "started": False, "logged": False}
        limit = self._limit(scope)

        def finish() -> None:
            if outcome["logged"] or scope["path"] == "/health":
                return
            outcome["logged"] = True
            record = {"key": audit.pop("key", None), "method": scope["method"], "endpoint": scope["path"],
                      "status": outcome["status"], "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                      "request_id": request_id}
            try:
                self.ctx.audit.write(record | audit)
            except OSError:
                log.exception("could not write the audit log")

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                outcome["started"] = True
                # which worker process answered (--workers N): for operators and tests
                worker = (b"x-ragkit-worker", str(os.getpid()).encode())
                named = (REQUEST_ID_HEADER.encode(), request_id.encode())
                message = {**message, "headers": [*message.get("headers", []), worker, named]}
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finish()

        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            shown = limit - MULTIPART_ROOM if limit > self.ctx.config.max_json_bytes else limit
            await _send_error(send_logged, too_large(shown))
            return

        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    shown = limit - MULTIPART_ROOM if limit > self.ctx.config.max_json_bytes else limit
                    raise HTTPException(413, f"Request body too large: the limit is {shown} bytes.")
            return message

        # The deadline holds until the response starts (a started stream is not cut). The app runs
        # in this task, not in one of its own that would have to be scheduled and waited for.
        deadline = asyncio.timeout(self.ctx.config.request_timeout)

        async def send_watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                deadline.reschedule(None)
            await send_logged(message)

        try:
            async with deadline:
                await self.app(scope, receive_limited, send_watched)
        except TimeoutError:
            if not deadline.expired() or outcome["started"]:
                raise  # not the deadline's
            audit["error"] = "request timed out"
            await _send_error(send_logged, ApiError(
                504, f"The request took longer than {self.ctx.config.request_timeout:g} s and was stopped.",
                type="server_error", code="timeout"))
        finally:
            finish()


async def _send_error(send: Send, error: ApiError) -> None:
    body = json.dumps(error.body()).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
