"""The Responses event stream (``response.created`` ... ``response.completed``), as server-sent events.

Two producers: :func:`live` streams a grounded answer while it is written (the search call, then
the answer's text deltas; ``response.output_text.done`` and the final event carry the checked
text), and :func:`replay` sends a finished response item by item -- a response answered in one
piece (function tools, media) or a stored one (``GET /v1/responses/{id}?stream=true``, from
``starting_after`` on). The final event is ``response.completed``, ``response.incomplete`` (the
answer reached ``max_output_tokens``) or ``response.failed``. A refusal part (a structured
answer's: :mod:`ragkit.server.structured`) is sent as OpenAI sends one, with
``response.refusal.delta`` and ``response.refusal.done``; a structured answer's text part is
opened with its first delta, since until then the answer may turn out to be a refusal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse

from ragkit.library.answering import Grounded, audit_answer, stream
from ragkit.server.errors import ApiError
from ragkit.server.response_items import message, refusal_part, search_call

#: what a response in progress has not got yet
UNFINISHED = {"status": "in_progress", "output": [], "usage": None, "completed_at": None, "error": None,
              "incomplete_details": None}


def streaming(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def sse(seq: list[int], kind: str, **data: Any) -> str:
    seq[0] += 1
    return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': seq[0] - 1, **data})}\n\n"


def in_progress(done: dict[str, Any]) -> dict[str, Any]:
    """The response as it was before anything was produced (no ragkit extras yet)."""
    return {k: v for k, v in done.items() if k != "ragkit"} | UNFINISHED


def _replayed(done: dict[str, Any]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    async def events() -> AsyncIterator[tuple[str, dict[str, Any]]]:
        start = in_progress(done)
        yield "response.created", {"response": start}
        yield "response.in_progress", {"response": start}
        for index, item in enumerate(done["output"]):
            at = {"output_index": index, "item_id": item["id"]}
            yield "response.output_item.added", {"output_index": index, "item": _started(item)}
            if item["type"] == "function_call":
                yield "response.function_call_arguments.delta", {"delta": item["arguments"], **at}
                yield "response.function_call_arguments.done", {"arguments": item["arguments"], **at}
            elif item["type"] == "file_search_call":
                for step in ("in_progress", "searching", "completed"):
                    yield f"response.file_search_call.{step}", at
            elif item["type"] == "message":
                for part_index, part in enumerate(item["content"]):
                    ids = at | {"content_index": part_index}
                    if part["type"] == "refusal":
                        for kind, data in _refusal(part["refusal"]):
                            yield kind, data | ids
                        continue
                    yield "response.content_part.added", {"part": part | {"text": "", "annotations": []}, **ids}
                    yield "response.output_text.delta", {"delta": part["text"], "logprobs": [], **ids}
                    for i, note in enumerate(part["annotations"]):
                        yield "response.output_text.annotation.added", {"annotation_index": i, "annotation": note,
                                                                        **ids}
                    yield "response.output_text.done", {"text": part["text"], "logprobs": [], **ids}
                    yield "response.content_part.done", {"part": part, **ids}
            yield "response.output_item.done", {"output_index": index, "item": item}
        yield f"response.{done['status']}", {"response": done}

    return events()


def _refusal(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The events of a refusal part (without its place: output and content index, item id)."""
    return [("response.content_part.added", {"part": refusal_part("")}), ("response.refusal.delta", {"delta": text}),
            ("response.refusal.done", {"refusal": text}), ("response.content_part.done", {"part": refusal_part(text)})]


def _started(item: dict[str, Any]) -> dict[str, Any]:
    """An output item as ``response.output_item.added`` shows it, before its deltas: a message
    without content and a function call without arguments, as OpenAI sends them (clients that
    accumulate the stream, like the SDK's ``responses.stream()``, add the deltas to this item)."""
    empty = {"message": {"content": []}, "function_call": {"arguments": ""},
             "file_search_call": {"results": None}}.get(item["type"], {})
    return item | {"status": "in_progress"} | empty


