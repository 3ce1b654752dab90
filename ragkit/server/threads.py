"""``/v1/threads`` and their messages: create (with initial messages), retrieve, update, delete.

A thread belongs to the key that created it. Its messages are stored with the standalone query
each question was searched as and the passages each answer came from, so the next follow-up in
the thread is rewritten from them (see :mod:`ragkit.server.run_engine`). Messages cannot be added
while a run of the thread is active, as with OpenAI: the run answers the last user message.
A message's content is text and images (``image_url``, ``image_file``), checked and kept as
OpenAI's blocks by :mod:`ragkit.server.thread_media`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ragkit.server.assistant_params import (
    MessageBody, MetadataBody, ThreadBody, check_resources, store_ids, thread_for,
)
from ragkit.server.auth import file_for, reader
from ragkit.server.errors import ApiError, bad_request, not_found
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.shapes import ListQuery, cursor_page
from ragkit.server.state import ServerContext, context
from ragkit.server.thread_media import message_content
from ragkit.server.thread_objects import message_object
from ragkit.server.vector_stores import new_store_id
from ragkit.state import assistants as adb
from ragkit.state.tables import now

router = APIRouter(route_class=JsonRoute, prefix="/v1/threads", tags=["threads"])


def add_messages(ctx: ServerContext, principal: Principal, thread_id: str, messages: list[MessageBody],
                 param: str = "messages", vision: bool | None = None) -> list[dict[str, Any]]:
    """Check every message first (text and image content, attached files the key may see), then
    store them. ``vision``: whether the run to come can read images (by default, whether the
    server has a chat model); when not, an image part is a 400 naming it."""
    made, searched = [], []
    vision = ctx.chat_model is not None if vision is None else vision
    for i, m in enumerate(messages):
        where = f"{param}[{i}]" if param else ""
        content = message_content(ctx, principal, m.content, f"{where}.content" if where else "content", m.role,
                                  vision)
        attachments = []
        for j, attachment in enumerate(m.attachments or []):
            file_id = str(attachment.get("file_id"))
            at = f"{where + '.' if where else ''}attachments[{j}]"
            file_for(ctx, principal, file_id, f"{at}.file_id")
            tools = attachment.get("tools") or []
            for k, tool in enumerate(tools):
                kind = tool.get("type") if isinstance(tool, dict) else None
                if kind != "file_search":
                    raise bad_request(f"Attachment tool {kind!r} is not supported: ragkit searches attached files "
                                      "with file_search (code_interpreter is not served).", f"{at}.tools[{k}].type")
            if any(isinstance(t, dict) and t.get("type") == "file_search" for t in tools):
                if not principal.allows("write"):
                    raise ApiError(403, "Attaching files for file_search indexes them: this needs a key with "
                                        "scope 'write'.", param=at, code="insufficient_scope")
                searched.append(file_id)
            attachments.append({"file_id": file_id, "tools": tools})
        made.append(message_object(thread_id, m.role, content.text, metadata=m.metadata, attachments=attachments,
                                   blocks=content.blocks))
    if searched:
        _attach(ctx, principal, thread_id, searched)
    return [adb.add_message(ctx.db, m) for m in made]


def _attach(ctx: ServerContext, principal: Principal, thread_id: str, file_ids: list[str]) -> None:
    """Files attached for file_search go into the thread's own vector store (made on first use,
    expiring 7 days after its last use, as OpenAI's thread stores do); runs wait for them."""
    thread = thread_for(ctx, principal, thread_id)
    own = thread.get("attachments_vector_store")
    if own is None:
        own, stamp = new_store_id(), now()
        ctx.db.insert_store({"id": own, "name": f"attachments of {thread_id}", "description": None,
                             "created_at": stamp, "last_active_at": stamp, "metadata": None,
                             "expires_after": json.dumps({"anchor": "last_active_at", "days": 7}),
                             "chunk_size": ctx.settings.chunk_size, "chunk_overlap": ctx.settings.chunk_overlap,
                             "created_by": principal.id})
        thread["attachments_vector_store"] = own
        thread["tool_resources"] = {"file_search": {"vector_store_ids": store_ids(thread["tool_resources"]) + [own]}}
        adb.replace(ctx.db, adb.THREADS, thread)
    ctx.db.attach(own, list(dict.fromkeys(file_ids)), {})
    ctx.library.wake()


