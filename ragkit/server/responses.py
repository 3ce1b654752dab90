"""``POST /v1/responses`` with the ``file_search`` tool: a grounded answer with file citations.

The output is what OpenAI returns for file search: a ``file_search_call`` item (its ``queries``;
its ``results`` when ``include`` asks for ``file_search_call.results``), then an assistant
message whose ``output_text`` carries one ``file_citation`` annotation per ``[n]`` marker
(``file_id``, ``filename``, ``index`` = position of the marker in the text). Beyond OpenAI's
fields each annotation has the ``page``, the exact ``quote`` and its offsets in the chunk, so a
reader can check the claim; ``response.ragkit`` says whether the answer was a refusal.

Follow-ups: with ``previous_response_id`` (the chain of stored responses) or ``conversation`` (its
message items), then the earlier messages of an ``input`` array, the question is rewritten into a
standalone query from that history, as a chat session and chat completions do
(:mod:`ragkit.library.history`); an ``item_reference`` in ``input`` stands for the stored item it
names (:mod:`ragkit.server.response_refs`); ``response.ragkit.search_query`` and the ``file_search_call``'s
``queries`` show what was searched. Every response is stored for its key (``store: false`` opts
out), and a response with ``conversation`` appends its input and output items to the conversation.

A ``file_search`` tool's ``max_num_results`` and ``ranking_options`` act as in a vector store
search: ``score_threshold`` drops passages scored below it (on the calibrated score that search
reports), ``hybrid_search`` weights the dense and keyword sides; the options used are echoed in
``tools`` and on the ``file_search_call``. ``max_output_tokens`` cuts the answer at that many
cl100k tokens (:mod:`ragkit.library.output_limit`): the response is then ``incomplete``
(``incomplete_details.reason: max_output_tokens``) and keeps only the citations still in its text.
``include`` takes OpenAI's values (``file_search_call.results`` adds the passages); another is a 400.

``function`` tools hand the model's calls to the client and take their outputs back
(:mod:`ragkit.server.response_tools`); ``tool_choice: "none"`` calls no tool, file_search included:
the chat model answers in that loop without searching (offline it is a 400). A request that names
no store is answered by the chat model in that loop too, with nothing to search (offline a 400).

``text.format`` ``json_schema`` or ``json_object`` has the chat model answer in that format from
the same passages (:mod:`ragkit.server.structured`: no annotations, a refusal as a ``refusal``
content part; offline a 400). ``stream: true`` sends the Responses event stream
(:mod:`ragkit.server.response_events`).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field, field_validator

from ragkit.library import filters as openai_filters
from ragkit.library.answering import Grounded, answer, audit_answer
from ragkit.library.history import Memory
from ragkit.library.item_fields import check_items
from ragkit.library.output_limit import StreamLimit, capped
from ragkit.server.auth import reader, store_for
from ragkit.server.errors import bad_request
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.meta import resolve_model
from ragkit.server.params import Body, ResponseStreamOptions, check_metadata
from ragkit.server.response_events import live, replay, streaming
from ragkit.server.response_events import stream_error as _stream_error  # noqa: F401 - chat and runs stream with it
from ragkit.server.response_media import answer_with_media, input_media, refuse_offline
from ragkit.server.response_refs import resolve
from ragkit.server.response_shape import FileSearchTool, Shape
from ragkit.server.response_tools import (
    FunctionTool, ToolLoopFailed, function_tools, has_tool_items, parse_tool, run_tools, save,
)
from ragkit.server.shapes import json_response
from ragkit.server.state import ServerContext, context
from ragkit.server.structured import check_format, requested
from ragkit.server.tool_calls import calls_no_tools, check_tool_choice

router = APIRouter(route_class=JsonRoute, tags=["responses"])
RESULTS = "file_search_call.results"
#: OpenAI's ``include`` values; of these only ``file_search_call.results`` adds anything here
INCLUDABLE = (RESULTS, "web_search_call.results", "web_search_call.action.sources", "message.input_image.image_url",
              "computer_call_output.output.image_url", "code_interpreter_call.outputs",
              "reasoning.encrypted_content")
#: asks for what a grounded answer has not got (token log probabilities): a 400 that says so
LOGPROBS = "message.output_text.logprobs"


class TextOptions(Body):
    """``text``: the answer's ``format`` and ``verbosity``, OpenAI's two fields. Another key is the
    unknown-parameter 400 (AutoGen's ``OpenAIAgent(json_mode=True)`` sends ``text.type``, which
    OpenAI refuses too), never a silent plain-text answer to a client that asked for JSON."""

    format: Any = None
    verbosity: Literal["low", "medium", "high"] | None = None  # accepted; a grounded answer's length is its own


class ResponsesBody(Body):
    model: str | None = None
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    include: list[str] = Field(default_factory=list)
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_output_tokens: int | None = Field(None, ge=16)
    metadata: dict[str, str] | None = None
    user: str | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    store: bool = True
    text: TextOptions | None = None
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
    stream_options: ResponseStreamOptions | None = None
    tool_choice: str | dict[str, Any] | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    truncation: Literal["auto", "disabled"] | None = None  # echoed; history is always the last turns

    _meta = field_validator("metadata")(check_metadata)

    @field_validator("text")
    @classmethod
    def _format(cls, value: TextOptions | None) -> TextOptions | None:
        """A format's shape; whether it can be served is the route's (it needs a chat model)."""
        check_format(value.format if value else None, flat=True)
        return value

    @field_validator("prompt")
    @classmethod
    def _no_stored_prompt(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """A stored prompt lives in OpenAI's dashboard: ignoring it would answer without the
        instructions it holds, so it is refused."""
        if value is not None:
            raise ValueError("stored prompts are not supported: send the instructions and input themselves")
        return value

    @field_validator("top_logprobs")
    @classmethod
    def _no_logprobs(cls, value: int | None) -> int | None:
        """Asked for, token log probabilities would come back empty: refused instead."""
        if value:
            raise ValueError("not supported: a grounded answer has no token log probabilities (it is quoted or "
                             "checked against the documents); leave it out")
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


def check_include(include: list[str]) -> None:
    for i, value in enumerate(include):
        if value == LOGPROBS:
            raise bad_request(f"include[{i}] {LOGPROBS!r} is not supported: a grounded answer has no token log "
                              "probabilities (it is quoted or checked against the documents); leave it out.",
                              f"include[{i}]", "invalid_value")
        if value not in INCLUDABLE:
            allowed = ", ".join(repr(v) for v in INCLUDABLE)
            raise bad_request(f"Invalid value for 'include[{i}]': {value!r}. Supported values are: {allowed}.",
                              f"include[{i}]", "invalid_value")


def filters_of(tools: list[FileSearchTool]) -> openai_filters.Filter | None:
    """The attribute filter every search of the request keeps to (a single tool's ``filters``)."""
    return openai_filters.parse(tools[0].filters, "tools[0].filters") if len(tools) == 1 else None


def _tools(ctx: ServerContext, body: ResponsesBody, required: bool = True) -> list[FileSearchTool]:
    """The ``file_search`` tools (``function`` tools are :mod:`ragkit.server.response_tools`'),
    or the server's default store; without either, a grounded answer has nothing to search."""
    tools, places = [], []
    for i, raw in enumerate(body.tools):
        if raw.get("type") == "function":
            continue
        if raw.get("type") != "file_search":
            raise bad_request(f"Tool type {raw.get('type')!r} is not supported: ragkit offers file_search "
                              "over its vector stores and your own function tools.", f"tools[{i}].type")
        tools.append(parse_tool(FileSearchTool, raw, i))
        places.append(i)
    for tool, i in zip(tools if len(tools) > 1 else [], places):
        for name in ("filters", "max_num_results", "ranking_options"):
            if name in tool.model_fields_set:  # one search serves every tool: its options would be lost
                raise bad_request(f"With several file_search tools, {name} cannot be given: list every vector "
                                  f"store in one file_search tool's vector_store_ids and give {name} there.",
                                  f"tools[{i}].{name}")
    if not tools and ctx.config.default_vector_store:
        tools.append(FileSearchTool(type="file_search", vector_store_ids=[ctx.config.default_vector_store]))
    if not tools and required:
        raise bad_request("Add a file_search tool with vector_store_ids: ragkit answers from vector stores.", "tools")
    return tools


@router.post("/v1/responses", response_model=None)
async def create_response(body: ResponsesBody, request: Request, ctx: ServerContext = Depends(context),
                          principal: Principal = Depends(reader)) -> Response:
    audit = request.state.audit
    check_include(body.include)
    check_items(body.input, "input")
    body.input = await asyncio.to_thread(resolve, ctx.db, principal.id, body.input)
    model, generator = resolve_model(ctx, body.model)
    response_format = requested(body.text.format if body.text else None, "text", generator, flat=True)
    media = input_media(body.input)
    if media and generator != "openai":
        refuse_offline(media)
    functions = function_tools(body.tools)
    check_tool_choice(body.tool_choice, [f.name for f in functions],
                      any(t.get("type") == "file_search" for t in body.tools) or bool(ctx.config.default_vector_store))
    if (functions or has_tool_items(body.input) or calls_no_tools(body.tool_choice, generator)
            or _over_no_store(ctx, body, generator)):
        return await _with_functions(ctx, principal, body, audit, model, generator, functions, response_format)
    question = question_of(body.input)
    memory = await asyncio.to_thread(Memory.open, ctx.library, principal.id, body, question)
    tools = _tools(ctx, body)
    stores = [store_for(ctx, principal, vs_id, "tools.vector_store_ids") for t in tools for vs_id in t.vector_store_ids]
    node = filters_of(tools)
    k = tools[0].max_num_results or ctx.settings.top_k
    audit.update({"vector_store": [s["id"] for s in stores], "question": question})
    shape = Shape(body, model, tools, response_format=response_format)
    with_results = RESULTS in body.include
    if media:
        return await _with_media(ctx, principal.id, body, shape, memory, stores, tools, k, audit)

    limit = body.max_output_tokens
    retrieval = shape.retrieval()

    def run(on_token=None, on_retrieved=None) -> Grounded:
        sink = StreamLimit(limit, on_token) if on_token and limit else on_token
        grounded = answer(ctx.library, stores, memory.query, k=k, node=node, model=model, generator=generator,
                          instructions=body.instructions, on_token=sink, on_retrieved=on_retrieved,
                          max_tokens=limit, response_format=response_format, **retrieval)
        grounded = capped(grounded, limit)
        grounded.warnings.extend(memory.notices)
        return grounded

    if body.stream:
        return streaming(live(shape, memory.query, with_results, run, audit, memory.keep))
    grounded = await asyncio.to_thread(run)
    audit_answer(audit, grounded)
    for store in stores:
        await asyncio.to_thread(ctx.db.touch_store, store["id"])
    done = _answered(shape, memory.query, grounded, with_results)
    await asyncio.to_thread(memory.keep, done, grounded)
    return json_response(done)


def _over_no_store(ctx: ServerContext, body: ResponsesBody, generator: str) -> bool:
    """Whether a chat model answers a request that names no store (no ``file_search`` tool, no
    server default): as chat completions without a store, and as OpenAI answers a request
    without tools (an Agents SDK guardrail agent's). Offline there is nothing to answer from, and
    such a request stays the 400 that asks for a store."""
    return (generator == "openai" and not ctx.config.default_vector_store
            and not any(tool.get("type") == "file_search" for tool in body.tools))


def _answered(shape: Shape, query: str, grounded: Grounded, with_results: bool) -> dict[str, Any]:
    """The finished response: the search call, then the answer (``incomplete`` when it was cut)."""
    status = shape.status(grounded)
    output = [shape.search_call([query], grounded.found, with_results),
              shape.message(grounded)]
    return shape.response(status, output, grounded)


async def _with_media(ctx: ServerContext, owner: str, body: ResponsesBody, shape: Shape, memory: Memory,
                      stores: list[dict[str, Any]], tools: list[FileSearchTool], k: int,
                      audit: dict[str, Any]) -> Response:
    """Images and files in ``input``: the chat model reads them (:mod:`ragkit.server.response_media`)."""
    grounded = await asyncio.to_thread(answer_with_media, ctx, owner, body, model=shape.model,
                                       query=memory.query, stores=stores, k=k, node=filters_of(tools),
                                       retrieval=shape.retrieval(), response_format=shape.response_format)
    if grounded is None:
        done = shape.response("failed", [], error={"code": "server_error",
                                                   "message": "The chat model ended without an answer."})
    else:
        grounded = capped(grounded, body.max_output_tokens)
        grounded.warnings.extend(memory.notices)
        audit_answer(audit, grounded)
        done = _answered(shape, memory.query, grounded, RESULTS in body.include)
        await asyncio.to_thread(memory.keep, done, grounded)
    return streaming(replay(done)) if body.stream else json_response(done)


async def _with_functions(ctx: ServerContext, principal: Principal, body: ResponsesBody, audit: dict[str, Any],
                          model: str, generator: str, functions: list[FunctionTool],
                          response_format: dict[str, Any] | None = None) -> Response:
    """The function-tool loop (:mod:`ragkit.server.response_tools`); streamed, its items are sent
    as events once the round is over."""
    if generator != "openai":
        raise bad_request("Function tools (and function call outputs) need a chat model: ragkit's offline "
                          "answerer quotes the documents and cannot call functions. Start ragkit serve with a model (RAGKIT_MODEL, and "
                          "RAGKIT_BASE_URL for a local server), or use file_search alone.", "tools")
    tools = _tools(ctx, body, required=False)
    stores = [store_for(ctx, principal, vs_id, "tools.vector_store_ids") for t in tools for vs_id in t.vector_store_ids]
    k = (tools[0].max_num_results if tools else None) or ctx.settings.top_k
    shape = Shape(body, model, tools, functions, response_format=response_format)
    try:
        turn = await asyncio.to_thread(run_tools, ctx, principal.id, body, model, stores, k, functions,
                                       RESULTS in body.include, shape.retrieval(), shape.ranking.used(),
                                       filters_of(tools), response_id=shape.id, response_format=response_format)
    except ToolLoopFailed as exc:
        audit["error"] = str(exc)
        done = shape.response("failed", [], error={"code": "server_error", "message": str(exc)})
    else:
        audit.update({"vector_store": [s["id"] for s in stores], "question": turn.question,
                      "function_calls": [i["name"] for i in turn.output if i["type"] == "function_call"]})
        if turn.grounded is not None:
            audit_answer(audit, turn.grounded)
        done = shape.response(shape.status(turn.grounded), turn.output, turn.grounded, usage=turn.usage)
        await asyncio.to_thread(save, ctx, principal.id, done, turn, body)
    return streaming(replay(done)) if body.stream else json_response(done)
