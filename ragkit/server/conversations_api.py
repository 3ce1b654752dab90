"""``/v1/conversations`` (create, retrieve, update, delete; items list, create, retrieve, delete)
and the stored responses (``GET``/``DELETE /v1/responses/{id}``; ``GET`` with ``stream=true``
replays the response's event stream).

A conversation belongs to the key that created it. Its items are messages and tool calls: those
a client adds (messages, ``function_call``, ``function_call_output`` and ``file_search_call``
items, as an agent that keeps its memory in a conversation adds each turn) and those
``/v1/responses`` adds when called with ``conversation=`` (the input, the ``file_search_call`` and
the answer). The answers' passages and the queries searched are kept
with the items, so the next follow-up is rewritten from them (:mod:`ragkit.library.history`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import Field, field_validator

from ragkit.errors import InvalidParameter
from ragkit.server.auth import reader
from ragkit.server.errors import bad_request, not_found
from ragkit.library.history import add_items, conversation_for, conversation_item, stored_response
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.params import Body, check_metadata
from ragkit.server.response_events import replay, streaming
from ragkit.server.shapes import ListQuery, cursor_page
from ragkit.server.state import ServerContext, context
from ragkit.state import assistants as adb
from ragkit.state import responses as stored
from ragkit.state.tables import now

router = APIRouter(route_class=JsonRoute, tags=["conversations"])
PREFIX = "/v1/conversations"


class ConversationBody(Body):
    items: list[Any] | None = Field(None, max_length=20)
    metadata: dict[str, Any] | None = None
    safety_identifier: str | None = None  # OpenAI's abuse monitoring; accepted, not used

    _meta = field_validator("metadata")(check_metadata)


class ItemsBody(Body):
    items: list[Any] = Field(min_length=1, max_length=20)


def _items(raw: list[Any]) -> list[dict[str, Any]]:
    return [conversation_item(item, f"items[{i}]") for i, item in enumerate(raw)]


@router.post(PREFIX)
def create_conversation(body: ConversationBody | None = None, ctx: ServerContext = Depends(context),
                        principal: Principal = Depends(reader)) -> dict[str, Any]:
    body = body or ConversationBody()
    items = _items(body.items or [])
    conversation = {"id": adb.new_id("conv"), "object": "conversation", "created_at": now(),
                    "metadata": body.metadata or {}}
    adb.insert(ctx.db, adb.CONVERSATIONS, conversation, principal.id)
    try:
        add_items(ctx.library, conversation["id"], items)
    except InvalidParameter:  # a repeated item id: the request fails whole, no empty conversation is left
        adb.delete(ctx.db, adb.CONVERSATIONS, conversation["id"])
        raise
    return conversation


@router.get(PREFIX + "/{conversation_id}")
def retrieve_conversation(conversation_id: str, ctx: ServerContext = Depends(context),
                          principal: Principal = Depends(reader)) -> dict[str, Any]:
    return conversation_for(ctx.library, principal.id, conversation_id)


@router.post(PREFIX + "/{conversation_id}")
def update_conversation(conversation_id: str, body: ConversationBody, ctx: ServerContext = Depends(context),
                        principal: Principal = Depends(reader)) -> dict[str, Any]:
    conversation = conversation_for(ctx.library, principal.id, conversation_id)
    conversation["metadata"] = body.metadata or {}
    return adb.replace(ctx.db, adb.CONVERSATIONS, conversation)


@router.delete(PREFIX + "/{conversation_id}")
def delete_conversation(conversation_id: str, ctx: ServerContext = Depends(context),
                        principal: Principal = Depends(reader)) -> dict[str, Any]:
    conversation_for(ctx.library, principal.id, conversation_id)
    adb.delete(ctx.db, adb.CONVERSATIONS, conversation_id)
    return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}


@router.post(PREFIX + "/{conversation_id}/items")
def create_items(conversation_id: str, body: ItemsBody, ctx: ServerContext = Depends(context),
                 principal: Principal = Depends(reader)) -> dict[str, Any]:
    conversation_for(ctx.library, principal.id, conversation_id)
    items = add_items(ctx.library, conversation_id, _items(body.items))
    return {"object": "list", "data": items, "first_id": items[0]["id"], "last_id": items[-1]["id"],
            "has_more": False}


@router.get(PREFIX + "/{conversation_id}/items")
def list_items(conversation_id: str, query: Annotated[ListQuery, Query()], ctx: ServerContext = Depends(context),
               principal: Principal = Depends(reader)) -> dict[str, Any]:
    conversation_for(ctx.library, principal.id, conversation_id)
    return cursor_page(lambda: stored.items_page(ctx.db, conversation_id, query), query, adb.body_of)


def _item(ctx: ServerContext, conversation_id: str, item_id: str) -> dict[str, Any]:
    found = stored.item(ctx.db, conversation_id, item_id)
    if found is None:
        raise not_found("conversation item", item_id)
    return found


@router.get(PREFIX + "/{conversation_id}/items/{item_id}")
def retrieve_item(conversation_id: str, item_id: str, ctx: ServerContext = Depends(context),
                  principal: Principal = Depends(reader)) -> dict[str, Any]:
    conversation_for(ctx.library, principal.id, conversation_id)
    return _item(ctx, conversation_id, item_id)


@router.delete(PREFIX + "/{conversation_id}/items/{item_id}")
def delete_item(conversation_id: str, item_id: str, ctx: ServerContext = Depends(context),
                principal: Principal = Depends(reader)) -> dict[str, Any]:
    conversation = conversation_for(ctx.library, principal.id, conversation_id)
    _item(ctx, conversation_id, item_id)
    stored.delete_item(ctx.db, conversation_id, item_id)
    return conversation


@router.get("/v1/responses/{response_id}", response_model=None)
def retrieve_response(response_id: str, ctx: ServerContext = Depends(context), principal: Principal = Depends(reader),
                      stream: bool = False, starting_after: Annotated[int | None, Query(ge=0)] = None
                      ) -> dict[str, Any] | StreamingResponse:
    """The stored response; with ``stream=true`` replayed as its event stream (``response.created``
    ... ``response.completed``), after the event ``starting_after`` when that is given."""
    found = stored_response(ctx.library, principal.id, response_id)
    return streaming(replay(found, starting_after)) if stream else found


@router.delete("/v1/responses/{response_id}")
def delete_response(response_id: str, ctx: ServerContext = Depends(context),
                    principal: Principal = Depends(reader)) -> dict[str, Any]:
    stored_response(ctx.library, principal.id, response_id)
    stored.delete_response(ctx.db, response_id)
    return {"id": response_id, "object": "response.deleted", "deleted": True}


@router.get("/v1/responses/{response_id}/input_items")
def list_input_items(response_id: str, query: Annotated[ListQuery, Query()], ctx: ServerContext = Depends(context),
                     principal: Principal = Depends(reader)) -> dict[str, Any]:
    """The items the response was asked with: messages and function call outputs, each with an id."""
    stored_response(ctx.library, principal.id, response_id)
    return cursor_page(lambda: stored.input_items_page(ctx.db, response_id, query), query,
                       lambda row: json.loads(row["body"]))


@router.post("/v1/responses/{response_id}/cancel")
def cancel_response(response_id: str, ctx: ServerContext = Depends(context),
                    principal: Principal = Depends(reader)) -> dict[str, Any]:
    found = stored_response(ctx.library, principal.id, response_id)
    if not found.get("background"):
        raise bad_request("Only responses created with background=true can be cancelled.", "response_id")
    raise bad_request(f"Response {response_id} is already '{found.get('status')}': ragkit answers every response, "
                      "background=true too, before returning it, so there is nothing left to cancel.", "response_id")
