"""Follow-up questions: the history a question continues, and its standalone form.

Three surfaces continue a conversation: a thread's runs, ``/v1/responses`` with
``previous_response_id`` (the chain of earlier responses) and ``/v1/responses`` with
``conversation`` (the conversation's message items); on ``/v1/responses`` the earlier messages
of an ``input`` array come after those, read as chat completions reads its ``messages``
(:func:`input_history`). Threads and conversations are one model
(:mod:`ragkit.state.conversations`), so their history is read by one function,
:func:`~ragkit.conversations.session.history_pairs`, the one a local
:class:`~ragkit.conversations.ChatSession` reads its thread with; a response chain is turned into
the same (question, answer) pairs. Each then asks
:meth:`Library.follow_up <ragkit.library.engine.Library.follow_up>` for the query to search: the
chat model condenses the follow-up when one is configured, else the offline rewrite carries the
last turn's subject into it.

Every answer is stored with the query it searched and the passages it came from, so the next
follow-up is rewritten from exactly what was found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ragkit.conversations.messages import conversation_turns
from ragkit.conversations.session import HISTORY_TURNS, history_pairs
from ragkit.conversations.store import Message
from ragkit.errors import InvalidParameter, NotFound
from ragkit.library.answering import Grounded
from ragkit.library.item_fields import check_item, duplicate_item
from ragkit.state import assistants as adb
from ragkit.state import conversations
from ragkit.state import responses as stored
from ragkit.state.conversation_model import Item

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.library.engine import Library

Pairs = list[tuple[Message, Message]]
USER_ROLES = ("user", "system", "developer")
#: the Responses input parts that are not text: kept in the items as sent, for the chat model
MEDIA_PARTS = ("input_image", "input_file")


def item_parts(content: Any, kind: str) -> list[dict[str, Any]]:
    """A message's content as stored parts: text as ``kind`` parts, images and files of a user's
    message as they were sent (so a conversation's items list them as OpenAI's do)."""
    if isinstance(content, str):
        return [{"type": kind, "text": content}]
    keep_media = kind == "input_text"
    return [dict(p) if keep_media and p.get("type") in MEDIA_PARTS else {"type": kind, "text": str(p.get("text", ""))}
            for p in content or [] if isinstance(p, dict)]


def turn(role: str, text: str, standalone: str | None = None, sources: list[dict[str, Any]] | None = None) -> Message:
    return Message(id=0, thread_id="", role=role, content=text, created_at=0.0,  # type: ignore[arg-type]
                   sources=sources or [], standalone=standalone)


def sources_of(grounded: Grounded) -> list[dict[str, Any]]:
    return [{"text": f.hit.text} for f in grounded.found]


# -- previous_response_id -------------------------------------------------------------------------
def response_history(library: Library, owner: str, previous_id: str) -> Pairs:
    """The chain of stored responses ending at ``previous_id``, oldest first (another key's is not found)."""
    pairs: Pairs = []
    current: str | None = previous_id
    while current and len(pairs) < HISTORY_TURNS:
        row = stored.response_row(library.state, current, owner)
        if row is None:
            if current == previous_id:  # OpenAI's answer: a 400 naming the parameter
                raise InvalidParameter(f"Previous response with id '{previous_id}' not found.",
                                       param="previous_response_id", code="previous_response_not_found")
            break
        pairs.insert(0, (turn("user", row["question"], row["standalone"]),
                         turn("assistant", row["answer"], sources=json.loads(row["sources"] or "[]"))))
        current = row["previous_id"]
    return pairs


def remember_response(library: Library, owner: str, response: dict[str, Any], question: str,
                      grounded: Grounded | None, raw_input: Any, standalone: str | None = None) -> None:
    """Keep a response for retrieve, ``previous_response_id`` and its input items list."""
    answer = grounded.text if grounded else ""
    stored.insert_response(library.state, response, owner=owner, question=question,
                           standalone=standalone or (grounded.question if grounded else question), answer=answer,
                           sources=sources_of(grounded) if grounded else [], input_items=input_items(raw_input))


def input_items(raw: Any) -> list[dict[str, Any]]:
    """A request's ``input`` as the items OpenAI lists for its response, each with an id."""
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else list(raw or [])
    out = []
    for item in items:
        if hasattr(item, "model_dump"):  # an SDK object sent back as it was returned
            item = item.model_dump()
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role", "user")
            part = "output_text" if role == "assistant" else "input_text"
            parts = item_parts(item.get("content"), part)
            out.append({"id": item.get("id") or adb.new_id("msg"), "type": "message", "role": role,
                        "status": "completed", "content": parts})
        elif kind in ("function_call", "function_call_output"):
            out.append({"status": "completed", **item, "id": item.get("id") or adb.new_id("fc")})
    return out


def stored_response(library: Library, owner: str, response_id: str) -> dict[str, Any]:
    found = stored.response(library.state, response_id, owner)
    if found is None:
        raise NotFound("response", response_id)
    return found


# -- conversations --------------------------------------------------------------------------------
def conversation_for(library: Library, owner: str, conversation_id: str, param: str | None = None
                     ) -> dict[str, Any]:
    found = adb.owned(library.state, adb.CONVERSATIONS, conversation_id, owner)
    if found is None:
        raise NotFound("conversation", conversation_id, param)
    return found


def item_text(item: dict[str, Any]) -> str:
    """The text of an item's text parts (an image or a file part has none)."""
    return " ".join(str(p.get("text", "")) for p in item.get("content", [])
                    if isinstance(p, dict) and p.get("type") not in MEDIA_PARTS).strip()


def message_item(raw: Any, param: str) -> dict[str, Any]:
    """An input message (``{"role", "content"}``, content a string or parts) as a stored item."""
    if not isinstance(raw, dict) or raw.get("type", "message") != "message" or "role" not in raw:
        kind = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
        raise InvalidParameter(f"Item type {kind!r} is not supported: conversations hold messages "
                               "({'role', 'content'}) and function_call, function_call_output and "
                               "file_search_call items.", param)
    role = raw["role"]
    if role not in (*USER_ROLES, "assistant"):
        raise InvalidParameter(f"Unknown role {role!r}.", f"{param}.role")
    kind = "output_text" if role == "assistant" else "input_text"
    parts = item_parts(raw.get("content"), kind)
    if kind == "output_text":
        parts = [p | {"annotations": [], "logprobs": []} for p in parts]
    item = {"id": adb.new_id("msg"), "type": "message", "role": role, "status": "completed",
            "content": parts}
    if not item_text(item) and not any(p["type"] in MEDIA_PARTS for p in parts):
        raise InvalidParameter("A message item needs text content.", f"{param}.content")
    return item


#: the tool call items a client may add to a conversation: each one's required fields
TOOL_ITEMS = {"function_call": ("call_id", "name", "arguments"), "function_call_output": ("call_id", "output"),
              "file_search_call": ("queries",)}
_ID_PREFIX = {"function_call": "fc", "function_call_output": "fco", "file_search_call": "fs"}


def conversation_item(raw: Any, param: str) -> dict[str, Any]:
    """An item a client adds to a conversation: a message (:func:`message_item`), or a tool call
    item of :data:`TOOL_ITEMS` kept as sent (a client that keeps its agent's turns in a conversation
    adds them, often without their ids), with an id and a status.

    An item added with its id keeps it, as in OpenAI's conversations, and an answer its
    citations (a session reading its turns back shows their sources). A client that adds a turn's
    items as the responses returned them sends them back with the next question, and an answer's
    own id tells ragkit which response the exchange goes on from
    (:func:`ragkit.server.response_refs.resumed`): under a new id the model read that answer twice."""
    check_item(raw, param)
    kind = raw.get("type")
    if kind not in TOOL_ITEMS:
        item = message_item(raw, param)
        if isinstance(raw.get("id"), str) and raw["id"]:
            item["id"] = raw["id"]
        sent = raw.get("content")
        if item["role"] == "assistant" and isinstance(sent, list):
            parts = [p for p in sent if isinstance(p, dict)]
            item["content"] = [part | {"annotations": _annotations(given)}
                               for part, given in zip(item["content"], parts)]
        return item
    missing = [name for name in TOOL_ITEMS[kind] if raw.get(name) is None]
    if missing:
        raise InvalidParameter(f"Missing required parameter: '{param}.{missing[0]}'.", param)
    return {**raw, "id": raw.get("id") or adb.new_id(_ID_PREFIX[kind]), "status": raw.get("status") or "completed"}


def _annotations(part: dict[str, Any]) -> list[dict[str, Any]]:
    notes = part.get("annotations")
    return [note for note in notes if isinstance(note, dict)] if isinstance(notes, list) else []


def add_items(library: Library, conversation_id: str, items: list[dict[str, Any]], standalone: str | None = None,
              sources: list[dict[str, Any]] | None = None, response_id: str | None = None,
              param: str = "items", conversation_param: str | None = None) -> list[dict[str, Any]]:
    """Append items; user items get the query searched, assistant items the sources. An id already
    stored, or sent twice, is refused (OpenAI's "Duplicate item found") naming ``param[n].id``. A
    conversation deleted since the request found it (a client may delete it while a response
    that extends it is being answered) is the 404 the request would have had a moment later,
    naming ``conversation_param``."""
    try:
        stored.add_items(library.state, conversation_id, items, standalone=standalone, sources=sources,
                         response_id=response_id)
    except conversations.MissingConversation:
        raise NotFound("conversation", conversation_id, conversation_param) from None
    except conversations.DuplicateItem as duplicate:
        place = max(n for n, item in enumerate(items) if item.get("id") == duplicate.item_id)
        raise duplicate_item(duplicate.item_id, f"{param}[{place}].id") from None
    return items


def conversation_history(library: Library, conversation_id: str) -> Pairs:
    """The (question, answer) pairs of a thread or a conversation, oldest first."""
    return history_pairs(conversations.items(library.state, conversation_id))


def _read_turns(library: Library, thread_id: str, last_messages: int | None) -> tuple[list[Item], int | None, int]:
    """A thread's turns, the place of its last user message (None: there is none) and the first
    place a run reads (``last_messages``, the question included)."""
    done = [i for i in conversations.items(library.state, thread_id) if i.is_turn]
    last = next((n for n in range(len(done) - 1, -1, -1) if done[n].role == "user"), None)
    first = max(0, last + 1 - last_messages) if last is not None and last_messages else 0
    return done, last, first


def thread_turns(library: Library, thread_id: str, last_messages: int | None = None) -> tuple[Item | None, Pairs]:
    """A thread's last user message (None: there is none) and the pairs before it, oldest first;
    with ``last_messages`` (a run's ``truncation_strategy``) only that many messages are read,
    the question included."""
    done, last, first = _read_turns(library, thread_id, last_messages)
    if last is None:
        return None, []
    return done[last], history_pairs(done[first:last])


def unanswered(library: Library, thread_id: str, last_messages: int | None = None) -> list[Item]:
    """The user messages before a thread's last one that no answer follows, oldest first (within
    ``last_messages``). A client may add several messages before a run (AutoGen and Semantic
    Kernel add each input message on its own: an image, then the question); OpenAI's run reads
    them all, while :func:`thread_turns` pairs only the last with its answer."""
    done, last, first = _read_turns(library, thread_id, last_messages)
    if last is None:
        return []
    start = last
    while start > first and done[start - 1].role == "user":
        start -= 1
    return done[start:last]


def continued(library: Library, owner: str, body: Any) -> tuple[str | None, Pairs]:
    """What a ``/v1/responses`` request continues: the response it follows -- its
    ``previous_response_id``, or the response that wrote its conversation's last item, whose
    function-calling loop a ``function_call_output`` resumes -- and the (question, answer) pairs
    before it."""
    if body.previous_response_id and body.conversation_id:
        raise InvalidParameter("Give previous_response_id or conversation, not both.", "conversation")
    if body.previous_response_id:
        return body.previous_response_id, response_history(library, owner, body.previous_response_id)
    if body.conversation_id:
        conversation_for(library, owner, body.conversation_id, "conversation")
        items = conversations.items(library.state, body.conversation_id)
        return (items[-1].response_id if items else None), history_pairs(items)
    return None, []


def input_history(raw: Any) -> Pairs:
    """The (question, answer) pairs of the messages an ``input`` array holds before its last user
    message (a client that keeps the conversation itself sends it all), read as chat
    completions' ``messages`` are (:func:`ragkit.conversations.messages.conversation_turns`)."""
    if not isinstance(raw, list):
        return []
    messages = [item for item in raw if isinstance(item, dict) and item.get("type", "message") == "message"]
    return conversation_turns(messages)[1]


def check_tool_turn_ids(library: Library, body: Any) -> None:
    """Refuse, before the model runs, the input item ids :func:`keep_tool_turn` could not add to
    the request's conversation: one another conversation holds (ids stay unique; one this
    conversation holds is an item sent back, and is not added again; one sent twice is refused
    with the input's other checks, :func:`ragkit.library.item_fields.check_items`)."""
    if not body.conversation_id or not isinstance(body.input, list):
        return
    places = [(n, item["id"]) for n, item in enumerate(body.input)
              if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]]
    held = conversations.holders(library.state, [item_id for _, item_id in places])
    for n, item_id in places:
        if held.get(item_id, body.conversation_id) != body.conversation_id:
            raise duplicate_item(item_id, f"input[{n}].id")


