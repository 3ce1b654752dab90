"""Chat completions over vector stores with the caller's function tools, or with images and files.

The chat is driven by :func:`ragkit.answer.run_tool_loop`: the model gets the conversation as the
client sent it (content parts unchanged, so an ``image_url`` or ``file`` part reaches it as
given), the caller's functions and ragkit's ``file_search`` over the request's stores.
``file_search`` calls run here; a call to one of the caller's functions ends the request with
``tool_calls`` and ``finish_reason: tool_calls``, as OpenAI's does.

The client sends the assistant message with its ``tool_calls`` and one ``role: "tool"`` message
per call, and the loop's state is rebuilt from the messages. The searches the model ran before it
called a function are not the caller's to answer, so they are not in ``tool_calls``; they travel
on the returned message as ``ragkit.searches`` (the SDK sends a returned message back with it) and
are run again when the message comes back, so the passages keep their numbers and the answer's
``[n]`` stay checked. Agent libraries rebuild the message with OpenAI's fields only, so the
searches are also kept in the state database for a day under the key and the calls
(:mod:`ragkit.state.tool_searches`): that is all the server keeps between requests.

When the model might not search by itself (no functions given, or ``tool_choice: "none"``) or
cannot (a ``tool_choice`` naming one of the caller's functions, which it must call at once), the
question, made standalone from the earlier turns, is searched first with the text parts, so the
answer, or the named function's arguments, come from the documents.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

from ragkit.answer import FILE_SEARCH, LoopResult, LoopState, Tool, run_tool_loop, unanswered_calls
from ragkit.answer.file_search import tools_system
from ragkit.answer.loop import replay_call
from ragkit.conversations.messages import content_text
from ragkit.library.answering import Grounded
from ragkit.library.filters import Filter
from ragkit.library.item_fields import FUNCTION_FIELDS, check_object
from ragkit.server.errors import ApiError, bad_request
from ragkit.server.state import ServerContext
from ragkit.server.structured import chat_message
from ragkit.server.tool_calls import forces_function, grounded_of, offered_tools, search_first
from ragkit.server.url_citations import url_citations
from ragkit.state import tool_searches

MAX_ROUNDS = 4
CHOICES = ("auto", "none", "required")


def caller_functions(tools: Sequence[Mapping[str, Any]] | None,
                     functions: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The caller's function definitions (``tools`` entries, or the older ``functions``)."""
    found: list[dict[str, Any]] = []
    places: list[str] = []
    for i, tool in enumerate(tools or []):
        if tool.get("type") == FILE_SEARCH:
            raise bad_request("A file_search tool is the Responses API's (POST /v1/responses); chat completions "
                              "search the stores named in the body's vector_store_ids themselves: name them "
                              "there and drop the tool.", f"tools[{i}]")
        if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            raise bad_request(f"Tool type {tool.get('type')!r} is not supported over vector stores: give "
                              "function tools ({'type': 'function', 'function': {...}}).", f"tools[{i}]")
        found.append(dict(tool["function"]))
        places.append(f"tools[{i}].function")
    found += [dict(f) for f in functions or []]
    places += [f"functions[{j}]" for j in range(len(functions or []))]
    for function, where in zip(found, places):
        check_object(function, where, FUNCTION_FIELDS)
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise bad_request("A function tool needs a name.", f"{where}.name")
        if name == FILE_SEARCH:
            raise bad_request("A function may not be called file_search: that name is ragkit's own tool.",
                              f"{where}.name")
    return found


