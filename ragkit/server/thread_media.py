"""Images in Assistants messages: ``image_url`` and ``image_file`` parts, kept as OpenAI's content
blocks and read by the chat model.

A message's ``content`` may hold, beside ``text`` parts, ``image_url`` parts (an https address or
a ``data:image/...`` URL) and ``image_file`` parts (the ``file_id`` of an uploaded PNG, JPEG, GIF
or WebP the key may see), each with an optional ``detail``. They are stored and returned as
OpenAI's blocks, in the order sent, with ``detail`` ``auto`` when none was given (OpenAI's
default). As on OpenAI a message may be images alone; a message with neither text nor an image
is a 400.

Only a chat model reads an image; ragkit's extractive answerer reads text. So an image part is
refused, with a 400 naming it (``content[1]``, ``messages[0].content[1]``,
``additional_messages[0].content[1]``), when no run could read it: when the message is created on
a server with no chat model, or sent in a run's ``additional_messages`` (or a new thread's
messages) for a run whose model is ``ragkit-extractive``. A ``ragkit-extractive`` run over a
thread whose recent user messages already hold images is a 400 naming ``model``. Images are read
in user messages: chat completions, which the chat model speaks, carry none in an assistant's.

A run that reads images (the question's message, or the earlier turns it continues) answers in
the tool loop (:mod:`ragkit.server.run_engine`), whose chat carries each user message's parts in
chat completions' shape (:func:`chat_turns`). An ``image_file`` part stays a reference in the
run's saved state and is sent as a ``data:`` URL of the file's bytes (:func:`upstream`), so the
state never holds the bytes, and a run paused for tool outputs reads them again when it resumes.
Before the model is asked, the question's text -- made standalone from the thread's history, or,
for a message of images alone, the text of the recent turns -- is searched over the run's stores
(:func:`search_query`), as chat completions search first beside images, so the answer cites the
documents with checked ``[n]``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Mapping, Sequence

from ragkit.answer import opening_messages
from ragkit.conversations.messages import MediaPart
from ragkit.errors import RagkitError
from ragkit.library.file_bytes import ContentMissing
from ragkit.library.history import Pairs, thread_turns, unanswered
from ragkit.server.auth import file_for
from ragkit.server.errors import ApiError, bad_request
from ragkit.server.keys import Principal
from ragkit.server.meta import EXTRACTIVE
from ragkit.server.response_media import refuse_offline
from ragkit.server.state import ServerContext
from ragkit.state import assistants as adb
from ragkit.state.conversation_model import Item

IMAGE_PARTS = ("image_url", "image_file")
DETAILS = ("auto", "low", "high")
#: the largest image a message may hold: OpenAI's limit for an image input. Each is sent to the
#: model as base64 on every request of a run, so a larger upload would only be refused upstream
IMAGE_LIMIT = 20 * 1024 * 1024
URLS = ("https://", "http://", "data:image/")
#: the image formats vision models read, known by their files' first bytes (WebP: RIFF....WEBP)
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
               (b"GIF89a", "image/gif"))


@dataclass(frozen=True)
class Content:
    """A message's content as checked: its text (text parts joined by newlines, as a run reads a
    thread), the blocks the message object returns, and where its image parts are."""

    text: str
    blocks: list[dict[str, Any]]
    images: list[MediaPart]


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": text, "annotations": []}}


def message_content(ctx: ServerContext, principal: Principal, content: str | list[dict[str, Any]], param: str,
                    role: str, vision: bool) -> Content:
    """``content`` checked and made into the message's blocks; ``vision``: whether a chat model can
    read the images (else an image part is the 400 naming it)."""
    if isinstance(content, str):
        blocks, texts, images = [text_block(content)], [content], []
    else:
        blocks, texts, images = [], [], []
        for i, part in enumerate(content):
            where = f"{param}[{i}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(str(part.get("text", "")))
                blocks.append(text_block(texts[-1]))
                continue
            if kind not in IMAGE_PARTS:
                shown = kind if isinstance(part, dict) else type(part).__name__
                raise bad_request(f"Content part type {shown!r} is not supported: use 'text', 'image_url' or "
                                  "'image_file' parts.", f"{where}.type" if isinstance(part, dict) else where)
            images.append(MediaPart(where, kind))
            if role != "user":
                raise bad_request(f"{where} is an {kind!r} part in a message with role {role!r}: images are read "
                                  "in user messages only (chat models take none from the assistant).", where)
            if not vision:
                refuse_offline(images, "text")
            if kind == "image_url":
                blocks.append(_image_url(part.get("image_url"), f"{where}.image_url"))
            else:
                blocks.append(_image_file(ctx, principal, part.get("image_file"), f"{where}.image_file"))
    text = "\n".join(texts)
    if not text.strip() and not images:
        raise bad_request("A message needs non-empty text content (or an image_url or image_file part).", param)
    return Content(text, blocks, images)


def _detail(raw: Mapping[str, Any], where: str) -> str:
    detail = raw.get("detail") or "auto"
    if detail not in DETAILS:
        raise bad_request(f"Invalid value for 'detail': {detail!r}. Use 'auto', 'low' or 'high'.", f"{where}.detail",
                          "invalid_value")
    return detail


def _image_url(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_request("An image_url part needs image_url: {'url': ..., 'detail': ...}.", where,
                          "missing_required_parameter")
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(URLS):
        raise bad_request("Invalid image URL: give an https:// address or a data:image/...;base64,... URL (an "
                          "uploaded image is an image_file part with its file_id).", f"{where}.url", "invalid_value")
    return {"type": "image_url", "image_url": {"url": url, "detail": _detail(raw, where)}}


def _image_file(ctx: ServerContext, principal: Principal, raw: Any, where: str) -> dict[str, Any]:
    file_id = raw.get("file_id") if isinstance(raw, dict) else None
    if not isinstance(file_id, str) or not file_id:
        raise bad_request("An image_file part needs image_file.file_id: the id of an uploaded image "
                          "(POST /v1/files, purpose 'vision').", f"{where}.file_id", "missing_required_parameter")
    row = file_for(ctx, principal, file_id, f"{where}.file_id")
    if row["bytes"] > IMAGE_LIMIT:
        raise bad_request(f"File '{file_id}' ({row['filename']}) is {row['bytes'] / 2**20:.1f} MB; an image a model reads "
                          f"may be at most {IMAGE_LIMIT // 2**20} MB: upload a smaller image.", f"{where}.file_id",
                          "invalid_value")
    try:
        mime = image_type(ctx, row)
    except ContentMissing:
        raise ApiError(404, f"The content of file '{file_id}' is missing on the server.", param=f"{where}.file_id",
                       code="not_found") from None
    if mime is None:
        raise bad_request(f"File '{file_id}' ({row['filename']}) is not a PNG, JPEG, GIF or WebP image, the images "
                          "a chat model reads: upload one of those.", f"{where}.file_id", "invalid_value")
    return {"type": "image_file", "image_file": {"file_id": file_id, "detail": _detail(raw, where)}}


def image_type(ctx: ServerContext, row: Mapping[str, Any]) -> str | None:
    """The MIME type of an uploaded image, from its first bytes (None: not an image a model reads);
    :class:`ContentMissing` when its bytes are gone (a file deleted meanwhile included)."""
    try:
        with open(ctx.library.files.materialize(row["path"]), "rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        raise ContentMissing(row["id"]) from None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for signature, mime in _SIGNATURES if head.startswith(signature)), None)


# -- runs -------------------------------------------------------------------------------------
def _bodies(ctx: ServerContext, thread_id: str) -> dict[int, dict[str, Any]]:
    """The thread's message objects by their place (a history turn's ``id``)."""
    return {item.seq: item.body for item in adb.thread_messages(ctx.db, thread_id) if item.body}


def _images(body: Mapping[str, Any] | None) -> list[tuple[int, str]]:
    return [(j, block["type"]) for j, block in enumerate((body or {}).get("content") or [])
            if isinstance(block, dict) and block.get("type") in IMAGE_PARTS]


def run_images(ctx: ServerContext, thread_id: str, keep: int | None) -> list[MediaPart]:
    """The image parts of the user messages a run reads (its question and the turns it
    continues, ``keep``: the run's ``last_messages``), each named by its message."""
    question, pairs = thread_turns(ctx.library, thread_id, keep)
    if question is None:
        return []
    bodies = _bodies(ctx, thread_id)
    users = ([question.body] + [item.body for item in unanswered(ctx.library, thread_id, keep)]
             + [bodies.get(user.id) for user, _ in pairs])
    return [MediaPart(f"message {body['id']} content[{j}]", kind) for body in users if body
            for j, kind in _images(body)]


def refuse_extractive(ctx: ServerContext, images: list[MediaPart]) -> None:
    """A ``ragkit-extractive`` run over a thread holding images: a 400 naming ``model``."""
    part = images[0]
    fix = (f"run with the chat model ('{ctx.chat_model}')" if ctx.chat_model else
           "start ragkit serve with one (RAGKIT_MODEL, RAGKIT_BASE_URL)")
    raise bad_request(f"The thread's {part.where} is an {part.kind!r} part: reading it needs a vision-capable chat "
                      f"model, and this run's model, {EXTRACTIVE}, reads text only: {fix}.", "model")


def chat_content(body: Mapping[str, Any] | None, text: str) -> str | list[dict[str, Any]]:
    """A user message as the chat model reads it: its ``text``, or, when it holds images, its
    parts in chat completions' shape (an ``image_file`` still a reference: see :func:`upstream`)."""
    blocks = (body or {}).get("content") or []
    if not _images(body):
        return text
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("type") == "text":
            parts.append({"type": "text", "text": block["text"]["value"]})
        elif block.get("type") in IMAGE_PARTS:
            parts.append({"type": block["type"], block["type"]: dict(block[block["type"]])})
    return parts


def chat_turns(ctx: ServerContext, thread_id: str, system: str, question: Item, history: Pairs,
               keep: int | None = None) -> list[dict[str, Any]]:
    """The chat a run's tool loop starts from: ``system``, the ``history`` turns, the user messages
    no answer follows yet (:func:`ragkit.library.history.unanswered`) and the question, each user
    message with its images; ``keep``: the run's ``last_messages``."""
    waiting = unanswered(ctx.library, thread_id, keep)
    chat = (opening_messages(system, history) + [{"role": "user", "content": item.content} for item in waiting]
            + [{"role": "user", "content": question.content}])
    bodies = _bodies(ctx, thread_id) | {item.seq: item.body for item in waiting} | {question.seq: question.body}
    places = [user.id for user, _ in history] + [item.seq for item in waiting] + [question.seq]
    for message, place in zip([m for m in chat if m["role"] == "user"], places):
        message["content"] = chat_content(bodies.get(place), message["content"])
    return chat


def search_query(ctx: ServerContext, thread_id: str, keep: int | None) -> str | None:
    """What a run with images searches before the model is asked: the question's text made
    standalone from the history (kept as the message's search query, so a follow-up is rewritten
    from it), or, for a question of images alone, the last earlier question's; None when the
    thread has no text to search."""
    question, history = thread_turns(ctx.library, thread_id, keep)
    if question is None:
        return None
    said = "\n".join(item.content for item in unanswered(ctx.library, thread_id, keep) if item.content.strip())
    if question.content.strip():
        query = ctx.library.follow_up(question.content, history)[0].query
    elif said:  # images alone, after text no answer follows yet: that text is the question
        query = ctx.library.follow_up(said, history)[0].query
    else:
        query = next((user.standalone or user.content for user, _ in reversed(history)
                      if (user.standalone or user.content).strip()), None)
    if query and question.body:
        adb.update_message(ctx.db, question.body, standalone=query)
    return query


# -- the model's requests -----------------------------------------------------------------------
class _ImageFiles:
    """An upstream client whose chat requests carry each ``image_file`` part as an ``image_url``
    part holding a ``data:`` URL of the file's bytes (the only form a chat model takes)."""

    def __init__(self, client: Any, urls: Mapping[str, str]) -> None:
        self._client, self._urls = client, urls
        self.chat = SimpleNamespace(completions=self)

    def create(self, **request: Any) -> Any:
        request["messages"] = [self._shown(m) for m in request["messages"]]
        return self._client.chat.completions.create(**request)

    def _shown(self, message: dict[str, Any]) -> dict[str, Any]:
        content = message.get("content")
        if not isinstance(content, list):
            return message
        return {**message, "content": [
            {"type": "image_url", "image_url": {"url": self._urls[p["image_file"]["file_id"]],
                                                "detail": p["image_file"].get("detail") or "auto"}}
            if isinstance(p, dict) and p.get("type") == "image_file" else p for p in content]}


def upstream(ctx: ServerContext, messages: Sequence[Mapping[str, Any]]) -> Any:
    """The chat model's client for a run's chat ``messages``: the files of their ``image_file``
    parts are read now (one deleted since is a :class:`RagkitError` that fails the run, naming it)
    and sent as ``data:`` URLs with their MIME type."""
    ids = {p["image_file"]["file_id"] for m in messages if isinstance(m.get("content"), list)
           for p in m["content"] if isinstance(p, dict) and p.get("type") == "image_file"}
    client = ctx.library.upstream()
    return _ImageFiles(client, {file_id: data_url(ctx, file_id) for file_id in ids}) if ids else client


def data_url(ctx: ServerContext, file_id: str) -> str:
    """An uploaded image as a ``data:`` URL of its bytes and MIME type."""
    row = ctx.db.file(file_id)
    try:
        mime = image_type(ctx, row) if row is not None else None
        if mime is None:
            raise ContentMissing(file_id)
        data = ctx.library.files.materialize(row["path"]).read_bytes()  # type: ignore[index]
    except (ContentMissing, FileNotFoundError):
        raise RagkitError(f"The image file '{file_id}' of the thread's messages was deleted: add the image "
                          "again in a new message.") from None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
