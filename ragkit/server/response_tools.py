"""Function tools on ``/v1/responses``: the function-calling loop of the guides, over the user's
documents.

With ``function`` tools in ``tools``, the configured chat model gets the conversation, the user's
functions and, when the request names vector stores, ragkit's own ``file_search``; the loop is
:func:`ragkit.answer.run_tool_loop`, and this module maps Responses items onto its chat and its
result onto output items. ``file_search`` calls run in the loop and show in the output as
``file_search_call`` items. A call to one of the user's functions ends the response with
``function_call`` items (``call_id``, ``name``, ``arguments``); the client runs them and sends
``function_call_output`` items back, either

* with ``previous_response_id`` or ``conversation`` (whose items then hold the calls and outputs
  too): the chat so far (and the passages it numbered) is restored from the stored response, so
  ``input`` holds just the outputs; or
* statelessly, as the guides do: the whole exchange is sent again as ``input`` (the user message,
  the ``function_call`` items as returned, then the outputs). When its items come from a stored
  response (references to them, as the Vercel AI SDK sends, or calls with their ids), the loop
  goes on from that response's saved chat and passages.

The final answer is a message whose ``[n]`` markers are checked against the passages
``file_search`` returned and become ``file_citation`` annotations; asked for structured output
(``text.format``), it is the model's JSON, or a refusal part (:mod:`ragkit.server.structured`).
An unknown tool or invalid
arguments go back to the model as a tool error; a model still calling tools after
``MAX_ROUNDS`` rounds fails the request. The offline answerer cannot call functions: without a
chat model, function tools are a 400 that says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, ValidationError

from ragkit.answer import (
    FILE_SEARCH, LoopState, last_user_text, opening_messages, run_tool_loop, unanswered_calls,
)
from ragkit.answer.file_search import tools_system
from ragkit.conversations.messages import TEXT_PARTS, content_text
from ragkit.conversations.session import HISTORY_TURNS
from ragkit.library.answering import Grounded
from ragkit.library.filters import Filter
from ragkit.server.errors import bad_request, from_validation, within
from ragkit.library.history import check_tool_turn_ids, continued, keep_tool_turn, remember_response
from ragkit.library.output_limit import capped
from ragkit.server.params import Body
from ragkit.server.response_items import answer_message, item_id, search_call
from ragkit.server.response_media import chat_part
from ragkit.server.response_refs import resumed
from ragkit.server.state import ServerContext
from ragkit.server.tool_calls import (chat_tool_choice, forces_function, grounded_of, offered_tools, searched,
                                     search_first)
from ragkit.state import responses as stored

MAX_ROUNDS = 4
ROLES = ("user", "system", "developer", "assistant")


class FunctionTool(Body):
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    # OpenAI's options for deferred loading, programmatic callers and typed outputs: accepted, not echoed
    allowed_callers: Any = Field(None, exclude=True)
    async_: bool | None = Field(None, alias="async", exclude=True)
    defer_loading: bool | None = Field(None, exclude=True)
    output_schema: dict[str, Any] | None = Field(None, exclude=True)

    def for_chat(self) -> dict[str, Any]:
        function: dict[str, Any] = {"name": self.name, "parameters": self.parameters or {"type": "object"}}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}


def parse_tool(kind: type[Body], raw: dict[str, Any], i: int) -> Any:
    """``tools[i]`` as ``kind``, or a 400 naming the field that is wrong."""
    try:
        return kind.model_validate(raw)
    except ValidationError as exc:
        raise from_validation(within(exc.errors(), "tools", i)) from None


def function_tools(raw_tools: list[dict[str, Any]]) -> list[FunctionTool]:
    """The request's ``function`` tools, validated (``file_search`` is not one; others are 400s)."""
    tools = []
    for i, raw in enumerate(raw_tools):
        if raw.get("type") == "file_search":
            continue
        if raw.get("type") != "function":
            raise bad_request(f"Tool type {raw.get('type')!r} is not supported: ragkit offers file_search "
                              "over its vector stores and your own function tools.", f"tools[{i}].type")
        tool = parse_tool(FunctionTool, raw, i)
        if tool.name == FILE_SEARCH:
            raise bad_request("A function may not be called file_search: that name is ragkit's own tool.",
                              f"tools[{i}].name")
        tools.append(tool)
    return tools


def has_tool_items(items: str | list[dict[str, Any]]) -> bool:
    return isinstance(items, list) and any(i.get("type") in ("function_call", "function_call_output") for i in items)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(str(p.get("text", "")) for p in content or [] if isinstance(p, dict)).strip()


def _content(content: Any, i: int) -> Any:
    """Text as text; a message with image or file parts keeps them, in chat completions' shape."""
    if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") not in TEXT_PARTS for p in content):
        return [chat_part(p, f"input[{i}].content[{j}]") for j, p in enumerate(content)]
    return _text(content)


