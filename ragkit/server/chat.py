"""``POST /v1/chat/completions``: grounded answers for clients that only speak chat completions.

With vector stores (``extra_body={"vector_store_ids": [...]}``, optionally ``filters`` and
``max_num_results``; or the server's ``--default-vector-store``) the last user message is the
question, system/developer messages are the operator's instructions, and the answer cites its
sources as ``[n]`` in the text plus a structured ``citations`` list on the message (file id,
name, page, exact quote). ``stream: true`` streams the text; ``stream_options.include_usage``
adds the usage chunk before ``[DONE]``.

Without a store the request is proxied to the configured upstream model unchanged, streamed or
not (400 when no upstream model is configured).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field, ValidationError, model_validator
from starlette.concurrency import iterate_in_threadpool

from ragkit.server import filters as openai_filters
from ragkit.server.answering import Grounded, answer, audit_answer, stream
from ragkit.server.auth import reader, store_for
from ragkit.server.errors import ApiError, bad_request
from ragkit.server.keys import Principal
from ragkit.server.meta import EXTRACTIVE, resolve_model
from ragkit.server.params import Body, check_plain_text, refuse_unknown
from ragkit.server.responses import _stream_error
from ragkit.server.shapes import json_response
from ragkit.server.state import ServerContext, context

router = APIRouter(tags=["chat"])
RAGKIT_KEYS = ("vector_store_ids", "filters", "max_num_results")


class ChatBody(Body):
    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = Field(1, ge=1, le=1)
    vector_store_ids: list[str] | None = None
    filters: dict[str, Any] | None = None
    max_num_results: int | None = Field(None, ge=1, le=50)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    # The rest of OpenAI's parameters: passed on unchanged when proxied; over vector stores they
    # do not change the grounded answer (response_format is checked by the route).
    audio: Any = None
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    function_call: Any = None
    functions: list[dict[str, Any]] | None = None
    logit_bias: dict[str, Any] | None = None
    logprobs: bool | None = None
    metadata: dict[str, Any] | None = None
    modalities: list[str] | None = None
    moderation: Any = None
    parallel_tool_calls: bool | None = None
    prediction: Any = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    prompt_cache_key: str | None = None
    prompt_cache_options: Any = None
    prompt_cache_retention: str | None = None
    reasoning_effort: str | None = None
    response_format: Any = None
    safety_identifier: str | None = None
    seed: int | None = None
    service_tier: str | None = None
    stop: str | list[str] | None = None
    store: bool | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    tool_choice: str | dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    top_p: float | None = Field(None, ge=0, le=1)
    user: str | None = None
    verbosity: str | None = None
    web_search_options: dict[str, Any] | None = None

    _unknown = model_validator(mode="wrap")(refuse_unknown)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def question_and_instructions(messages: list[dict[str, Any]]) -> tuple[str, str | None]:
    users = [m for m in messages if m.get("role") == "user"]
    if not users or not _text(users[-1].get("content")).strip():
        raise bad_request("messages must include a user message with text", "messages")
    system = "\n".join(_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    return _text(users[-1]["content"]).strip(), system.strip() or None


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request, ctx: ServerContext = Depends(context),
                           principal: Principal = Depends(reader)) -> Any:
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("The body is not valid JSON.") from None
    if not isinstance(raw, dict):
        raise bad_request("The body must be a JSON object.")
    try:
        body = ChatBody.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise bad_request(f"Invalid value for '{param}': {first['msg']}.", param) from None
    audit = request.state.audit
    model, generator = resolve_model(ctx, body.model)
    vs_ids = body.vector_store_ids or ([ctx.config.default_vector_store] if ctx.config.default_vector_store else [])
    if not vs_ids:
        if generator == "extractive":
            raise bad_request(f"{EXTRACTIVE} answers from documents: name vector stores in "
                              "extra_body={'vector_store_ids': [...]}", "vector_store_ids")
        audit["proxied"] = True
        return await _proxy(ctx, {k: v for k, v in raw.items() if k not in RAGKIT_KEYS} | {"model": model})
    try:  # a proxied request keeps its response_format: the upstream model answers it
        check_plain_text(raw.get("response_format"))
    except ValueError as exc:
        raise bad_request(f"Invalid value for 'response_format': {exc}.", "response_format") from None
    stores = [store_for(ctx, principal, vs_id, "vector_store_ids") for vs_id in vs_ids]
    question, instructions = question_and_instructions(body.messages)
    node = openai_filters.parse(body.filters)
    audit.update({"vector_store": vs_ids, "question": question})
    k = body.max_num_results or ctx.settings.top_k

    def run(on_token=None) -> Grounded:
        return answer(ctx, stores, question, k=k, node=node, model=model, generator=generator,
                      instructions=instructions, on_token=on_token,
                      max_tokens=body.max_completion_tokens or body.max_tokens)

    completion_id = "chatcmpl-" + secrets.token_hex(12)
    if body.stream:
        usage = bool((body.stream_options or {}).get("include_usage"))
        return StreamingResponse(_chunks(completion_id, model, usage, run, audit), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    grounded = await asyncio.to_thread(run)
    audit_answer(audit, grounded)
    message = {"role": "assistant", "content": grounded.text, "refusal": None, "annotations": [],
               "citations": grounded.cited()}
    return json_response({
        "id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
        "usage": _usage(grounded), "system_fingerprint": None, "service_tier": None, "ragkit": _meta(grounded)})


def _usage(grounded: Grounded) -> dict[str, int]:
    u = grounded.usage
    return {"prompt_tokens": u.get("prompt_tokens", 0), "completion_tokens": u.get("completion_tokens", 0),
            "total_tokens": u.get("total_tokens", 0)}


def _meta(grounded: Grounded) -> dict[str, Any]:
    return {"refused": grounded.refused, "generator": grounded.generator, "warnings": grounded.warnings,
            "cached": grounded.cached}


async def _chunks(completion_id: str, model: str, include_usage: bool, run, audit: dict[str, Any]) -> AsyncIterator[str]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        if include_usage:
            data.setdefault("usage", None)
        return f"data: {json.dumps(data)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for kind, payload in stream(lambda emit: run(lambda t: emit("token", t))):
            if kind == "token" and payload:
                yield chunk({"content": payload})
            elif kind == "done":
                grounded: Grounded = payload
                audit_answer(audit, grounded)
                yield chunk({"citations": grounded.cited()}, "stop", ragkit=_meta(grounded) | {"text": grounded.text})
                if include_usage:
                    data = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                            "model": model, "system_fingerprint": None, "choices": [], "usage": _usage(grounded)}
                    yield f"data: {json.dumps(data)}\n\n"
    except Exception as exc:  # noqa: BLE001 - the stream has started: report in-band
        error = _stream_error(exc)
        audit["error"] = error["message"]
        yield f"data: {json.dumps({'error': {'message': error['message'], 'type': 'server_error', 'param': None, 'code': error['code']}})}\n\n"
    yield "data: [DONE]\n\n"


async def _proxy(ctx: ServerContext, payload: dict[str, Any]) -> Response:
    """Forward a chat completion to the upstream model as it is, and its answer back as it is."""
    import openai

    from ragkit.llm import make_client

    if ctx.chat_model is None:
        raise bad_request("No vector store named and no upstream chat model configured (set OPENAI_API_KEY or "
                          "base_url), so there is nothing to answer with.", "vector_store_ids")
    client = ctx.registry.upstream(make_client)
    rest = {k: v for k, v in payload.items() if k not in ("model", "messages")}
    try:
        if payload.get("stream"):
            manager = client.chat.completions.with_streaming_response.create(
                model=payload["model"], messages=payload["messages"], extra_body=rest)
            upstream = await asyncio.to_thread(manager.__enter__)

            async def relay() -> AsyncIterator[bytes]:
                try:
                    async for block in iterate_in_threadpool(upstream.iter_bytes()):
                        yield block
                finally:
                    await asyncio.to_thread(manager.__exit__, None, None, None)

            return StreamingResponse(relay(), status_code=upstream.status_code,
                                     media_type=upstream.headers.get("content-type", "text/event-stream"))
        raw = await asyncio.to_thread(client.chat.completions.with_raw_response.create,
                                      model=payload["model"], messages=payload["messages"], extra_body=rest)
        return Response(raw.content, status_code=raw.status_code,
                        media_type=raw.headers.get("content-type", "application/json"))
    except openai.APIStatusError as exc:
        return Response(exc.response.content, status_code=exc.status_code,
                        media_type=exc.response.headers.get("content-type", "application/json"))
    except openai.APIConnectionError:
        raise ApiError(502, "The upstream chat model could not be reached.", type="upstream_error") from None