def tool_choice_for(choice: Any, legacy: Any, names: Sequence[str]) -> str | dict[str, Any]:
    """The request's ``tool_choice`` (or the older ``function_call``) as the model is sent it;
    a named function must be one of ``names``."""
    if choice is None and legacy is not None:
        choice = legacy if isinstance(legacy, str) else {"type": "function", "function": dict(legacy)}
    if choice is None:
        return "auto"
    if isinstance(choice, str):
        if choice not in CHOICES:
            raise bad_request(f"Invalid value for 'tool_choice': {choice!r} (use auto, none, required or "
                              "{'type': 'function', 'function': {'name': ...}}).", "tool_choice")
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if name not in names:
            raise bad_request(f"tool_choice names the function {name!r}, which is not in tools "
                              f"({', '.join(names) or 'none'}).", "tool_choice.function.name")
        return {"type": "function", "function": {"name": name}}
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        return choice  # the model applies it to the tools it is offered
    raise bad_request("Invalid value for 'tool_choice'.", "tool_choice")


def answer_message(grounded: Grounded, files_url: str) -> dict[str, Any]:
    """A grounded answer as the completion's assistant message: ``[n]`` in the text, ragkit's
    ``citations`` (file, page, exact quote) and each marker as a ``url_citation`` annotation
    pointing at ``files_url`` (:mod:`ragkit.server.url_citations`)."""
    cited = grounded.cited()
    return {"role": "assistant", "content": grounded.text, "refusal": None,
            "annotations": url_citations(grounded.text, cited, files_url), "citations": cited}


@dataclass
class ToolTurn:
    """What one request of the loop gave: the loop's result, the answer when it finished, and
    the searches run here (sent back with the message so a stateless client can resume)."""

    result: LoopResult
    grounded: Grounded | None
    searches: list[dict[str, str]]
    #: the answer is structured output: JSON, or a refusal (:mod:`ragkit.server.structured`)
    structured: bool = False

    def message(self, files_url: str) -> dict[str, Any]:
        """The assistant message of the completion (``files_url``: see :func:`answer_message`)."""
        if self.grounded is not None and self.structured:
            return chat_message(self.grounded)
        if self.grounded is not None:
            return answer_message(self.grounded, files_url)
        calls = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                 for c in self.result.pending]
        return {"role": "assistant", "content": None, "refusal": None, "annotations": [], "tool_calls": calls,
                "ragkit": {"searches": self.searches}}

    @property
    def finish_reason(self) -> str:
        if self.grounded is None:
            return "tool_calls"
        return "length" if self.grounded.incomplete else "stop"


def _tool_message(message: Mapping[str, Any], i: int) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not call_id:
        raise bad_request("A tool message needs the tool_call_id it answers.", f"messages[{i}].tool_call_id")
    content = message.get("content")
    return {"role": "tool", "tool_call_id": call_id,
            "content": content if isinstance(content, str) else content_text(content)}