def output_text(output: Any, where: str) -> str:
    """A ``function_call_output``'s ``output`` as the text of a tool message. OpenAI takes a string
    or a list of content parts (Haystack sends every output as ``input_text`` parts): the parts'
    text is what the model must read, not their JSON. A chat model reads a function's result as
    text only, so an image or file part is a 400 naming it rather than dropped unseen."""
    if isinstance(output, str):
        return output
    if not isinstance(output, list):
        return json.dumps(output)
    for j, part in enumerate(output):
        kind = part.get("type") if isinstance(part, dict) else type(part).__name__
        if kind not in TEXT_PARTS:
            raise bad_request(f"A function_call_output part of type {kind!r} cannot be passed on: the chat model "
                              "reads a function's output as text. Send the output as a string or input_text parts.",
                              f"{where}[{j}]")
    return content_text(output)


def chat_from_input(items: str | list[dict[str, Any]], known_calls: set[str] = frozenset()) -> list[dict[str, Any]]:
    """Responses ``input`` as chat messages: messages by role, consecutive ``function_call`` items
    as one assistant message with ``tool_calls``, each ``function_call_output`` as a ``tool``
    message. Calls in ``known_calls`` are already in the restored chat and are not repeated."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    chat: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ROLES:
                raise bad_request(f"Unknown role {role!r}.", f"input[{i}].role")
            chat.append({"role": "system" if role == "developer" else role, "content": _content(item.get("content"), i)})
        elif kind == "function_call":
            call_id = item.get("call_id")
            if not call_id or not item.get("name"):
                raise bad_request("A function_call item needs call_id and name.", f"input[{i}]")
            if call_id in known_calls:
                continue
            call = {"id": call_id, "type": "function",
                    "function": {"name": item["name"], "arguments": item.get("arguments") or "{}"}}
            if chat and chat[-1]["role"] == "assistant" and chat[-1].get("tool_calls"):
                chat[-1]["tool_calls"].append(call)
            else:
                chat.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            if not item.get("call_id"):
                raise bad_request("A function_call_output item needs the call_id it answers.", f"input[{i}].call_id")
            chat.append({"role": "tool", "tool_call_id": item["call_id"],
                         "content": output_text(item.get("output"), f"input[{i}].output")})
        elif kind in ("file_search_call", "reasoning"):
            continue  # ragkit's own items, sent back as the guides do: already reflected in the chat
        else:
            raise bad_request(f"Input item type {kind!r} is not supported with function tools.", f"input[{i}].type")
    return chat


def _check_calls_answered(chat: list[dict[str, Any]]) -> None:
    """Every function call the model made must have its output before the model is asked again."""
    waiting = unanswered_calls(chat)
    if waiting:
        raise bad_request(f"No function_call_output for call_id {waiting[0]!r}: send the output of "
                          "every function call the previous response made.", "input")


class ToolLoopFailed(Exception):
    """The loop cannot finish; the response is returned ``failed`` with this message."""


@dataclass
class ToolTurn:
    """One response of the loop: its output items, and the answer when it finished."""
    output: list[dict[str, Any]]
    grounded: Grounded | None
    question: str
    state: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)


def load_state(ctx: ServerContext, owner: str, response_id: str) -> dict[str, Any] | None:
    return stored.tool_state(ctx.db, response_id, owner)


def save(ctx: ServerContext, owner: str, response: dict[str, Any], turn: ToolTurn, body: Any) -> None:
    """Extend the response's conversation, then keep the response (for retrieve,
    ``previous_response_id`` and its input items) and the loop's state, unless ``store`` is false:
    a conversation deleted meanwhile, or an item id it already holds, fails the request before
    anything of it is stored."""
    keep_tool_turn(ctx.library, body, response, turn.question, turn.grounded)
    if body.store:
        remember_response(ctx.library, owner, response, turn.question, turn.grounded, body.input,
                          standalone=turn.question)
        stored.save_tool_state(ctx.db, response["id"], owner, turn.state)


def system_prompt(body: Any, tools: bool) -> str:
    """The loop's system prompt: ragkit's rules for its tools with the request's instructions, or
    with no tool to offer (a request over no store, no function) the instructions alone, as chat
    completions without a store passes them on (an Agents SDK guardrail agent has no tools)."""
    return tools_system(body.instructions) if tools else (body.instructions or "")


def _start(ctx: ServerContext, owner: str, body: Any, system: str) -> LoopState:
    """The loop's state: restored from the response it continues (named, or the one its items
    come from: :func:`ragkit.server.response_refs.resumed`), or a new chat from the history.

    A restored chat gets this request's ``system`` prompt: OpenAI carries no instructions over
    from the response a request continues, and an Agents SDK handoff goes on from the first
    agent's function call with the next agent's instructions."""
    previous, pairs = continued(ctx.library, owner, body)
    items = body.input
    if previous is None:
        previous, items = resumed(ctx.db, owner, items)
    saved = load_state(ctx, owner, previous) if previous else None
    if saved is None:  # a new chat, or one after an earlier grounded answer: from its questions and answers
        saved = {"messages": opening_messages(system, pairs[-HISTORY_TURNS:])}
    state = LoopState.from_dict(saved)
    if state.messages and state.messages[0].get("role") == "system":  # a saved chat opens with its prompt
        state.messages[0] = {"role": "system", "content": system}
    state.rounds, state.usage = 0, {}  # each response has its own rounds and usage
    known = {c["id"] for m in state.messages for c in m.get("tool_calls") or []}
    state.messages += placed(chat_from_input(items, known), known, unanswered_calls(state.messages))
    _check_calls_answered(state.messages)
    return state


def placed(added: list[dict[str, Any]], known: set[str], waiting: list[str]) -> list[dict[str, Any]]:
    """The input's chat messages as they go after the restored chat: the outputs of its
    ``waiting`` calls first, an output of a call it has answered already not again. OpenAI appends
    ``input`` to the stored chain and matches an output to its call by ``call_id``, so a client may
    send outputs after other items, or again: LlamaIndex's ``OpenAIResponses`` with
    ``track_previous_responses`` resends the whole exchange with ``previous_response_id``. A chat
    model takes a tool message only right after the assistant message that made the call."""
    answers = [m for m in added if m["role"] == "tool" and m["tool_call_id"] in waiting]
    return answers + [m for m in added if m["role"] != "tool" or m["tool_call_id"] not in known]


def run_tools(ctx: ServerContext, owner: str, body: Any, model: str, stores: list[dict[str, Any]], k: int,
              functions: list[FunctionTool], with_results: bool, retrieval: dict[str, Any] | None = None,
              ranking: dict[str, Any] | None = None, node: Filter | None = None, *, response_id: str,
              response_format: dict[str, Any] | None = None) -> ToolTurn:
    """Drive the model until it answers or calls one of the user's functions. ``retrieval`` holds
    the file_search tool's ranking (``score_threshold``, ``alpha``) and ``node`` its filters, ``ranking`` the options as
    reported on each ``file_search_call``; an answer longer than ``max_output_tokens`` is cut.
    The output items' ids are made from ``response_id``; ``response_format`` (chat completions' form
    of ``text.format``) asks for the answer as JSON, or a refusal part."""
    check_tool_turn_ids(ctx.library, body)
    state = _start(ctx, owner, body, system_prompt(body, bool(stores or functions)))
    question = last_user_text(state.messages)
    tools = offered_tools(ctx, stores, k, [f.for_chat()["function"] for f in functions], node=node,
                          **(retrieval or {}))
    choice = chat_tool_choice(getattr(body, "tool_choice", None))
    # a function named in tool_choice must be called at once, so the model cannot search first:
    # the question is searched for it (as on chat completions), or its arguments would come from
    # the model's own knowledge (instructor's RESPONSES_TOOLS mode asks for a shape this way)
    first = ([search_first(state, tools, question)] if forces_function(choice) and stores and question
             and not state.passages.hits else [])
    result = run_tool_loop(ctx.library.upstream(), state, tools, model=model, max_rounds=MAX_ROUNDS,
                           tool_choice=choice, parallel_tool_calls=body.parallel_tool_calls if functions else None,
                           temperature=body.temperature, max_tokens=body.max_output_tokens,
                           response_format=response_format)
    if result.status == "max_rounds":
        raise ToolLoopFailed(f"The model kept calling tools after {MAX_ROUNDS} rounds.")
    used = {"ranking_options": ranking} if ranking else {}
    searches = [(call.details["query"], found) for call in first + result.calls
                if (found := searched(call)) is not None]
    output = [search_call(item_id("fs", response_id, n), [query], found, "completed", with_results) | used
              for n, (query, found) in enumerate(searches)]
    output += [{"type": "function_call", "id": item_id("fc", response_id, n), "call_id": c.id, "name": c.name,
                "arguments": c.arguments, "status": "completed"} for n, c in enumerate(result.pending)]
    grounded = None
    if result.status == "answered":
        grounded = capped(grounded_of(result, model, result.usage), body.max_output_tokens)
        status = "incomplete" if grounded.incomplete else "completed"
        output.append(answer_message(item_id("msg", response_id), grounded, status, response_format is not None))
    return ToolTurn(output, grounded, question, state.to_dict(), dict(result.usage))
