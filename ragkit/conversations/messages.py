"""A conversation as a chat-completions client sends it: the ``messages`` list, read once.

A client that speaks chat completions keeps the conversation itself and sends all of it with
every request. What ragkit needs from it is what a stored thread gives: the question (the last
user message's text), the earlier (question, answer) pairs the follow-up continues -- so the
condenser of threads and Responses (:func:`ragkit.conversations.session.standalone_question`)
makes it standalone the same way -- and the parts that are not text (images, audio, files),
which only a chat model can read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ragkit.conversations.store import Message

#: content parts that carry text, in chat completions and in Responses
TEXT_PARTS = ("text", "input_text", "output_text")


@dataclass(frozen=True)
class MediaPart:
    """A content part that is not text, and where it is in the request (``messages[2].content[1]``)."""

    where: str
    kind: str


def content_text(content: Any) -> str:
    """The text of a message's content: the string, or its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content
                        if isinstance(p, dict) and p.get("type") in TEXT_PARTS).strip()
    return ""


def media_parts(messages: Sequence[Mapping[str, Any]], param: str = "messages") -> list[MediaPart]:
    """Every content part that is not text (``image_url``, ``input_image``, ``input_audio``,
    ``file``...), in order."""
    found = []
    for i, message in enumerate(messages):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            if kind not in TEXT_PARTS:
                found.append(MediaPart(f"{param}[{i}].content[{j}]", str(kind)))
    return found


def _said(role: str, text: str) -> Message:
    return Message(id=0, thread_id="", role=role, content=text, created_at=0.0)  # type: ignore[arg-type]


def conversation_turns(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[tuple[Message, Message]]]:
    """The question (the last user message's text) and the earlier (question, answer) pairs,
    oldest first. An assistant message without text (only tool calls) answers nothing; a user
    message no answer followed (asked twice in a row) is dropped, as a thread would."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    if last_user < 0:
        return "", []
    pairs: list[tuple[Message, Message]] = []
    pending: Message | None = None
    for message in messages[:last_user]:
        role, text = message.get("role"), content_text(message.get("content")).strip()
        if role == "user" and text:
            pending = _said("user", text)
        elif role == "assistant" and text and pending is not None:
            pairs.append((pending, _said("assistant", text)))
            pending = None
    return content_text(messages[last_user].get("content")).strip(), pairs
