"""Assistants v2 over the user's documents: assistants, threads, messages, runs and run steps.

The routers of the threads API are gathered here so the application mounts one router. An
assistant is stored as the API object; it belongs to the key that created it (another key gets
404). Its ``model`` is kept as given and resolved when a run starts
(:func:`ragkit.server.assistant_params.run_model`); its ``response_format`` is stored in chat
completions' shape and checked against that model (:mod:`ragkit.server.structured`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ragkit.server import conversations_api, runs, threads
from ragkit.server.assistant_params import AssistantBody, assistant_for, check_resources, check_tools, run_model
from ragkit.server.auth import reader
from ragkit.server.errors import bad_request
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.shapes import ListQuery, cursor_page
from ragkit.server.state import ServerContext, context
from ragkit.server.structured import requested
from ragkit.state import assistants as adb
from ragkit.state.tables import now

router = APIRouter(route_class=JsonRoute)
assistants = APIRouter(route_class=JsonRoute, prefix="/v1/assistants", tags=["assistants"])
TABLE = adb.ASSISTANTS


def _apply(ctx: ServerContext, principal: Principal, obj: dict[str, Any], body: AssistantBody) -> dict[str, Any]:
    given = body.model_fields_set
    for field in ("model", "name", "description", "instructions", "temperature", "top_p"):
        if field in given:
            obj[field] = getattr(body, field)
    if "tools" in given:
        obj["tools"] = check_tools(body.tools or [])
    if "tool_resources" in given:
        obj["tool_resources"] = check_resources(ctx, principal, body.tool_resources)
    if "metadata" in given:
        obj["metadata"] = body.metadata or {}
    if "response_format" in given:
        obj["response_format"] = body.response_format or "auto"
    if not obj.get("model"):
        raise bad_request("An assistant needs a model.", "model")
    # its runs answer in the format: a model that cannot (the extractive answerer) is a 400 now,
    # when the model or the format is set, not at every run
    if "model" in given or "response_format" in given:
        requested(obj.get("response_format"), "response_format", run_model(ctx, obj["model"])[1])
    return obj


@assistants.post("")
def create_assistant(body: AssistantBody, ctx: ServerContext = Depends(context),
                     principal: Principal = Depends(reader)) -> dict[str, Any]:
    obj = {"id": adb.new_id("asst"), "object": "assistant", "created_at": now(), "name": None,
           "description": None, "model": None, "instructions": None, "tools": [], "tool_resources": {},
           "metadata": {}, "temperature": None, "top_p": None, "response_format": "auto"}
    return adb.insert(ctx.db, TABLE, _apply(ctx, principal, obj, body), principal.id)


@assistants.get("")
def list_assistants(query: Annotated[ListQuery, Query()], ctx: ServerContext = Depends(context),
                    principal: Principal = Depends(reader)) -> dict[str, Any]:
    return cursor_page(lambda: adb.owned_page(ctx.db, TABLE, principal.id, query), query, adb.body_of)


@assistants.get("/{assistant_id}")
def retrieve_assistant(assistant_id: str, ctx: ServerContext = Depends(context),
                       principal: Principal = Depends(reader)) -> dict[str, Any]:
    return assistant_for(ctx, principal, assistant_id)


@assistants.post("/{assistant_id}")
def update_assistant(assistant_id: str, body: AssistantBody, ctx: ServerContext = Depends(context),
                     principal: Principal = Depends(reader)) -> dict[str, Any]:
    obj = assistant_for(ctx, principal, assistant_id)
    return adb.replace(ctx.db, TABLE, _apply(ctx, principal, obj, body))


@assistants.delete("/{assistant_id}")
def delete_assistant(assistant_id: str, ctx: ServerContext = Depends(context),
                     principal: Principal = Depends(reader)) -> dict[str, Any]:
    assistant_for(ctx, principal, assistant_id)
    adb.delete(ctx.db, TABLE, assistant_id)
    return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}


for part in (assistants, runs.router, threads.router, conversations_api.router):  # /threads/runs before /threads/{id}
    router.include_router(part)
