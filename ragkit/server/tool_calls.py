"""The tool loop (:func:`ragkit.answer.run_tool_loop`) over a request's vector stores, shared by
Assistants runs (:mod:`ragkit.server.run_engine`) and ``/v1/responses`` with function tools
(:mod:`ragkit.server.response_tools`).

Here only what is the server's: ``file_search`` searches the request's stores and keeps each
passage's file identity (vector store, file id, name, attributes) as its origin, and the loop's
answer becomes a :class:`Grounded` whose ``[n]`` point at those files.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from ragkit.answer import FILE_SEARCH, LoopResult, LoopState, Tool, ToolCall, file_search_tool, last_user_text
from ragkit.answer.loop import replay_call
from ragkit.models import SearchHit
from ragkit.library.answering import Grounded
from ragkit.library.filters import Filter
from ragkit.library.retrieval import Found, retrieve
from ragkit.server.errors import bad_request
from ragkit.server.state import ServerContext


def offered_tools(ctx: ServerContext, stores: list[dict[str, Any]], k: int, functions: list[dict[str, Any]],
                  score_threshold: float | None = None, alpha: float | None = None,
                  node: Filter | None = None) -> list[Tool]:
    """``file_search`` over ``stores`` (when there are any; ``score_threshold``, ``alpha`` and the
    attribute filter ``node`` as in a vector store search), then the caller's ``functions``
    (chat-completions definitions: ``name``, ``parameters``, ``description``)."""

    def search(query: str) -> tuple[list[SearchHit], list[dict[str, Any]]]:
        found = retrieve(ctx.library, stores, [query], k, node, score_threshold=score_threshold, alpha=alpha).found
        return [f.hit for f in found], [{"vector_store_id": f.vector_store_id, "file_id": f.file_id,
                                         "filename": f.filename, "attributes": f.attributes} for f in found]

    return ([file_search_tool(search)] if stores else []) + [Tool.caller_function(f) for f in functions]


def forces_function(choice: str | dict[str, Any]) -> bool:
    """Whether ``tool_choice`` names one of the caller's functions. The model must then call it at
    once (how instructor and other structured-output libraries ask for a shape), so it cannot call
    ``file_search`` first: the question is searched for it, or the function's arguments would come
    from the model's own knowledge. The stores are named for the whole request, not offered as a
    tool the caller may rule out, so this is not the caller choosing an ungrounded call."""
    return isinstance(choice, dict) and choice.get("type") == "function" and choice["function"]["name"] != FILE_SEARCH


def search_first(state: LoopState, tools: Sequence[Tool], query: str) -> ToolCall:
    """Search ``query`` before the model is asked, as if it had called file_search itself (its
    call and tool message join the chat); the call, to report (a Responses ``file_search_call``)
    or send back with the message (chat completions' ``ragkit.searches``) so a resumed request
    keeps its passages."""
    call_id = "call_" + secrets.token_hex(12)
    arguments = json.dumps({"query": query})
    state.messages.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": FILE_SEARCH, "arguments": arguments}}]})
    return replay_call(state, tools, call_id, FILE_SEARCH, arguments)


def _found(hit: SearchHit, origin: dict[str, Any]) -> Found:
    return Found(hit, origin["vector_store_id"], origin["file_id"], origin["filename"], origin.get("attributes", {}))


def searched(call: ToolCall) -> list[Found] | None:
    """The files a ``file_search`` call found; None for any other call, or one that failed."""
    if call.name != FILE_SEARCH or not call.ok:
        return None
    return [_found(hit, origin) for hit, origin in zip(call.hits, call.origins)]


def grounded_of(result: LoopResult, model: str, usage: dict[str, int]) -> Grounded:
    """The loop's answer as a :class:`Grounded`: source ``[n]`` is the n-th passage the tools returned."""
    passages = result.passages
    return Grounded(question=last_user_text(result.state.messages), text=result.text, refused=result.refused,
                    citations=result.citations,
                    found=[_found(hit, origin) for hit, origin in zip(passages.hits, passages.origins)],
                    generator="openai-tools", model=model, usage=dict(usage), warnings=result.warnings)


def check_tool_choice(choice: Any, functions: Sequence[str], file_search: bool, *, assistants: bool = False) -> None:
    """A 400 naming ``tool_choice`` unless it is one the request can honour: ``auto``, ``none``,
    ``required``, ``file_search`` (when searching is offered), a function among ``functions``
    (Responses write ``{"type": "function", "name"}``, Assistants ``{"function": {"name"}}``) or,
    in Responses, ``allowed_tools``. A misspelt or unknown choice is never silently answered as
    ``auto``."""
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise bad_request(f"Invalid value for 'tool_choice': {choice!r}. Supported values are: 'auto', "
                              "'none', 'required', or an object naming a tool.", "tool_choice", "invalid_value")
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "file_search":
        if not file_search:
            raise bad_request("tool_choice names file_search, which is not in tools.", "tool_choice.type")
        return
    if kind == "function":
        name = (choice.get("function") or {}).get("name") if assistants else choice.get("name")
        where = "tool_choice.function.name" if assistants else "tool_choice.name"
        if name is None:
            raise bad_request("A tool_choice of type function names the function to call.", where,
                              "missing_required_parameter")
        if name not in functions:
            raise bad_request(f"tool_choice names the function {name!r}, which is not in tools "
                              f"({', '.join(functions) or 'no functions'}).", where)
        return
    if kind == "allowed_tools" and not assistants:
        if choice.get("mode") not in ("auto", "required") or not isinstance(choice.get("tools"), list):
            raise bad_request("tool_choice of type allowed_tools needs mode 'auto' or 'required' and a list "
                              "of tools.", "tool_choice")
        return
    offered = "file_search and function" if assistants else "file_search, function and allowed_tools"
    raise bad_request(f"Invalid value for 'tool_choice': type {kind!r} is not supported (ragkit offers "
                      f"{offered} choices, or 'auto', 'none', 'required').",
                      "tool_choice.type" if kind is not None else "tool_choice", "invalid_value")


def chat_tool_choice(choice: str | dict[str, Any] | None) -> str | dict[str, Any]:
    """An Assistants or Responses ``tool_choice`` as chat completions writes it: "auto", "none",
    "required", or one named function (``file_search`` is a function to the model)."""
    if isinstance(choice, str):
        return choice
    if not isinstance(choice, dict):
        return "auto"
    name = FILE_SEARCH if choice.get("type") == "file_search" else (
        choice.get("name") or (choice.get("function") or {}).get("name"))
    return {"type": "function", "function": {"name": name}} if name else "auto"


def calls_no_tools(choice: Any, generator: str) -> bool:
    """Whether a Responses ``tool_choice`` of ``"none"`` rules out the ``file_search`` call a
    grounded answer starts with: the chat model then answers with no tool called (the tool loop,
    told ``none``); the offline answerer, which answers only from what file_search finds, cannot,
    so without a chat model it is a 400 naming ``tool_choice``."""
    if choice != "none":
        return False
    if generator != "openai":
        raise bad_request("tool_choice 'none' allows no tool call, but without a chat model ragkit answers only "
                          "from what file_search finds in your vector stores: leave tool_choice out (or use "
                          "'auto'), or start ragkit serve with a chat model (RAGKIT_MODEL), which then answers "
                          "without searching.", "tool_choice")
    return True
