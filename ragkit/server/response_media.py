"""``/v1/responses`` with images and files in ``input``: the chat model reads them.

A Responses message may hold ``input_image`` parts (``image_url``: an https address or a
``data:`` URL, and ``detail``) and ``input_file`` parts beside its text. ragkit's offline answerer
reads text only, so without a chat model such a part is a 400 that names it
(``input[0].content[1]``). With one, the request goes through the same tool loop as chat
completions with media parts (:func:`ragkit.server.chat_tools.run_chat_tools`): the parts are
written in the chat-completions shape the upstream model expects (``image_url``, ``file``), the
question's text parts -- made standalone from the history -- are searched first, and the answer
comes back as the usual ``file_search_call`` item and cited message, or, with ``text.format``,
as the model's JSON or a refusal part (:mod:`ragkit.server.structured`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ragkit.conversations.messages import TEXT_PARTS, MediaPart, content_text, media_parts
from ragkit.library.answering import Grounded
from ragkit.library.filters import Filter
from ragkit.library.history import Pairs, conversation_history, response_history
from ragkit.server.chat_tools import run_chat_tools
from ragkit.server.errors import bad_request
from ragkit.server.meta import EXTRACTIVE
from ragkit.server.state import ServerContext

FILE_KEYS = ("file_data", "file_id", "filename")


def input_media(items: str | Sequence[Mapping[str, Any]]) -> list[MediaPart]:
    """The parts of ``input``'s messages that are not text, each with where it is."""
    if isinstance(items, str):
        return []
    messages = [item if item.get("type", "message") == "message" else {} for item in items]
    return media_parts(messages, "input")


def refuse_offline(media: list[MediaPart], text_part: str = "input_text") -> None:
    """Without a chat model nothing can read an image or a file: a 400 naming the first part
    (``text_part``: the surface's text part type, what the question can be sent as instead)."""
    part = media[0]
    raise bad_request(f"{part.where} is an {part.kind!r} part: reading it needs a vision-capable chat model "
                      f"(start ragkit serve with one: RAGKIT_MODEL, RAGKIT_BASE_URL); {EXTRACTIVE} reads "
                      f"text only. Send the question as {text_part} parts.", part.where)


def chat_part(part: Any, where: str) -> dict[str, Any]:
    """One Responses content part as chat completions writes it."""
    if not isinstance(part, dict):
        raise bad_request("A content part must be an object.", where)
    kind = part.get("type")
    if kind in TEXT_PARTS:
        return {"type": "text", "text": str(part.get("text", ""))}
    if kind == "input_image":
        if not isinstance(part.get("image_url"), str) or not part["image_url"]:
            raise bad_request("An input_image part needs image_url (an https address or a data: URL); "
                              "file_id images are not supported.", f"{where}.image_url")
        image = {"url": part["image_url"]} | ({"detail": part["detail"]} if part.get("detail") else {})
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        file = {key: part[key] for key in FILE_KEYS if part.get(key)}
        if "file_data" not in file and "file_id" not in file:
            raise bad_request("An input_file part needs file_data (a data: URL or base64) or file_id.", where)
        return {"type": "file", "file": file}
    return dict(part)  # another kind (input_audio...): as sent, for the model to read or refuse


def chat_messages(items: str | Sequence[Mapping[str, Any]], history: Pairs) -> list[dict[str, Any]]:
    """The history's turns, then ``input``'s user and assistant messages with their parts converted
    (system and developer messages are instructions, passed apart)."""
    chat: list[dict[str, Any]] = []
    for question, answer in history:
        chat += [{"role": "user", "content": question.content}, {"role": "assistant", "content": answer.content}]
    raw = [{"role": "user", "content": items}] if isinstance(items, str) else list(items)
    for i, item in enumerate(raw):
        role, content = item.get("role"), item.get("content")
        if item.get("type", "message") != "message" or role not in ("user", "assistant"):
            continue
        if role == "user" and isinstance(content, list):
            content = [chat_part(p, f"input[{i}].content[{j}]") for j, p in enumerate(content)]
        elif role == "assistant":
            content = content_text(content)
        chat.append({"role": role, "content": content})
    return chat


def instructions_of(body: Any) -> str | None:
    """``instructions`` and the text of ``input``'s system and developer messages."""
    said = [body.instructions or ""] + [content_text(item.get("content")) for item in
                                        (body.input if isinstance(body.input, list) else [])
                                        if item.get("role") in ("system", "developer")]
    return "\n".join(s for s in said if s).strip() or None


def answer_with_media(ctx: ServerContext, owner: str, body: Any, *, model: str, query: str,
                      stores: list[dict[str, Any]], k: int, node: Filter | None = None,
                      retrieval: dict[str, Any] | None = None,
                      response_format: dict[str, Any] | None = None) -> Grounded | None:
    """The chat model's answer to ``input`` with its parts, ``query`` searched first (None when
    the model ended without an answer); with ``response_format`` (``text.format`` in chat
    completions' shape) the answer is the model's JSON or a refusal, as over the tool loop."""
    history: Pairs = []
    if body.previous_response_id:
        history = response_history(ctx.library, owner, body.previous_response_id)
    elif body.conversation_id:
        history = conversation_history(ctx.library, body.conversation_id)
    turn = run_chat_tools(ctx, chat_messages(body.input, history), model=model, stores=stores, k=k,
                          functions=[], tool_choice="auto", instructions=instructions_of(body), query=query,
                          temperature=body.temperature, max_tokens=body.max_output_tokens, node=node,
                          retrieval=retrieval, response_format=response_format)
    return turn.grounded
