"""``/v1/threads/{id}/runs``: create (polled or streamed), retrieve, list, update, cancel,
``submit_tool_outputs``, run steps; and ``POST /v1/threads/runs`` (create a thread and run it).

A run is created ``queued`` and worked on in the background (:mod:`ragkit.server.run_engine`);
polling responses carry ``openai-poll-after-ms`` so ``create_and_poll`` asks again soon. With
``stream: true`` the same work runs inside the request and every step is sent as the
Assistants event stream (``thread.run.created`` ... ``thread.message.delta`` ...
``thread.run.completed``, then ``done``), the shapes the SDK's ``AssistantEventHandler`` reads.
A run left ``in_progress`` by a process that is gone (a restart) is reported ``failed``.

A run's ``response_format`` (its own, else its assistant's) is checked against the run's model and
saved in the run's state, so the answer of a run resumed by ``submit_tool_outputs`` is in it too.
Images in the turns a run reads make it a tool-loop run of the chat model, and a 400 naming
``model`` when its model is ``ragkit-extractive`` (:mod:`ragkit.server.thread_media`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from ragkit.answer import LoopState, add_tool_outputs
from ragkit.server import run_engine
from ragkit.library.answering import stream
from ragkit.server.assistant_params import (
    MetadataBody, RunBody, ThreadAndRunBody, ThreadBody, ToolOutputsBody, assistant_for, check_tools, run_model,
    store_ids, thread_for,
)
from ragkit.server.auth import reader, store_for
from ragkit.server.errors import bad_request, not_found
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.responses import _stream_error
from ragkit.server.shapes import ListQuery, cursor_page
from ragkit.server.state import ServerContext, context
from ragkit.server.structured import requested
from ragkit.server.thread_media import refuse_extractive, run_images
from ragkit.server.thread_objects import RESULT_CONTENT, function_call, render_step, run_object
from ragkit.server.threads import add_messages, create_thread
from ragkit.server.tool_calls import calls_no_tools, check_tool_choice
from ragkit.state import assistants as adb

router = APIRouter(route_class=JsonRoute, prefix="/v1/threads", tags=["runs"])


def _prepare(ctx: ServerContext, principal: Principal, thread: dict[str, Any], body: RunBody) -> dict[str, Any]:
    """Check everything a run needs before it exists, then store it ``queued``."""
    assistant = assistant_for(ctx, principal, body.assistant_id, "assistant_id")
    model, generator = run_model(ctx, body.model or assistant["model"])
    # the run's format as given, else the assistant's; asked of the model in both modes
    shown = body.response_format if body.response_format is not None else assistant.get("response_format") or "auto"
    output_format = requested(shown, "response_format", generator)
    tools = check_tools(body.tools) if body.tools is not None else assistant["tools"]
    searches = [t for t in tools if t["type"] == "file_search"]
    functions = [t["function"]["name"] for t in tools if t["type"] == "function"]
    check_tool_choice(body.tool_choice, functions, bool(searches), assistants=True)
    try:
        # the check that the thread has no active run, the additional messages and the new run
        # commit together or not at all: of concurrent creations on a thread exactly one wins
        with adb.idle_thread(ctx.db, thread["id"]):
            if body.additional_messages:
                add_messages(ctx, principal, thread["id"], body.additional_messages, "additional_messages",
                             vision=generator == "openai")
                # files they attach for file_search are in the thread's own store now, which the
                # run searches as OpenAI's does (Semantic Kernel attaches files this way)
                thread = thread_for(ctx, principal, thread["id"])
            ids = store_ids(assistant.get("tool_resources"), thread.get("tool_resources")) if searches else []
            for vs_id in ids:
                store_for(ctx, principal, vs_id, "tool_resources.file_search.vector_store_ids")
            # tool_choice "none" rules out the file_search a grounded answer starts with: the chat
            # model answers in the tool loop, told none; without one it is a 400, as on Responses
            no_tools = bool(searches) and calls_no_tools(body.tool_choice, generator)
            # images in the turns the run reads: only the chat model reads them, in the tool loop
            strategy = body.truncation_strategy
            keep = strategy.last_messages if strategy and strategy.type == "last_messages" else None
            images = run_images(ctx, thread["id"], keep)
            if images and generator != "openai":
                refuse_extractive(ctx, images)
            mode = "tools" if generator == "openai" and (functions or not ids or no_tools or images) else "grounded"
            if mode == "grounded" and not ids:
                raise bad_request("This assistant has nothing to answer from: give it a file_search tool and "
                                  "tool_resources.file_search.vector_store_ids, or attach files for file_search "
                                  "to a message (the extractive answerer quotes documents).", "assistant_id")
            if not any(m.role == "user" for m in adb.thread_messages(ctx.db, thread["id"])):
                raise bad_request("The thread has no user message to answer: add one first.", "thread_id")
            instructions = body.instructions if body.instructions is not None else (assistant.get("instructions") or "")
            if body.additional_instructions:
                instructions = f"{instructions}\n\n{body.additional_instructions}".strip()
            run = run_object(thread["id"], assistant, model, instructions, tools, body, shown)
            k = next((t["file_search"].get("max_num_results") for t in searches
                      if t["file_search"].get("max_num_results")), None) or ctx.settings.top_k
            state: dict[str, Any] = {"vector_store_ids": ids, "generator": generator, "mode": mode, "k": int(k),
                                     "response_format": output_format}
            if mode == "tools":
                state["messages"] = run_engine.tool_messages(ctx, thread["id"], instructions,
                                                             run_engine.last_messages(run))
                # the question's text is searched before the model reads the images (unless no tool may run)
                state["search_first"] = bool(images) and body.tool_choice != "none"
            adb.insert_run(ctx.db, run, principal.id, state)
    except adb.ActiveRun as exc:
        raise bad_request(str(exc), "thread_id") from None
    if body.additional_messages:
        ctx.library.wake()  # files attached for file_search are committed now: the ingest worker sees them
    return run


def _sse(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


async def _events(ctx: ServerContext, run_id: str, opening: list[tuple[str, Any]]) -> AsyncIterator[str]:
    for kind, data in opening:
        yield _sse(kind, data)
    try:
        async for kind, payload in stream(lambda emit: run_engine.execute(ctx, run_id, emit)):
            if kind != "done":
                yield _sse(kind, payload)
    except Exception as exc:  # noqa: BLE001 - the stream has started: report in-band
        yield _sse("error", error_event(exc))
    yield "event: done\ndata: [DONE]\n\n"


def error_event(exc: Exception) -> dict[str, Any]:
    """The data of an ``error`` event: OpenAI's whole ``Error`` object (``code``, ``message``,
    ``param``, ``type``), since typed clients (Rust's async-openai, generated SDKs) require each field
    and would report a parse failure instead of the server's message."""
    error = _stream_error(exc)
    return {"code": error["code"], "message": error["message"], "param": None, "type": "server_error"}


def _launch(ctx: ServerContext, run: dict[str, Any], streamed: bool, response: Response,
            opening: list[tuple[str, Any]]) -> dict[str, Any] | StreamingResponse:
    if streamed:
        return StreamingResponse(_events(ctx, run["id"], opening), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    run_engine.start(ctx, run["id"])
    response.headers["openai-poll-after-ms"] = str(ctx.config.poll_after_ms)
    return run


@router.post("/runs", response_model=None)
def create_thread_and_run(body: ThreadAndRunBody, response: Response, ctx: ServerContext = Depends(context),
                          principal: Principal = Depends(reader)) -> dict[str, Any] | StreamingResponse:
    assistant = assistant_for(ctx, principal, body.assistant_id, "assistant_id")
    # images in the new thread's messages need a run that reads them: checked before it is made
    _, generator = run_model(ctx, body.model or assistant["model"])
    thread = create_thread(ctx, principal, body.thread or ThreadBody(), "thread.", vision=generator == "openai")
    run = _prepare(ctx, principal, thread, body)
    opening = [("thread.created", thread), ("thread.run.created", run), ("thread.run.queued", run)]
    return _launch(ctx, run, body.stream, response, opening)


@router.post("/{thread_id}/runs", response_model=None)
def create_run(thread_id: str, body: RunBody, response: Response, ctx: ServerContext = Depends(context),
               principal: Principal = Depends(reader)) -> dict[str, Any] | StreamingResponse:
    run = _prepare(ctx, principal, thread_for(ctx, principal, thread_id), body)
    return _launch(ctx, run, body.stream, response, [("thread.run.created", run), ("thread.run.queued", run)])


@router.get("/{thread_id}/runs")
def list_runs(thread_id: str, query: Annotated[ListQuery, Query()], ctx: ServerContext = Depends(context),
              principal: Principal = Depends(reader)) -> dict[str, Any]:
    thread_for(ctx, principal, thread_id)
    return cursor_page(lambda: adb.runs_page(ctx.db, thread_id, query), query, adb.body_of)


def _run(ctx: ServerContext, principal: Principal, thread_id: str, run_id: str) -> tuple[dict[str, Any], dict]:
    thread_for(ctx, principal, thread_id)
    row = adb.run_row(ctx.db, thread_id, run_id)
    if row is None or row["owner"] != principal.id:
        raise not_found("run", run_id)
    if adb.orphaned(row):
        run_engine.fail(ctx, run_id, "The server stopped while this run was in progress; create a new run.",
                        lambda kind, data: None)
        row = adb.run_row(ctx.db, thread_id, run_id) or row
    return json.loads(row["body"]), json.loads(row["state"] or "{}")


@router.get("/{thread_id}/runs/{run_id}")
def retrieve_run(thread_id: str, run_id: str, response: Response, ctx: ServerContext = Depends(context),
                 principal: Principal = Depends(reader)) -> dict[str, Any]:
    run, _ = _run(ctx, principal, thread_id, run_id)
    if run["status"] in adb.ACTIVE:
        response.headers["openai-poll-after-ms"] = str(ctx.config.poll_after_ms)
    return run


@router.post("/{thread_id}/runs/{run_id}")
def update_run(thread_id: str, run_id: str, body: MetadataBody, ctx: ServerContext = Depends(context),
               principal: Principal = Depends(reader)) -> dict[str, Any]:
    _run(ctx, principal, thread_id, run_id)

    def change(run: dict[str, Any], state: dict[str, Any]) -> bool:
        run["metadata"] = body.metadata or {}
        return True

    return adb.change_run(ctx.db, run_id, change)[0]


@router.post("/{thread_id}/runs/{run_id}/cancel")
def cancel_run(thread_id: str, run_id: str, ctx: ServerContext = Depends(context),
               principal: Principal = Depends(reader)) -> dict[str, Any]:
    """A run being worked on becomes ``cancelling`` and then ``cancelled`` (its answer is dropped);
    a run waiting for tool outputs is cancelled at once."""
    _run(ctx, principal, thread_id, run_id)

    def change(run: dict[str, Any], state: dict[str, Any]) -> bool:
        if run["status"] in ("queued", "in_progress"):
            adb.set_status(run, "cancelling")
        elif run["status"] == "requires_action":
            adb.set_status(run, "cancelled", required_action=None)
        else:
            return False
        return True

    run, _, changed = adb.change_run(ctx.db, run_id, change)
    if not changed and run["status"] != "cancelling":
        raise bad_request(f"Cannot cancel run with status '{run['status']}'.", "run_id")
    return run


@router.post("/{thread_id}/runs/{run_id}/submit_tool_outputs", response_model=None)
def submit_tool_outputs(thread_id: str, run_id: str, body: ToolOutputsBody, response: Response,
                        ctx: ServerContext = Depends(context),
                        principal: Principal = Depends(reader)) -> dict[str, Any] | StreamingResponse:
    run, state = _run(ctx, principal, thread_id, run_id)
    if run["status"] != "requires_action":
        raise bad_request(f"Run {run_id} is '{run['status']}', not waiting for tool outputs.", "run_id")
    pending = state["pending"]
    given = [o.tool_call_id for o in body.tool_outputs]
    missing = [c for c in pending["calls"] if c not in given]
    unknown = [c for c in given if c not in pending["calls"]]
    if missing or unknown or len(set(given)) != len(given):
        raise bad_request(f"tool_outputs must answer each of {', '.join(pending['calls'])} exactly once "
                          f"(missing: {', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'}).",
                          "tool_outputs")
    outputs = {o.tool_call_id: o.output for o in body.tool_outputs}

    def resume(stored: dict[str, Any], saved: dict[str, Any]) -> bool:
        if stored["status"] != "requires_action":
            return False
        loop = LoopState.from_dict(saved)
        add_tool_outputs(loop, outputs)
        saved.update(loop.to_dict())
        saved.pop("pending", None)
        adb.set_status(stored, "queued", required_action=None)
        return True

    run, _, resumed = adb.change_run(ctx.db, run_id, resume)
    if not resumed:
        raise bad_request(f"Run {run_id} is '{run['status']}', not waiting for tool outputs.", "run_id")
    step = adb.step(ctx.db, run_id, pending["step_id"])
    if step is not None:
        step["step_details"]["tool_calls"] = [
            function_call(c["id"], c["function"]["name"], c["function"]["arguments"], outputs.get(c["id"]))
            for c in step["step_details"]["tool_calls"]]
        step.update(status="completed", completed_at=adb.now())
        adb.save_step(ctx.db, step)
    return _launch(ctx, run, body.stream, response, [("thread.run.queued", run)])


def _include(request: Request) -> list[str]:
    """The step fields asked for: OpenAI's one includable field, the passages' text; anything
    else is a 400 naming it rather than silently left out."""
    include = request.query_params.getlist("include") + request.query_params.getlist("include[]")
    for n, value in enumerate(include):
        if value != RESULT_CONTENT:
            raise bad_request(f"include[{n}] {value!r} is not supported: run steps can include "
                              f"{RESULT_CONTENT!r} only.", "include")
    return include


@router.get("/{thread_id}/runs/{run_id}/steps")
def list_steps(thread_id: str, run_id: str, request: Request, query: Annotated[ListQuery, Query()],
               ctx: ServerContext = Depends(context), principal: Principal = Depends(reader)) -> dict[str, Any]:
    _run(ctx, principal, thread_id, run_id)
    include = _include(request)
    return cursor_page(lambda: adb.steps_page(ctx.db, run_id, query), query,
                       lambda row: render_step(json.loads(row["body"]), include))


@router.get("/{thread_id}/runs/{run_id}/steps/{step_id}")
def retrieve_step(thread_id: str, run_id: str, step_id: str, request: Request, ctx: ServerContext = Depends(context),
                  principal: Principal = Depends(reader)) -> dict[str, Any]:
    _run(ctx, principal, thread_id, run_id)
    found = adb.step(ctx.db, run_id, step_id)
    if found is None:
        raise not_found("run step", step_id)
    return render_step(found, _include(request))
