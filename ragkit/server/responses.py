"""``POST /v1/responses`` with the ``file_search`` tool: a grounded answer with file citations.

The output is what OpenAI returns for file search: a ``file_search_call`` item (its ``queries``;
its ``results`` when ``include`` asks for ``file_search_call.results``), then an assistant
message whose ``output_text`` carries one ``file_citation`` annotation per ``[n]`` marker
(``file_id``, ``filename``, ``index`` = position of the marker in the text). Beyond OpenAI's
fields each annotation has the ``page``, the exact ``quote`` and its offsets in the chunk, so a
reader can check the claim; ``response.ragkit`` says whether the answer was a refusal.

Follow-ups: with ``previous_response_id`` (the chain of stored responses) or ``conversation`` (its
message items) the question is rewritten into a standalone query from that history, as a chat
session does (:mod:`ragkit.library.history`); ``response.ragkit.search_query`` shows what was
searched. Every response is stored for its key (``store: false`` opts out), and a response with
``conversation`` appends its input and output items to the conversation.

``function`` tools hand the model's calls to the client and take their outputs back
(:mod:`ragkit.server.response_tools`).

``stream: true`` sends the Responses event stream (``response.created`` ...
``response.output_text.delta`` ... ``response.completed``). Deltas are the generator's raw text;
``response.output_text.done`` and ``response.completed`` carry the checked text (a citation to a
source that was not provided is removed there).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field, field_validator

from ragkit.library import filters as openai_filters
from ragkit.library.answering import Grounded, answer, audit_answer, stream
from ragkit.server.auth import reader, store_for
from ragkit.server.errors import ApiError, bad_request
from ragkit.library.history import Memory
from ragkit.server.keys import Principal
from ragkit.server.meta import resolve_model
from ragkit.server.params import Body, check_plain_text
from ragkit.server.response_items import annotations, message, search_call, usage_of
from ragkit.server.response_media import answer_with_media, input_media, refuse_offline
from ragkit.server.response_tools import (
    FunctionTool, ToolLoopFailed, function_tools, has_tool_items, parse_tool, run_tools, save,
)
from ragkit.server.shapes import json_response
from ragkit.server.state import ServerContext, context

router = APIRouter(tags=["responses"])
RESULTS = "file_search_call.results"


class FileSearchTool(Body):
    type: Literal["file_search"]
    vector_store_ids: list[str] = Field(min_length=1)
    max_num_results: int | None = Field(None, ge=1, le=50)
    filters: dict[str, Any] | None = None
    ranking_options: dict[str, Any] | None = None


class ResponsesBody(Body):
    model: str | None = None
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    include: list[str] = Field(default_factory=list)
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = Field(None, ge=16)
    metadata: dict[str, str] | None = None
    user: str | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    store: bool = True
    text: dict[str, Any] | None = None
    # The rest of OpenAI's parameters: accepted, and without effect on a grounded answer
    # (sampling, caching, routing, moderation and reasoning settings of OpenAI's own models).
    background: bool | None = None
    background_options: dict[str, Any] | None = None
    context_management: Any = None
    access_programs: Any = None
    image: Any = None
    max_tool_calls: int | None = Field(None, ge=1)
    moderation: Any = None
    parallel_tool_calls: bool | None = None
    prompt: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_options: Any = None
    prompt_cache_retention: str | None = None
    reasoning: dict[str, Any] | None = None
    safety_identifier: str | None = None
    service_tier: str | None = None
    stream_options: dict[str, Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    truncation: Literal["auto", "disabled"] | None = None

    @field_validator("text")
    @classmethod
    def _plain_text(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        check_plain_text((value or {}).get("format"))
        return value

    @field_validator("prompt")
    @classmethod
    def _no_stored_prompt(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """A stored prompt lives in OpenAI's dashboard: ignoring it would answer without the
        instructions it holds, so it is refused."""
        if value is not None:
            raise ValueError("stored prompts are not supported: send the instructions and input themselves")
        return value

    @property
    def conversation_id(self) -> str | None:
        if isinstance(self.conversation, dict):
            return str(self.conversation.get("id") or "") or None
        return self.conversation


def question_of(items: str | list[dict[str, Any]], param: str = "input") -> str:
    """The question: the input string, or the text of the last user message."""
    if isinstance(items, str):
        text = items
    else:
        text = ""
        for item in reversed(items):
            if item.get("role") != "user" or item.get("type", "message") != "message":
                continue
            content = item.get("content")
            if isinstance(content, str):
                text = content
            elif isinstance(content, list):
                text = " ".join(p.get("text", "") for p in content
                                if isinstance(p, dict) and p.get("type") in ("input_text", "text"))
            break
    if not text.strip():
        raise bad_request("input must be a non-empty string or include a user message with text", param)
    return text.strip()


def _tools(ctx: ServerContext, body: ResponsesBody, required: bool = True) -> list[FileSearchTool]:
    """The ``file_search`` tools (``function`` tools are :mod:`ragkit.server.response_tools`'),
    or the server's default store; without either, a grounded answer has nothing to search."""
    tools = []
    for i, raw in enumerate(body.tools):
        if raw.get("type") == "function":
            continue
        if raw.get("type") != "file_search":
            raise bad_request(f"Tool type {raw.get('type')!r} is not supported: ragkit offers file_search "
                              "over its vector stores and your own function tools.", f"tools[{i}].type")
        tools.append(parse_tool(FileSearchTool, raw, i))
    if not tools and ctx.config.default_vector_store:
        tools.append(FileSearchTool(type="file_search", vector_store_ids=[ctx.config.default_vector_store]))
    if not tools and required:
        raise bad_request("Add a file_search tool with vector_store_ids: ragkit answers from vector stores.", "tools")
    return tools


class Shape:
    """The parts of one response that do not change while it is produced."""

    def __init__(self, body: ResponsesBody, model: str, tools: list[FileSearchTool],
                 functions: Sequence[FunctionTool] = ()) -> None:
        self.id = "resp_" + secrets.token_hex(16)
        self.call_id = "fs_" + secrets.token_hex(16)
        self.msg_id = "msg_" + secrets.token_hex(16)
        self.created = int(time.time())
        self.body = body
        self.model = model
        self.tools = [t.model_dump(exclude_none=True) for t in tools] + [f.model_dump() for f in functions]

    def response(self, status: str, output: list[dict[str, Any]], grounded: Grounded | None = None,
                 error: dict[str, Any] | None = None) -> dict[str, Any]:
        b = self.body
        out = {"id": self.id, "object": "response", "created_at": self.created, "status": status, "error": error,
               "incomplete_details": None, "instructions": b.instructions, "max_output_tokens": b.max_output_tokens,
               "model": self.model, "output": output, "parallel_tool_calls": b.parallel_tool_calls is not False,
               "previous_response_id": b.previous_response_id, "reasoning": None, "store": b.store, "temperature": b.temperature, "text": {"format": {"type": "text"}},
               "tool_choice": b.tool_choice or "auto", "tools": self.tools, "top_p": b.top_p, "truncation": "disabled",
               "usage": usage_of(grounded) if grounded else None, "user": b.user, "metadata": b.metadata or {},
               "background": False, "completed_at": int(time.time()) if status == "completed" else None,
               "conversation": {"id": b.conversation_id} if b.conversation_id else None}
        if grounded is not None:
            out["ragkit"] = {"refused": grounded.refused, "generator": grounded.generator,
                             "warnings": grounded.warnings, "cached": grounded.cached, "citations": grounded.cited(),
                             "search_query": grounded.question}
        return out


@router.post("/v1/responses", response_model=None)
async def create_response(body: ResponsesBody, request: Request, ctx: ServerContext = Depends(context),
                          principal: Principal = Depends(reader)) -> Response:
    audit = request.state.audit
    model, generator = resolve_model(ctx, body.model)
    media = input_media(body.input)
    if media and generator != "openai":
        refuse_offline(media)
    functions = function_tools(body.tools)
    if functions or has_tool_items(body.input):
        return await _with_functions(ctx, principal, body, audit, model, generator, functions)
    question = question_of(body.input)
    memory = await asyncio.to_thread(Memory.open, ctx.library, principal.id, body, question)
    tools = _tools(ctx, body)
    stores = [store_for(ctx, principal, vs_id, "tools.vector_store_ids") for t in tools for vs_id in t.vector_store_ids]
    node = openai_filters.parse(tools[0].filters, "tools.filters") if len(tools) == 1 else None
    k = tools[0].max_num_results or ctx.settings.top_k
    audit.update({"vector_store": [s["id"] for s in stores], "question": question})
    shape = Shape(body, model, tools)
    with_results = RESULTS in body.include
    if media:
        return await _with_media(ctx, principal.id, body, shape, memory, stores, k, audit)

    def run(on_token=None, on_retrieved=None) -> Grounded:
        grounded = answer(ctx.library, stores, memory.query, k=k, node=node, model=model, generator=generator,
                          instructions=body.instructions, on_token=on_token, on_retrieved=on_retrieved,
                          max_tokens=body.max_output_tokens)
        grounded.warnings.extend(memory.notices)
        return grounded

    if body.stream:
        return StreamingResponse(_events(shape, memory.query, with_results, run, audit, memory.keep),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    grounded = await asyncio.to_thread(run)
    audit_answer(audit, grounded)
    for store in stores:
        await asyncio.to_thread(ctx.db.touch_store, store["id"])
    output = [search_call(shape.call_id, [memory.query], grounded.found, "completed", with_results),
              message(shape.msg_id, grounded.text, annotations(grounded), "completed")]
    done = shape.response("completed", output, grounded)
    await asyncio.to_thread(memory.keep, done, grounded)
    return json_response(done)


async def _with_media(ctx: ServerContext, owner: str, body: ResponsesBody, shape: Shape, memory: Memory,
                      stores: list[dict[str, Any]], k: int, audit: dict[str, Any]) -> Response:
    """Images and files in ``input``: the chat model reads them (:mod:`ragkit.server.response_media`)."""
    grounded = await asyncio.to_thread(answer_with_media, ctx, owner, body, model=shape.model,
                                       query=memory.query, stores=stores, k=k)
    if grounded is None:
        done = shape.response("failed", [], error={"code": "server_error",
                                                   "message": "The chat model ended without an answer."})
    else:
        grounded.warnings.extend(memory.notices)
        audit_answer(audit, grounded)
        output = [search_call(shape.call_id, [memory.query], grounded.found, "completed", RESULTS in body.include),
                  message(shape.msg_id, grounded.text, annotations(grounded), "completed")]
        done = shape.response("completed", output, grounded)
        await asyncio.to_thread(memory.keep, done, grounded)
    if body.stream:
        return StreamingResponse(_replay(shape, done), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return json_response(done)


async def _with_functions(ctx: ServerContext, principal: Principal, body: ResponsesBody, audit: dict[str, Any],
                          model: str, generator: str, functions: list[FunctionTool]) -> Response:
    """The function-tool loop (:mod:`ragkit.server.response_tools`); streamed, its items are sent
    as events once the round is over."""
    if generator != "openai":
        raise bad_request("Function tools (and function call outputs) need a chat model: ragkit's offline "
                          "answerer quotes the documents and cannot call functions. Start ragkit serve with a model (RAGKIT_MODEL, and "
                          "RAGKIT_BASE_URL for a local server), or use file_search alone.", "tools")
    tools = _tools(ctx, body, required=False)
    stores = [store_for(ctx, principal, vs_id, "tools.vector_store_ids") for t in tools for vs_id in t.vector_store_ids]
    k = (tools[0].max_num_results if tools else None) or ctx.settings.top_k
    shape = Shape(body, model, tools, functions)
    try:
        turn = await asyncio.to_thread(run_tools, ctx, principal.id, body, model, stores, k, functions,
                                       RESULTS in body.include)
    except ToolLoopFailed as exc:
        audit["error"] = str(exc)
        done = shape.response("failed", [], error={"code": "server_error", "message": str(exc)})
    else:
        audit.update({"vector_store": [s["id"] for s in stores], "question": turn.question,
                      "function_calls": [i["name"] for i in turn.output if i["type"] == "function_call"]})
        if turn.grounded is not None:
            audit_answer(audit, turn.grounded)
        done = shape.response("completed", turn.output, turn.grounded)
        await asyncio.to_thread(save, ctx, principal.id, done, turn, body)
    if body.stream:
        return StreamingResponse(_replay(shape, done), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return json_response(done)


async def _replay(shape: Shape, done: dict[str, Any]) -> AsyncIterator[str]:
    """A finished response as the Responses event stream, item by item."""
    seq = [0]
    yield _sse(seq, "response.created", response=shape.response("in_progress", []))
    yield _sse(seq, "response.in_progress", response=shape.response("in_progress", []))
    for index, item in enumerate(done["output"]):
        at = {"output_index": index, "item_id": item["id"]}
        yield _sse(seq, "response.output_item.added", output_index=index, item=item | {"status": "in_progress"})
        if item["type"] == "function_call":
            yield _sse(seq, "response.function_call_arguments.delta", delta=item["arguments"], **at)
            yield _sse(seq, "response.function_call_arguments.done", arguments=item["arguments"], **at)
        elif item["type"] == "message":
            part = item["content"][0]
            ids = at | {"content_index": 0}
            yield _sse(seq, "response.content_part.added", part=part | {"text": "", "annotations": []}, **ids)
            yield _sse(seq, "response.output_text.delta", delta=part["text"], logprobs=[], **ids)
            for i, note in enumerate(part["annotations"]):
                yield _sse(seq, "response.output_text.annotation.added", annotation_index=i, annotation=note, **ids)
            yield _sse(seq, "response.output_text.done", text=part["text"], logprobs=[], **ids)
            yield _sse(seq, "response.content_part.done", part=part, **ids)
        yield _sse(seq, "response.output_item.done", output_index=index, item=item)
    yield _sse(seq, f"response.{done['status']}", response=done)


def _sse(seq: list[int], kind: str, **data: Any) -> str:
    seq[0] += 1
    return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': seq[0] - 1, **data})}\n\n"


async def _events(shape: Shape, question: str, with_results: bool, run, audit: dict[str, Any],
                  keep: Callable[[dict[str, Any], Grounded], None]) -> AsyncIterator[str]:
    seq = [0]
    call = search_call(shape.call_id, [question], None, "in_progress", False)
    yield _sse(seq, "response.created", response=shape.response("in_progress", []))
    yield _sse(seq, "response.in_progress", response=shape.response("in_progress", []))
    yield _sse(seq, "response.output_item.added", output_index=0, item=call)
    yield _sse(seq, "response.file_search_call.in_progress", output_index=0, item_id=shape.call_id)
    yield _sse(seq, "response.file_search_call.searching", output_index=0, item_id=shape.call_id)
    ids = {"output_index": 1, "item_id": shape.msg_id, "content_index": 0}
    empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    done_call: dict[str, Any] | None = None
    try:
        async for kind, payload in stream(lambda emit: run(lambda t: emit("token", t), lambda f: emit("found", f))):
            if kind == "found":
                done_call = search_call(shape.call_id, [question], payload, "completed", with_results)
                yield _sse(seq, "response.file_search_call.completed", output_index=0, item_id=shape.call_id)
                yield _sse(seq, "response.output_item.done", output_index=0, item=done_call)
                yield _sse(seq, "response.output_item.added", output_index=1,
                           item=message(shape.msg_id, "", [], ""))
                yield _sse(seq, "response.content_part.added", part=empty_part, **ids)
            elif kind == "token" and payload:
                yield _sse(seq, "response.output_text.delta", delta=payload, logprobs=[], **ids)
            elif kind == "done":
                grounded: Grounded = payload
                notes = annotations(grounded)
                for i, note in enumerate(notes):
                    yield _sse(seq, "response.output_text.annotation.added", annotation_index=i, annotation=note, **ids)
                yield _sse(seq, "response.output_text.done", text=grounded.text, logprobs=[], **ids)
                part = {"type": "output_text", "text": grounded.text, "annotations": notes, "logprobs": []}
                yield _sse(seq, "response.content_part.done", part=part, **ids)
                item = message(shape.msg_id, grounded.text, notes, "completed")
                yield _sse(seq, "response.output_item.done", output_index=1, item=item)
                audit_answer(audit, grounded)
                done = shape.response("completed", [done_call, item], grounded)
                await asyncio.to_thread(keep, done, grounded)
                yield _sse(seq, "response.completed", response=done)
    except Exception as exc:  # noqa: BLE001 - the stream has started: report in-band, never a traceback
        error = _stream_error(exc)
        audit["error"] = error["message"]
        yield _sse(seq, "error", code=error["code"], message=error["message"], param=None)
        yield _sse(seq, "response.failed", response=shape.response("failed", [], error=error))


def _stream_error(exc: Exception) -> dict[str, Any]:
    from ragkit.errors import RagkitError
    from ragkit.server.errors import from_ragkit, log

    if isinstance(exc, ApiError):
        return {"code": exc.code or exc.type, "message": exc.message}
    if isinstance(exc, RagkitError):
        mapped = from_ragkit(exc)
        return {"code": mapped.code or mapped.type, "message": mapped.message}
    log.error("error while streaming a response", exc_info=exc)
    return {"code": "server_error", "message": "The server had an internal error while producing the response."}
