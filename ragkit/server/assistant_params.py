"""Request bodies of the Assistants API and the checks they share (tools, tool resources, model).

Tools are ``file_search`` (answered over the vector stores in ``tool_resources``; its
``max_num_results`` and ``ranking_options`` are checked as OpenAI defines them and applied by the
run) and ``function`` (the user's own functions: a run stops at ``requires_action`` when the model
calls one). ``code_interpreter`` and inline ``vector_stores`` are refused with a 400 that says so,
rather than silently ignored. ``response_format`` (an assistant's or a run's) is read in chat
completions' shape and kept in the form OpenAI returns it
(:func:`ragkit.server.structured.stored_format`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ragkit.library.item_fields import FUNCTION_FIELDS, check_object
from ragkit.server.auth import store_for
from ragkit.server.errors import ApiError, bad_request, from_validation, not_found, within
from ragkit.server.keys import Principal
from ragkit.server.meta import EXTRACTIVE, resolve_model
from ragkit.server.params import Body, check_metadata
from ragkit.server.state import ServerContext
from ragkit.server.structured import stored_format
from ragkit.state import assistants as adb

FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class AssistantBody(Body):
    model: str | None = None
    name: str | None = Field(None, max_length=256)
    description: str | None = Field(None, max_length=512)
    instructions: str | None = Field(None, max_length=256_000)
    tools: list[dict[str, Any]] | None = Field(None, max_length=128)
    tool_resources: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    response_format: Any = None
    reasoning_effort: str | None = None  # for OpenAI's reasoning models; accepted, not used

    _meta = field_validator("metadata")(check_metadata)
    _format = field_validator("response_format")(stored_format)


class MessageBody(Body):
    role: Literal["user", "assistant"] = "user"
    content: str | list[dict[str, Any]]
    attachments: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None

    _meta = field_validator("metadata")(check_metadata)


class ThreadBody(Body):
    messages: list[MessageBody] = Field(default_factory=list, max_length=32)
    tool_resources: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    _meta = field_validator("metadata")(check_metadata)


class MetadataBody(Body):
    metadata: dict[str, Any] | None = None
    tool_resources: dict[str, Any] | None = None

    _meta = field_validator("metadata")(check_metadata)


class TruncationStrategy(Body):
    """How much of the thread a run reads: ``auto`` (ragkit's last turns) or the ``last_messages``."""

    type: Literal["auto", "last_messages"] = "auto"
    last_messages: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _count(self) -> "TruncationStrategy":
        if self.type == "last_messages" and self.last_messages is None:
            raise ValueError("last_messages is required when type is 'last_messages'")
        return self


class RunBody(Body):
    assistant_id: str
    model: str | None = None
    instructions: str | None = None
    additional_instructions: str | None = None
    additional_messages: list[MessageBody] | None = None
    tools: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_prompt_tokens: int | None = Field(None, ge=256)
    max_completion_tokens: int | None = Field(None, ge=16)
    truncation_strategy: TruncationStrategy | None = None
    response_format: Any = None
    stream: bool = False
    # accepted as OpenAI accepts them; a run answers the same with or without them
    parallel_tool_calls: bool | None = None
    reasoning_effort: str | None = None
    tool_choice: str | dict[str, Any] | None = None

    _meta = field_validator("metadata")(check_metadata)
    _format = field_validator("response_format")(stored_format)


class ThreadAndRunBody(RunBody):
    thread: ThreadBody | None = None
    tool_resources: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _resources_for_thread(self) -> "ThreadAndRunBody":
        """``tool_resources`` beside ``thread`` are the new thread's: its vector stores are added
        to those the thread names, so the run searches them."""
        if not self.tool_resources:
            return self
        thread = self.thread or ThreadBody()
        own = thread.tool_resources or {}
        merged = self.tool_resources | own
        searches = [r.get("file_search") for r in (own, self.tool_resources)]
        if all(isinstance(s, dict) and isinstance(s.get("vector_store_ids"), list) for s in searches):
            ids = searches[0]["vector_store_ids"] + searches[1]["vector_store_ids"]
            merged["file_search"] = searches[0] | {"vector_store_ids": ids}  # checked, deduplicated later
        self.thread = thread.model_copy(update={"tool_resources": merged})
        return self


class ToolOutput(Body):
    tool_call_id: str
    output: str = ""


class ToolOutputsBody(Body):
    tool_outputs: list[ToolOutput] = Field(min_length=1)
    stream: bool = False


class Ranking(Body):
    """A file_search tool's ``ranking_options``: applied as in a vector store search."""
    ranker: Literal["auto", "default_2024_08_21"] = "auto"
    score_threshold: float = Field(ge=0, le=1)


class FileSearchOptions(Body):
    max_num_results: int | None = Field(None, ge=1, le=50)
    ranking_options: Ranking | None = None


def _file_search(raw: Any, *where: str | int) -> dict[str, Any]:
    """A file_search tool's overrides, checked; a 400 naming the field by its path in the body
    (``where`` is the path of the overrides: ``"tools", 0, "file_search"``) otherwise."""
    try:
        return FileSearchOptions.model_validate(raw or {}).model_dump(exclude_none=True)
    except ValidationError as exc:
        raise from_validation(within(exc.errors(), *where)) from None


def check_tools(tools: list[dict[str, Any]], param: str = "tools") -> list[dict[str, Any]]:
    """The tools in the shape they are stored and returned; a 400 naming the tool otherwise."""
    out, names = [], set()
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind == "file_search":
            out.append({"type": "file_search", "file_search": _file_search(tool.get("file_search"),
                                                                           param, i, "file_search")})
        elif kind == "function":
            function = check_object(tool.get("function") or {}, f"{param}[{i}].function", FUNCTION_FIELDS)
            name = function.get("name")
            if not isinstance(name, str) or not FUNCTION_NAME.match(name) or name == "file_search":
                raise bad_request("A function tool needs a name of 1-64 letters, digits, '_' or '-' (not "
                                  "'file_search').", f"{param}[{i}].function.name")
            if name in names:
                raise bad_request(f"Two function tools are named {name!r}.", f"{param}[{i}].function.name")
            names.add(name)
            parameters = function.get("parameters") or {"type": "object", "properties": {}}
            if not isinstance(parameters, dict):
                raise bad_request("function.parameters must be a JSON schema object.",
                                  f"{param}[{i}].function.parameters")
            out.append({"type": "function", "function": {"name": name, "description": function.get("description"),
                                                         "parameters": parameters,
                                                         "strict": function.get("strict")}})
        else:
            raise bad_request(f"Tool type {kind!r} is not supported: ragkit runs 'file_search' and 'function' tools.",
                              f"{param}[{i}].type")
    return out


def check_resources(ctx: ServerContext, principal: Principal, resources: dict[str, Any] | None,
                    param: str = "tool_resources") -> dict[str, Any]:
    """``tool_resources`` with every vector store checked against the key (404 for others')."""
    if not resources:
        return {}
    search = check_object(resources.get("file_search") or {}, f"{param}.file_search",
                          {"vector_store_ids": (list,), "vector_stores": (list,)})
    if search.get("vector_stores"):
        raise bad_request("Creating vector stores inline is not supported: create one with /v1/vector_stores "
                          "and pass its id in vector_store_ids.", f"{param}.file_search.vector_stores")
    ids = search.get("vector_store_ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request("vector_store_ids must be a list of ids.", f"{param}.file_search.vector_store_ids")
    for vs_id in ids:
        store_for(ctx, principal, vs_id, f"{param}.file_search.vector_store_ids")
    return {"file_search": {"vector_store_ids": list(dict.fromkeys(ids))}} if ids else {}


def store_ids(*resources: dict[str, Any] | None) -> list[str]:
    ids: list[str] = []
    for resource in resources:
        ids += ((resource or {}).get("file_search") or {}).get("vector_store_ids") or []
    return list(dict.fromkeys(ids))


def run_model(ctx: ServerContext, requested: str | None) -> tuple[str, str]:
    """(model, generator) for a run. An assistant names a model when it is created (the guides
    say ``gpt-4o``); a name this server does not serve means its default: the configured chat
    model, else the extractive answerer. The run reports the model that actually answered."""
    try:
        return resolve_model(ctx, requested)
    except ApiError:
        return resolve_model(ctx, ctx.chat_model or EXTRACTIVE)


def assistant_for(ctx: ServerContext, principal: Principal, assistant_id: str, param: str | None = None
                  ) -> dict[str, Any]:
    """The key's own assistant, or 404 (another key's assistant does not exist for this one)."""
    found = adb.owned(ctx.db, adb.ASSISTANTS, assistant_id, principal.id)
    if found is None:
        raise not_found("assistant", assistant_id, param)
    return found


def thread_for(ctx: ServerContext, principal: Principal, thread_id: str, param: str | None = None) -> dict[str, Any]:
    found = adb.owned(ctx.db, adb.THREADS, thread_id, principal.id)
    if found is None:
        raise not_found("thread", thread_id, param)
    return found
