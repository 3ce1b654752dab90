"""One conversation model for every surface: a :class:`Conversation` and its :class:`Item` list.

A chat thread (the CLI, the page, ``KnowledgeBase.ask(thread=...)``), an Assistants thread and a
Responses conversation are the same thing seen three ways: an owned, ordered list of turns, each
answer with the query that was searched, the passages it was given and the citations it made.
Keeping one model means one table pair (:mod:`ragkit.state.conversations`), one history builder
for follow-ups (:func:`ragkit.conversations.session.history_pairs`), and a surface that only maps
these records onto its own shapes.

An item is a message or a tool call's trace (``function_call``, ``function_call_output``,
``file_search_call``). Items that came through the OpenAI API also keep the object the client
saw (``body``), so reading one back returns it field for field; the columns beside it (text,
citations, tool call) are derived from it once, when it is written, by the mappers below.

The model lives in the foundation (the state layer stores it and may import nothing above
itself); :mod:`ragkit.conversations.store` and the API repositories are views over it.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

ConversationKind = Literal["chat", "assistants_thread", "responses_conversation"]
ItemKind = Literal["message", "function_call", "function_call_output", "file_search_call"]
CONVERSATION_KINDS: tuple[str, ...] = get_args(ConversationKind)
ITEM_KINDS: tuple[str, ...] = get_args(ItemKind)
#: the content parts that carry text (chat completions, Assistants, Responses)
TEXT_PARTS = ("text", "input_text", "output_text")
#: the keys of a citation every surface stores (plus ``source``, or ``file_id``/``filename``/``vector_store_id``)
CITATION_KEYS = ("n", "page", "chunk_id", "quote", "quote_start", "quote_end")


@dataclass(frozen=True)
class ToolCall:
    """The tool call an item records: which tool (a function's name, ``file_search``), the id that
    pairs a call with its output, the arguments (JSON text) and the output (text), each when known."""

    call_id: str
    name: str | None = None
    arguments: str | None = None
    output: str | None = None


@dataclass(frozen=True)
class Conversation:
    """A conversation of one kind. ``collection`` and ``title`` are a chat thread's; ``body`` is the
    API object (thread, conversation) as returned; ``items`` is how many items it holds, when read."""

    id: str
    kind: ConversationKind
    owner: str | None = None
    collection: str | None = None
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    body: dict[str, Any] | None = None
    items: int = 0


@dataclass(frozen=True)
class Item:
    """One item of a conversation, in order (``seq``, never reused).

    ``content`` is the text (a message's text parts joined); ``citations`` are the answer's, as
    dicts with :data:`CITATION_KEYS` and the source they point to; ``sources`` the passages the
    answer was given (``text`` at least); ``standalone`` the query a question was searched as;
    ``run_id``/``response_id`` the Assistants run or the response that wrote it."""

    conversation_id: str
    id: str
    kind: ItemKind = "message"
    role: str | None = None
    content: str = ""
    status: str | None = "completed"
    tool: ToolCall | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    standalone: str | None = None
    run_id: str | None = None
    response_id: str | None = None
    created_at: float = 0.0
    body: dict[str, Any] | None = None
    seq: int = 0

    @property
    def is_turn(self) -> bool:
        """A finished user or assistant message: what a follow-up's history is made of."""
        return self.kind == "message" and self.role in ("user", "assistant") and self.status in (None, "completed")


def new_item_id(prefix: str = "msg") -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


# -- API objects as the model --------------------------------------------------------------------
def api_conversation(kind: ConversationKind, body: dict[str, Any], owner: str | None) -> Conversation:
    """An Assistants thread or a Responses conversation object, as stored."""
    created = float(body.get("created_at") or time.time())
    return Conversation(id=body["id"], kind=kind, owner=owner, metadata=dict(body.get("metadata") or {}),
                        created_at=created, updated_at=created, body=body)


#: an annotation's keys that place it in the text or the API, not in the source
_PLACEMENT = ("type", "index", "text", "start_index", "end_index", "file_citation", "n")


def _citation(note: Any) -> dict[str, Any] | None:
    """An annotation (Responses' flat ``file_citation``, or the Assistants form with its details
    under ``file_citation``) as a stored citation; other annotations are not citations."""
    if not isinstance(note, dict) or note.get("type") != "file_citation":
        return None
    details = note["file_citation"] if isinstance(note.get("file_citation"), dict) else note
    return {"n": note.get("n", details.get("n")), **{k: v for k, v in details.items() if k not in _PLACEMENT}}


def _parts(content: Any) -> tuple[str, list[dict[str, Any]]]:
    """Text and citations of a message's content. Assistants parts (``{"text": {"value",
    "annotations"}}``) are joined by newlines, as a run reads its thread; Responses parts
    (``{"text", "annotations"}``) by spaces, as a follow-up reads its conversation."""
    if isinstance(content, str):
        return content, []
    parts = [p for p in content or [] if isinstance(p, dict) and p.get("type") in TEXT_PARTS]
    if any(isinstance(p.get("text"), dict) for p in parts):
        texts = [str(p["text"].get("value", "")) for p in parts if isinstance(p.get("text"), dict)]
        notes = [n for p in parts if isinstance(p.get("text"), dict) for n in p["text"].get("annotations") or []]
        text = "\n".join(texts)
    else:
        notes = [n for p in parts for n in p.get("annotations") or []]
        text = " ".join(str(p.get("text", "")) for p in parts).strip()
    return text, [c for c in map(_citation, notes) if c is not None]


def thread_message_item(message: dict[str, Any], *, standalone: str | None = None,
                        sources: list[dict[str, Any]] | None = None) -> Item:
    """An Assistants ``thread.message`` as an item of its thread."""
    text, cited = _parts(message.get("content"))
    return Item(conversation_id=message["thread_id"], id=message["id"], kind="message", role=message.get("role"),
                content=text, status=message.get("status", "completed"), citations=cited, sources=sources or [],
                standalone=standalone, run_id=message.get("run_id"),
                created_at=float(message.get("created_at") or time.time()), body=message)


def response_item(conversation_id: str, item: dict[str, Any], *, standalone: str | None = None,
                  sources: list[dict[str, Any]] | None = None, response_id: str | None = None,
                  created_at: float | None = None) -> Item:
    """A Responses item (a message, a ``file_search_call``, a function call or its output) as an
    item of a conversation."""
    kind = item.get("type", "message")
    if kind not in ITEM_KINDS:
        raise ValueError(f"a conversation holds {', '.join(ITEM_KINDS)} items, not {kind!r}")
    text, cited, tool = "", [], None
    if kind == "message":
        text, cited = _parts(item.get("content"))
    elif kind == "file_search_call":
        results = item.get("results")
        tool = ToolCall(item["id"], "file_search", json.dumps(item.get("queries") or []),
                        json.dumps(results) if results is not None else None)
    elif kind == "function_call":
        tool = ToolCall(item["call_id"], item.get("name"), item.get("arguments"))
    else:
        output = item.get("output")
        tool = ToolCall(item["call_id"], output=output if isinstance(output, str) else json.dumps(output))
    return Item(conversation_id=conversation_id, id=item["id"], kind=kind, role=item.get("role"), content=text,
                status=item.get("status", "completed"), tool=tool, citations=cited, sources=sources or [],
                standalone=standalone, response_id=response_id,
                created_at=float(created_at if created_at is not None else time.time()), body=item)
