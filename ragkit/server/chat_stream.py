"""Chat completions as the chunk stream OpenAI sends (``stream: true``).

Two sources: a grounded answer, whose text is streamed as it is generated and whose last chunk
carries the checked ``citations`` in its delta and again in the chunk's ``ragkit`` field, which
clients such as LiteLLM keep while they drop a delta's unknown fields (a structured answer's JSON
is streamed the same way; its refusal comes as a ``refusal`` delta, as OpenAI streams one:
:mod:`ragkit.server.structured`);
and a turn of the tool loop (:mod:`ragkit.server.chat_tools`), sent once the turn is over -- its
answer as content, or its calls to the caller's functions as ``tool_calls`` deltas the way
OpenAI streams them (the first delta of a call has its ``index``, ``id``, ``type`` and name, the
next ones the arguments), then ``finish_reason: tool_calls``.
``stream_options.include_usage`` adds the usage chunk before ``[DONE]``; an error after the
stream has started is sent in-band, never as a traceback.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ragkit.library.answering import Grounded, audit_answer, stream
from ragkit.server.chat_tools import ToolTurn
from ragkit.server.responses import _stream_error
from ragkit.server.structured import sources
from ragkit.server.url_citations import url_citations


def usage_of(usage: dict[str, int]) -> dict[str, int]:
    return {"prompt_tokens": usage.get("prompt_tokens", 0), "completion_tokens": usage.get("completion_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0)}


def finish_reason(grounded: Grounded) -> str:
    """``length`` when the answer was cut at the request's token cap, else ``stop``."""
    return "length" if grounded.incomplete else "stop"


def meta_of(grounded: Grounded, notices: list[str] | None = None) -> dict[str, Any]:
    """ragkit's facts about an answer, beside OpenAI's fields."""
    return {"refused": grounded.refused, "generator": grounded.generator,
            "warnings": [*grounded.warnings, *(notices or [])], "cached": grounded.cached,
            "search_query": grounded.question}


class Chunks:
    """The chunks of one completion: their fixed fields, written once."""

    def __init__(self, completion_id: str, model: str, include_usage: bool, files_url: str) -> None:
        self.id, self.model, self.include_usage = completion_id, model, include_usage
        self.created = int(time.time())
        #: where the answer's ``url_citation`` annotations point (:mod:`ragkit.server.url_citations`)
        self.files_url = files_url

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        if self.include_usage:
            data.setdefault("usage", None)
        return f"data: {json.dumps(data)}\n\n"

    def usage(self, usage: dict[str, int]) -> str:
        data = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "system_fingerprint": None, "choices": [], "usage": usage_of(usage)}
        return f"data: {json.dumps(data)}\n\n"


def _error(exc: Exception, audit: dict[str, Any]) -> str:
    error = _stream_error(exc)
    audit["error"] = error["message"]
    body = {"error": {"message": error["message"], "type": "server_error", "param": None, "code": error["code"]}}
    return f"data: {json.dumps(body)}\n\n"


async def grounded_chunks(chunks: Chunks, run: Callable[..., Grounded], audit: dict[str, Any],
                          notices: list[str], structured: bool = False) -> AsyncIterator[str]:
    """A grounded answer, its text streamed as it is generated (``structured``: JSON in a
    response format, whose refusal is a ``refusal`` delta and whose passages are listed)."""
    yield chunks.chunk({"role": "assistant", "content": ""})
    try:
        async for kind, payload in stream(lambda emit: run(lambda t: emit("token", t))):
            if kind == "token" and payload:
                yield chunks.chunk({"content": payload})
            elif kind == "done":
                grounded: Grounded = payload
                audit_answer(audit, grounded)
                cited = grounded.cited()
                meta = meta_of(grounded, notices) | {"text": grounded.text, "citations": cited}
                if structured:
                    meta["sources"] = sources(grounded)
                    if grounded.refused:
                        yield chunks.chunk({"refusal": grounded.text})
                notes = [] if structured else url_citations(grounded.text, cited, chunks.files_url)
                yield chunks.chunk({"citations": cited, "annotations": notes}, finish_reason(grounded), ragkit=meta)
                if chunks.include_usage:
                    yield chunks.usage(grounded.usage)
    except Exception as exc:  # noqa: BLE001 - the stream has started: report in-band
        yield _error(exc, audit)
    yield "data: [DONE]\n\n"


async def tool_chunks(chunks: Chunks, run: Callable[[], ToolTurn], audit: dict[str, Any],
                      notices: list[str]) -> AsyncIterator[str]:
    """A turn of the tool loop, sent when it is over."""
    yield chunks.chunk({"role": "assistant", "content": None})
    try:
        async for kind, payload in stream(lambda emit: run()):
            if kind != "done":
                continue
            turn: ToolTurn = payload
            message = turn.message(chunks.files_url)
            if turn.grounded is not None:
                audit_answer(audit, turn.grounded)
                meta = meta_of(turn.grounded, notices) | {"text": turn.grounded.text, "citations": message["citations"]}
                if turn.structured:
                    meta["sources"] = sources(turn.grounded)
                if message.get("refusal"):
                    yield chunks.chunk({"refusal": message["refusal"]})
                elif turn.grounded.text:
                    yield chunks.chunk({"content": turn.grounded.text})
                yield chunks.chunk({"citations": message["citations"], "annotations": message["annotations"]},
                                   turn.finish_reason, ragkit=meta)
            else:
                audit["function_calls"] = [c["function"]["name"] for c in message["tool_calls"]]
                for index, call in enumerate(message["tool_calls"]):
                    yield chunks.chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                                        "function": {"name": call["function"]["name"],
                                                                     "arguments": ""}}]})
                    yield chunks.chunk({"tool_calls": [{"index": index,
                                                        "function": {"arguments": call["function"]["arguments"]}}]})
                yield chunks.chunk({}, "tool_calls", ragkit=message["ragkit"])
            if chunks.include_usage:
                yield chunks.usage(turn.result.usage)
    except Exception as exc:  # noqa: BLE001 - the stream has started: report in-band
        yield _error(exc, audit)
    yield "data: [DONE]\n\n"