def _call_keys(calls: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(id, name, arguments) of each function call, as :mod:`ragkit.state.tool_searches` keys them."""
    return [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls]


def _assistant_calls(message: Mapping[str, Any], i: int) -> list[dict[str, Any]]:
    calls = []
    for j, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        if not call.get("id") or not function.get("name"):
            raise bad_request("A tool call needs an id and a function name.", f"messages[{i}].tool_calls[{j}]")
        calls.append({"id": call["id"], "type": "function",
                      "function": {"name": function["name"], "arguments": function.get("arguments") or "{}"}})
    return calls


#: the searches kept for a turn that stopped for these calls ((id, name, arguments)), or []
Recall = Callable[[list[tuple[str, str, str]]], list[dict[str, str]]]


def rebuild(messages: Sequence[Mapping[str, Any]], instructions: str | None, tools: Sequence[Tool],
            recall: Recall | None = None) -> LoopState:
    """The loop's state from the request's messages: the system prompt, then every message as
    sent (user content unchanged), with the searches an assistant message carries run again --
    those the server kept (``recall``) when the message came back without them."""
    state = LoopState([{"role": "system", "content": tools_system(instructions)}])
    for i, message in enumerate(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            continue
        if role == "user":
            state.messages.append({"role": "user", "content": message.get("content")})
        elif role == "assistant":
            searches = [s for s in ((message.get("ragkit") or {}).get("searches") or []) if isinstance(s, dict)]
            asked = _assistant_calls(message, i)
            if not searches and asked and recall is not None:
                searches = recall(_call_keys(asked))
            calls = [{"id": s["id"], "type": "function", "function": {"name": FILE_SEARCH, "arguments": s["arguments"]}}
                     for s in searches] + asked
            text = content_text(message.get("content")) or None
            state.messages.append({"role": "assistant", "content": text, **({"tool_calls": calls} if calls else {})})
            for search in searches:
                replay_call(state, tools, search["id"], FILE_SEARCH, search["arguments"])
        elif role == "tool":
            state.messages.append(_tool_message(message, i))
        else:
            raise bad_request(f"Unknown role {role!r} (use system, developer, user, assistant or tool).",
                              f"messages[{i}].role")
    waiting = unanswered_calls(state.messages)
    if waiting:
        raise bad_request(f"No tool message for tool_call_id {waiting[0]!r}: answer every tool call of the "
                          "assistant message with a role 'tool' message.", "messages")
    return state


def run_chat_tools(ctx: ServerContext, messages: Sequence[Mapping[str, Any]], *, model: str,
                   stores: list[dict[str, Any]], k: int, functions: list[dict[str, Any]],
                   tool_choice: str | dict[str, Any], instructions: str | None, query: str | None,
                   temperature: float | None = None, max_tokens: int | None = None,
                   parallel_tool_calls: bool | None = None, node: Filter | None = None,
                   retrieval: Mapping[str, Any] | None = None,
                   response_format: dict[str, Any] | None = None, owner: str | None = None) -> ToolTurn:
    """One request of the loop. ``query`` (the standalone question) is searched first when given
    (with a forced function, unless the messages brought back an earlier request's searches);
    every search keeps to the attribute filter ``node`` and ``retrieval``'s ranking options;
    ``response_format`` asks for the answer as JSON. With ``owner`` (the key asking), the searches
    of a turn that stops for the caller's functions are also kept in the state database, for a
    client that sends the message back without them (:mod:`ragkit.state.tool_searches`)."""
    tools = offered_tools(ctx, stores, k, [] if tool_choice == "none" else functions, node=node, **(retrieval or {}))
    recall = (lambda calls: tool_searches.recall(ctx.db, owner, calls)) if owner is not None else None
    state = rebuild(messages, instructions, tools, recall)
    state.rounds = 0
    first: list[dict[str, str]] = []
    if query and stores and not (forces_function(tool_choice) and state.passages.hits):
        done = search_first(state, tools, query)
        first.append({"id": done.id, "arguments": done.arguments})
    result = run_tool_loop(ctx.library.upstream(), state, tools, model=model, max_rounds=MAX_ROUNDS,
                           tool_choice="auto" if tool_choice == "none" and stores else tool_choice,
                           temperature=temperature, max_tokens=max_tokens,
                           parallel_tool_calls=parallel_tool_calls if functions else None,
                           response_format=response_format)
    if result.status == "max_rounds":  # the upstream model misbehaved, not ragkit nor the caller: a 502
        raise ApiError(502, f"The model kept calling tools after {MAX_ROUNDS} rounds without answering, even when "
                            "told to answer; ask again, or name a tool in tool_choice.", type="upstream_error",
                       code="tool_loop_exhausted")
    searches = first + [{"id": c.id, "arguments": c.arguments} for c in result.calls if c.name == FILE_SEARCH]
    if owner is not None and result.pending:
        tool_searches.keep(ctx.db, owner, [(c.id, c.name, c.arguments) for c in result.pending], searches)
    grounded = None
    if result.status == "answered":
        grounded = grounded_of(result, model, result.usage)
        grounded = replace(grounded, question=query or content_text(_last_user(messages)))
    return ToolTurn(result, grounded, searches, structured=response_format is not None)


def _last_user(messages: Sequence[Mapping[str, Any]]) -> Any:
    return next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
