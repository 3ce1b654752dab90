"""``POST /v1/chat/completions``: grounded answers for clients that only speak chat completions.

With vector stores (``extra_body={"vector_store_ids": [...]}``, optionally ``filters`` and
``max_num_results``; or the server's ``--default-vector-store``) the request is a conversation:
the last user message is the question (also when an assistant message follows it, a conversation
OpenAI continues too: offline the question is answered again, a chat model gets the whole
conversation; given the caller's functions, a chat model answers one with no user message too,
searching as it needs), made standalone from the earlier user/assistant messages by the
condenser threads and Responses use (the chat model when one is configured, else the offline
rewrite; ``ragkit.search_query`` shows what was searched); system/developer messages are the
operator's instructions. The answer cites its sources as ``[n]`` in the text plus a
structured ``citations`` list on the message (file id, name, page, exact quote). ``stream:
true`` streams the text; ``stream_options.include_usage`` adds the usage chunk before ``[DONE]``.
``max_completion_tokens`` (or ``max_tokens``) cuts the answer at that many cl100k tokens, its
citations with it, and ends it with ``finish_reason: "length"`` (:mod:`ragkit.library.output_limit`,
the cut Responses' ``max_output_tokens`` makes); ``stop`` ends it before the first stop sequence.
Completions are answered, not kept: ``store: true`` is a 400 naming ``store``. What a grounded
answer cannot give is a 400 naming the field (:func:`_refuse_unserved`): more than one choice
(``n``), ``logprobs``, audio output, web search. ``response_format`` ``json_schema`` or
``json_object`` has the chat model answer in that format from the same passages
(:mod:`ragkit.server.structured`: no citations, a refusal as ``message.refusal``, the passages
in ``ragkit.sources``; offline a 400).

With a chat model, the caller's function tools (every ``tool_choice``, ``parallel_tool_calls``),
tool results and content parts that are not text (``image_url``, ``input_audio``, ``file``) go
through the tool loop beside ``file_search`` (:mod:`ragkit.server.chat_tools`); without one they
are a 400 that says a chat model is needed.

Without a store the request is proxied to the configured upstream model unchanged, streamed or
not (400 when no upstream model is configured). Endpoints ragkit does not serve answer in
OpenAI's error shape (:mod:`ragkit.server.unserved`).
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
from pydantic import Field, ValidationError, field_validator, model_validator
from starlette.concurrency import iterate_in_threadpool

from ragkit.answer import FILE_SEARCH
from ragkit.conversations.messages import MediaPart, content_text, conversation_turns, media_parts
from ragkit.conversations.session import HISTORY_TURNS
from ragkit.library.item_fields import check_messages
from ragkit.library import filters as openai_filters
from ragkit.server import unserved
from ragkit.library.answering import Grounded, answer, audit_answer
from ragkit.library.output_limit import StreamLimit, StreamStop, capped, stopped
from ragkit.server.auth import reader, store_for
from ragkit.server.chat_stream import Chunks, finish_reason, grounded_chunks, meta_of, tool_chunks, usage_of
from ragkit.server.chat_tools import ToolTurn, answer_message, caller_functions, run_chat_tools, tool_choice_for
from ragkit.server.tool_calls import forces_function
from ragkit.server.errors import ApiError, bad_request, from_validation
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.meta import EXTRACTIVE, resolve_model
from ragkit.server.params import Body, ChatStreamOptions, check_metadata, refuse_unknown
from ragkit.server.shapes import json_response
from ragkit.server.state import ServerContext, context
from ragkit.server.structured import chat_message, requested, sources

router = APIRouter(route_class=JsonRoute, tags=["chat"])
router.include_router(unserved.router)
RAGKIT_KEYS = ("vector_store_ids", "filters", "max_num_results")
#: the roles a chat message may have (OpenAI's)
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class ChatBody(Body):
    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: ChatStreamOptions | None = None
    n: int = Field(1, ge=1)
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

    _meta = field_validator("metadata")(check_metadata)

    _unknown = model_validator(mode="wrap")(refuse_unknown)


def _parse(raw: Any) -> ChatBody:
    if not isinstance(raw, dict):
        raise bad_request("The request body is not a JSON object: send a JSON object (Content-Type: "
                          "application/json).")
    try:
        body = ChatBody.model_validate(raw)
    except ValidationError as exc:
        raise from_validation(exc.errors()) from None
    for i, message in enumerate(body.messages):
        role = message.get("role")
        if role is None:
            raise bad_request(f"Missing required parameter: 'messages[{i}].role'.", f"messages[{i}].role",
                              "missing_required_parameter")
        if role not in ROLES:
            raise bad_request(f"Invalid value for 'messages[{i}].role': {role!r}. Supported values are: "
                              f"{', '.join(repr(r) for r in ROLES)}.", f"messages[{i}].role", "invalid_value")
    check_messages(body.messages)
    if body.store:
        raise bad_request("ragkit does not store chat completions, so store=true cannot be honoured: leave store "
                          "out (or false), or use the Responses API, which keeps responses (POST /v1/responses "
                          "with store: true, then GET /v1/responses/{id}).", "store", "invalid_value")
    return body


def _refuse_unserved(body: ChatBody) -> None:
    """Options asking for what a grounded answer over stores does not have: a 400 naming each,
    rather than an answer that silently lacks it (a proxied request keeps them all)."""
    if body.n > 1:
        raise bad_request(f"n={body.n} is not supported over vector stores: ragkit gives one grounded answer "
                          "per request (n=1); send the request again for another.", "n", "invalid_value")
    if body.logprobs or body.top_logprobs:
        param = "logprobs" if body.logprobs else "top_logprobs"
        raise bad_request(f"{param} is not supported over vector stores: a grounded answer has no token "
                          "log probabilities (it is quoted or checked against the documents); leave it out.",
                          param, "invalid_value")
    if body.audio is not None or "audio" in (body.modalities or []):
        raise bad_request("Audio output is not supported: ragkit answers in text. Leave out audio and the "
                          "'audio' modality.", "audio" if body.audio is not None else "modalities", "invalid_value")
    if body.web_search_options is not None:
        raise bad_request("web_search_options is not supported: ragkit answers from the named vector stores, "
                          "not from the web; leave it out.", "web_search_options", "invalid_value")


def _needs_chat_model(body: ChatBody, functions: list[dict[str, Any]], media: list[MediaPart]) -> None:
    """Functions and media parts are the chat model's to read: offline they are a 400 that says so."""
    if functions or any(m.get("role") == "tool" or m.get("tool_calls") for m in body.messages):
        param = "tools" if body.tools else "functions" if body.functions else "messages"
        raise bad_request(f"Function tools (and tool messages) need a chat model: {EXTRACTIVE} quotes the "
                          "documents and cannot call functions. Start ragkit serve with a model (RAGKIT_MODEL, "
                          "and RAGKIT_BASE_URL for a local server), or leave tools out.", param)
    if media:
        part = media[0]
        raise bad_request(f"{part.where} is an {part.kind!r} part: reading it needs a vision-capable chat model "
                          f"(start ragkit serve with one: RAGKIT_MODEL, RAGKIT_BASE_URL); {EXTRACTIVE} reads "
                          "text only. Send the question as text parts.", part.where)