def create_thread(ctx: ServerContext, principal: Principal, body: ThreadBody, param: str = "",
                  vision: bool | None = None) -> dict[str, Any]:
    resources = check_resources(ctx, principal, body.tool_resources, f"{param}tool_resources")
    thread = {"id": adb.new_id("thread"), "object": "thread", "created_at": now(),
              "metadata": body.metadata or {}, "tool_resources": resources}
    adb.insert(ctx.db, adb.THREADS, thread, principal.id)
    add_messages(ctx, principal, thread["id"], body.messages, f"{param}messages", vision)
    return thread


@router.post("")
def create(body: ThreadBody | None = None, ctx: ServerContext = Depends(context),
           principal: Principal = Depends(reader)) -> dict[str, Any]:
    return create_thread(ctx, principal, body or ThreadBody())


@router.get("/{thread_id}")
def retrieve(thread_id: str, ctx: ServerContext = Depends(context),
             principal: Principal = Depends(reader)) -> dict[str, Any]:
    return thread_for(ctx, principal, thread_id)


@router.post("/{thread_id}")
def update(thread_id: str, body: MetadataBody, ctx: ServerContext = Depends(context),
           principal: Principal = Depends(reader)) -> dict[str, Any]:
    thread = thread_for(ctx, principal, thread_id)
    if "metadata" in body.model_fields_set:
        thread["metadata"] = body.metadata or {}
    if "tool_resources" in body.model_fields_set:
        thread["tool_resources"] = check_resources(ctx, principal, body.tool_resources)
    return adb.replace(ctx.db, adb.THREADS, thread)


@router.delete("/{thread_id}")
def delete(thread_id: str, ctx: ServerContext = Depends(context),
           principal: Principal = Depends(reader)) -> dict[str, Any]:
    thread_for(ctx, principal, thread_id)
    adb.delete(ctx.db, adb.THREADS, thread_id)
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}


# -- messages -----------------------------------------------------------------------------------
@router.post("/{thread_id}/messages")
def create_message(thread_id: str, body: MessageBody, ctx: ServerContext = Depends(context),
                   principal: Principal = Depends(reader)) -> dict[str, Any]:
    thread_for(ctx, principal, thread_id)
    try:
        with adb.idle_thread(ctx.db, thread_id):  # no run can start between the check and the insert
            added = add_messages(ctx, principal, thread_id, [body], "")[0]
    except adb.ActiveRun as exc:
        raise bad_request(f"Can't add messages to {thread_id} while a run {exc.run_id} is active.",
                          "thread_id") from None
    if body.attachments:
        ctx.library.wake()  # files attached for file_search are committed now
    return added


@router.get("/{thread_id}/messages")
def list_messages(thread_id: str, query: Annotated[ListQuery, Query()], run_id: str | None = None,
                  ctx: ServerContext = Depends(context), principal: Principal = Depends(reader)) -> dict[str, Any]:
    thread_for(ctx, principal, thread_id)
    return cursor_page(lambda: adb.messages_page(ctx.db, thread_id, query, run_id), query, adb.body_of)


def _message(ctx: ServerContext, principal: Principal, thread_id: str, message_id: str) -> dict[str, Any]:
    thread_for(ctx, principal, thread_id)
    found = adb.message(ctx.db, thread_id, message_id)
    if found is None:
        raise not_found("message", message_id)
    return found


@router.get("/{thread_id}/messages/{message_id}")
def retrieve_message(thread_id: str, message_id: str, ctx: ServerContext = Depends(context),
                     principal: Principal = Depends(reader)) -> dict[str, Any]:
    return _message(ctx, principal, thread_id, message_id)


@router.post("/{thread_id}/messages/{message_id}")
def update_message(thread_id: str, message_id: str, body: MetadataBody, ctx: ServerContext = Depends(context),
                   principal: Principal = Depends(reader)) -> dict[str, Any]:
    found = _message(ctx, principal, thread_id, message_id)
    found["metadata"] = body.metadata or {}
    return adb.update_message(ctx.db, found)


@router.delete("/{thread_id}/messages/{message_id}")
def delete_message(thread_id: str, message_id: str, ctx: ServerContext = Depends(context),
                   principal: Principal = Depends(reader)) -> dict[str, Any]:
    _message(ctx, principal, thread_id, message_id)
    adb.remove_message(ctx.db, message_id)
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}