async def replay(done: dict[str, Any], starting_after: int | None = None) -> AsyncIterator[str]:
    """A finished response as the Responses event stream, item by item; with ``starting_after``
    only the events after that sequence number (a client resuming a stream)."""
    seq = [0]
    async for kind, data in _replayed(done):
        event = sse(seq, kind, **data)
        if starting_after is None or seq[0] - 1 > starting_after:
            yield event


async def live(shape: Any, question: str, with_results: bool, run: Callable[..., Grounded],
               audit: dict[str, Any], keep: Callable[[dict[str, Any], Grounded], None]) -> AsyncIterator[str]:
    """A grounded answer streamed while it is written (``shape``: the response's
    :class:`ragkit.server.response_shape.Shape`)."""
    seq = [0]
    call = search_call(shape.call_id, [question], None, "in_progress", False)
    yield sse(seq, "response.created", response=shape.response("in_progress", []))
    yield sse(seq, "response.in_progress", response=shape.response("in_progress", []))
    yield sse(seq, "response.output_item.added", output_index=0, item=call)
    yield sse(seq, "response.file_search_call.in_progress", output_index=0, item_id=shape.call_id)
    yield sse(seq, "response.file_search_call.searching", output_index=0, item_id=shape.call_id)
    ids = {"output_index": 1, "item_id": shape.msg_id, "content_index": 0}
    empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    done_call: dict[str, Any] | None = None
    opened = False  # the text part (a structured answer's opens with its first delta: it may be a refusal)
    try:
        async for kind, payload in stream(lambda emit: run(lambda t: emit("token", t), lambda f: emit("found", f))):
            if kind == "found":
                done_call = shape.search_call([question], payload, with_results)
                yield sse(seq, "response.file_search_call.completed", output_index=0, item_id=shape.call_id)
                yield sse(seq, "response.output_item.done", output_index=0, item=done_call)
                yield sse(seq, "response.output_item.added", output_index=1,
                          item=message(shape.msg_id, "", [], ""))
                if shape.response_format is None:
                    yield sse(seq, "response.content_part.added", part=empty_part, **ids)
                    opened = True
            elif kind == "token" and payload:
                if not opened:
                    yield sse(seq, "response.content_part.added", part=empty_part, **ids)
                    opened = True
                yield sse(seq, "response.output_text.delta", delta=payload, logprobs=[], **ids)
            elif kind == "done":
                grounded: Grounded = payload
                item = shape.message(grounded)
                part = item["content"][0]
                if part["type"] == "refusal":
                    for event, data in _refusal(part["refusal"]):
                        yield sse(seq, event, **data, **ids)
                else:
                    if not opened:
                        yield sse(seq, "response.content_part.added", part=empty_part, **ids)
                    for i, note in enumerate(part["annotations"]):
                        yield sse(seq, "response.output_text.annotation.added", annotation_index=i, annotation=note,
                                  **ids)
                    yield sse(seq, "response.output_text.done", text=grounded.text, logprobs=[], **ids)
                    yield sse(seq, "response.content_part.done", part=part, **ids)
                yield sse(seq, "response.output_item.done", output_index=1, item=item)
                audit_answer(audit, grounded)
                done = shape.response(shape.status(grounded), [done_call, item], grounded)
                await asyncio.to_thread(keep, done, grounded)
                yield sse(seq, f"response.{done['status']}", response=done)
    except Exception as exc:  # noqa: BLE001 - the stream has started: report in-band, never a traceback
        error = stream_error(exc)
        audit["error"] = error["message"]
        yield sse(seq, "error", code=error["code"], message=error["message"], param=None)
        yield sse(seq, "response.failed", response=shape.response("failed", [], error=error))


def stream_error(exc: Exception) -> dict[str, Any]:
    from ragkit.errors import RagkitError
    from ragkit.server.errors import REQUEST_ID, from_ragkit, log

    if isinstance(exc, ApiError):
        return {"code": exc.code or exc.type, "message": exc.message}
    if isinstance(exc, RagkitError):
        mapped = from_ragkit(exc)
        return {"code": mapped.code or mapped.type, "message": mapped.message}
    log.error("error while streaming a response (request %s)", REQUEST_ID.get(), exc_info=exc)
    return {"code": "server_error", "message": "The server had an internal error while producing the response."}