def _ending(messages: list[dict[str, Any]], media: bool, model_searches: bool) -> str:
    """The role the conversation ends with: a user message with text (or a part the chat model
    reads) asks the question; tool messages answer the assistant's calls; an assistant message
    after a question is a conversation OpenAI continues too (LangGraph's ``create_react_agent``
    sends its whole chat, its last answer included, to have that answer restated in a
    ``response_format``), and its question is the last user message's. When the chat model picks
    its own searches (``model_searches``) nothing needs searching first, so an assistant message
    alone will do, as OpenAI and ragkit's Responses with functions take it: LlamaIndex.TS sends an
    agent's answer by itself with a function to restate it through (its structured output)."""
    last = messages[-1].get("role")
    asked = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    question = asked is not None and (media or bool(content_text(asked.get("content")).strip()))
    if last == "tool" or (last in ("user", "assistant") and question) or (last == "assistant" and model_searches):
        return str(last)
    raise bad_request("messages must end with a user message with text, the tool messages that answer the "
                      "assistant's tool calls, or an assistant message after a user message with text", "messages")


def _standalone(ctx: ServerContext, messages: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The last question made standalone from the earlier turns of the request, as a thread's
    follow-up is (the chat model when configured, else the offline rewrite)."""

    question, pairs = conversation_turns(messages)
    if not question:  # no user message: the chat model picks its searches (see _ending)
        return "", []
    made, notices = ctx.library.follow_up(question, pairs[-HISTORY_TURNS:])
    return made.query, notices


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request, ctx: ServerContext = Depends(context),
                           principal: Principal = Depends(reader)) -> Any:
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise from_validation([{"type": "json_invalid", "loc": ("body", getattr(exc, "pos", 0)),
                                "ctx": {"error": getattr(exc, "msg", str(exc))}}]) from None
    body = _parse(raw)
    audit = request.state.audit
    model, generator = resolve_model(ctx, body.model)
    vs_ids = body.vector_store_ids or ([ctx.config.default_vector_store] if ctx.config.default_vector_store else [])
    if not vs_ids:
        if generator == "extractive":
            raise bad_request(f"{EXTRACTIVE} answers from documents: name vector stores in the "
                              "\"vector_store_ids\" field of the request body (the openai Python SDK: "
                              "extra_body={'vector_store_ids': [...]}), or start ragkit serve with "
                              "--default-vector-store.", "vector_store_ids")
        audit["proxied"] = True
        return await _proxy(ctx, {k: v for k, v in raw.items() if k not in RAGKIT_KEYS} | {"model": model})
    _refuse_unserved(body)
    if body.stream_options is not None and not body.stream:
        raise bad_request("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                          "stream_options", "invalid_value")
    # a proxied request keeps its response_format: the upstream model answers it
    output_format = requested(raw.get("response_format"), "response_format", generator)
    functions = caller_functions(body.tools, body.functions)
    media = media_parts(body.messages)
    if generator != "openai":
        _needs_chat_model(body, functions, media)
    stores = [store_for(ctx, principal, vs_id, "vector_store_ids") for vs_id in vs_ids]
    choice = tool_choice_for(body.tool_choice, body.function_call, [FILE_SEARCH, *(f["name"] for f in functions)])
    forced = forces_function(choice)
    # a chat model offered the caller's functions, none of them forced, picks its own searches
    last = _ending(body.messages, bool(media), generator == "openai" and bool(functions) and choice != "none"
                   and not forced)
    node = openai_filters.parse(body.filters)
    k = body.max_num_results or ctx.settings.top_k
    instructions = "\n".join(content_text(m.get("content")) for m in body.messages
                             if m.get("role") in ("system", "developer")).strip() or None
    max_tokens = body.max_completion_tokens or body.max_tokens
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    chunks = Chunks(completion_id, model, bool(body.stream_options and body.stream_options.include_usage),
                    str(request.base_url).rstrip("/") + "/v1/files")
    # offline, a conversation ending with an answer is asked its last question again
    tool_turn = (functions and choice != "none") or (last != "user" and generator == "openai") or media
    # the question searched: made standalone from the earlier turns (none when a tool result goes on,
    # unless the model must call a named function again, and so could not search: see forces_function)
    query, notices = (await asyncio.to_thread(_standalone, ctx, body.messages) if last != "tool" or forced
                      else ("", []))
    audit.update({"vector_store": vs_ids, "question": query or content_text(body.messages[-1].get("content"))})
    if tool_turn:
        def run_tools() -> ToolTurn:
            turn = run_chat_tools(ctx, body.messages, model=model, stores=stores, k=k, functions=functions,
                                  tool_choice=choice, instructions=instructions,
                                  query=query if not functions or choice == "none" or forced else None,
                                  temperature=body.temperature, max_tokens=max_tokens,
                                  parallel_tool_calls=body.parallel_tool_calls, node=node,
                                  response_format=output_format, owner=principal.id)
            if turn.grounded is not None:
                turn.grounded = capped(stopped(turn.grounded, stops), max_tokens)
            return turn

        if body.stream:
            return _streaming(tool_chunks(chunks, run_tools, audit, notices))
        turn = await asyncio.to_thread(run_tools)
        message = turn.message(chunks.files_url)
        if turn.grounded is not None:
            audit_answer(audit, turn.grounded)
        else:
            audit["function_calls"] = [c["function"]["name"] for c in message["tool_calls"]]
        extra = {"ragkit": meta_of(turn.grounded, notices)} if turn.grounded is not None else {}
        if turn.grounded is not None and turn.structured:
            extra["ragkit"]["sources"] = sources(turn.grounded)
        return _completion(completion_id, model, message, turn.finish_reason, turn.result.usage, extra)

    def run(on_token=None) -> Grounded:
        # the answer ends at the caller's limit (finish_reason "length") or before a stop sequence,
        # streamed or not
        sink = StreamLimit(max_tokens, on_token) if on_token and max_tokens else on_token
        halt = StreamStop(stops, sink) if sink and stops else None
        grounded = answer(ctx.library, stores, query, k=k, node=node, model=model, generator=generator,
                          instructions=instructions, on_token=halt or sink, max_tokens=max_tokens,
                          response_format=output_format)
        if halt is not None:
            halt.flush()
        return capped(stopped(grounded, stops), max_tokens)

    if body.stream:
        return _streaming(grounded_chunks(chunks, run, audit, notices, structured=output_format is not None))
    grounded = await asyncio.to_thread(run)
    audit_answer(audit, grounded)
    message = answer_message(grounded, chunks.files_url)
    meta = meta_of(grounded, notices)
    if output_format is not None:
        message, meta = chat_message(grounded), meta | {"sources": sources(grounded)}
    return _completion(completion_id, model, message, finish_reason(grounded), grounded.usage, {"ragkit": meta})


def _streaming(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _completion(completion_id: str, model: str, message: dict[str, Any], finish: str, usage: dict[str, int],
                extra: dict[str, Any]) -> Response:
    return json_response({
        "id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage_of(usage), "system_fingerprint": None, "service_tier": None, **extra})


async def _proxy(ctx: ServerContext, payload: dict[str, Any]) -> Response:
    """Forward a chat completion to the upstream model as it is, and its answer back as it is."""
    import openai

    if ctx.chat_model is None:
        raise bad_request("No vector store named and no upstream chat model configured (set OPENAI_API_KEY or "
                          "base_url), so there is nothing to answer with.", "vector_store_ids")
    client = ctx.library.upstream()
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