def keep_tool_turn(library: Library, body: Any, response: dict[str, Any], question: str,
                   grounded: Grounded | None) -> None:
    """A function-tool response's input and output items (the user's message, its function calls
    and their outputs, the answer) go to its conversation, if it has one; an item sent back as it
    was returned is already there and is not added again."""
    if not body.conversation_id:
        return
    known = {i.id for i in conversations.items(library.state, body.conversation_id)}
    add_items(library, body.conversation_id, [i for i in input_items(body.input) if i["id"] not in known],
              standalone=question, response_id=response["id"], param="input", conversation_param="conversation")
    add_items(library, body.conversation_id, response["output"], sources=sources_of(grounded) if grounded else None,
              response_id=response["id"], conversation_param="conversation")


@dataclass
class Memory:
    """What one ``/v1/responses`` request continues, the query it searches, and where it is kept."""

    library: Library
    owner: str
    body: Any
    question: str
    query: str
    inputs: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, library: Library, owner: str, body: Any, question: str) -> Memory:
        history = continued(library, owner, body)[1] + input_history(body.input)
        inputs: list[dict[str, Any]] = []
        if body.conversation_id:
            raw = body.input if isinstance(body.input, list) else [{"role": "user", "content": body.input}]
            inputs = [message_item(item, f"input[{i}]") for i, item in enumerate(raw)
                      if isinstance(item, dict) and item.get("type", "message") == "message"]
        made, notices = library.follow_up(question, history[-HISTORY_TURNS:])
        return cls(library, owner, body, question, made.query, inputs, notices)

    def keep(self, response: dict[str, Any], grounded: Grounded) -> None:
        """Extend the conversation, then store the answered response (for ``previous_response_id``):
        a conversation deleted meanwhile fails the request before anything of it is stored."""
        if self.body.conversation_id:
            add_items(self.library, self.body.conversation_id, self.inputs, standalone=self.query,
                      response_id=response["id"], param="input", conversation_param="conversation")
            add_items(self.library, self.body.conversation_id, response["output"], sources=sources_of(grounded),
                      response_id=response["id"], conversation_param="conversation")
        if self.body.store:
            remember_response(self.library, self.owner, response, self.question, grounded, self.body.input)

