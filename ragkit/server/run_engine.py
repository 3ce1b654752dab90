"""Running a thread: from ``queued`` to ``completed``, ``requires_action``, ``failed`` or ``cancelled``.

A run answers the thread's last user message. Two ways, chosen when the run is created:

* **grounded** (no chat model, or none of the below): the follow-up is made standalone from the
  thread's history (:func:`ragkit.conversations.session.standalone_question`: the chat model
  condenses it, or the offline rewrite carries the last turn's subject), then answered over the
  assistant's vector stores exactly as ``/v1/responses`` answers
  (:func:`ragkit.library.answering.answer`: refusal, extractive or model answer, checked citations),
  with the file_search tool's ``max_num_results`` and ``ranking_options.score_threshold`` (the
  run's ``tools``, else the assistant's) applied as a vector store search applies them and
  reported on the run step;
* **tools** (a chat model, with user ``function`` tools, or images in the turns the run reads,
  or no store to search): the model sees the conversation, each user message with its images
  (when there are images, the question's text is searched first: :mod:`ragkit.server.thread_media`),
  and may call ``file_search`` (run by :func:`ragkit.answer.run_tool_loop`, its passages numbered
  for the whole run) and the user's functions. A call to a user function stops the run at
  ``requires_action``; the loop's state is saved with the run, so ``submit_tool_outputs``
  resumes it, in any worker process. A
  call to an unknown tool or with invalid arguments goes back to the model as a tool error (the
  run recovers); a model that keeps calling tools after ``MAX_ROUNDS`` fails the run.

A run's ``response_format`` (``json_schema`` or ``json_object``, saved in its state when it was
created, so a resumed run keeps it) goes with every call to the chat model in either mode: to
:func:`~ragkit.library.answering.answer` in the grounded mode, to every round of the tool loop in
the other. The answer is then the model's JSON, a text block without annotations, or a refusal
block (:func:`ragkit.server.thread_objects.answer_content`); streamed, the JSON comes as text
deltas and a refusal as one refusal delta. Why there are no citations in JSON:
:mod:`ragkit.server.structured`.

Every step is stored as it happens (run steps, then the assistant message) and reported through
``emit`` as the Assistants stream events, so a streamed run and a polled run are one code path.
A failure of any kind fails the run with ``last_error``; it never escapes to the client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ragkit.answer import LoopState, ToolCall, run_tool_loop
from ragkit.answer.file_search import tools_system
from ragkit.conversations.session import HISTORY_TURNS
from ragkit.errors import RagkitError
from ragkit.library.answering import Grounded, answer
from ragkit.library.history import Pairs, sources_of, thread_turns
from ragkit.library.retrieval import Found
from ragkit.server import thread_media
from ragkit.server.message_deltas import CitedDeltas
from ragkit.server.state import ServerContext
from ragkit.server.thread_objects import (
    answer_content,
    file_search_call,
    function_call,
    message_object,
    ranking_of,
    refusal_delta,
    step_object,
    usage,
)
from ragkit.server.tool_calls import chat_tool_choice, grounded_of, offered_tools, search_first, searched
from ragkit.state import assistants as adb
from ragkit.state.conversation_model import Item

log = logging.getLogger("ragkit.server")
Emit = Callable[[str, Any], None]
MAX_ROUNDS = 4
#: seconds a run waits for files attached to its thread to be ingested
INGEST_WAIT = 600
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ragkit-run")


class RunFailed(Exception):
    """The run cannot finish; the message becomes its ``last_error``."""


def start(ctx: ServerContext, run_id: str) -> None:
    """Run in the background (the client polls)."""
    _pool.submit(execute, ctx, run_id, None)


def execute(ctx: ServerContext, run_id: str, emit: Emit | None) -> None:
    """Drive a queued run as far as it goes; every failure becomes the run's ``last_error``."""
    send: Emit = emit or (lambda kind, data: None)
    try:
        _execute(ctx, run_id, send, streaming=emit is not None)
    except Exception as exc:  # noqa: BLE001 - a run fails in-band, never with a traceback
        if isinstance(exc, adb.MissingRun) or not adb.has_run(ctx.db, run_id):
            # deleted with its thread while it ran: nothing is left to finish or fail; a streamed
            # run's client is told so in-band (the 404 a request for the run would get now)
            if emit is not None:
                raise adb.MissingRun(run_id) from None
            return
        if not isinstance(exc, RunFailed):
            log.error("run %s failed", run_id, exc_info=exc)
        fail(ctx, run_id, _reason(exc), send)


def _reason(exc: Exception) -> str:
    from ragkit.errors import RagkitError

    if isinstance(exc, (RunFailed, RagkitError)):
        return str(exc)
    return "The server had an internal error while running the thread."


def fail(ctx: ServerContext, run_id: str, message: str, emit: Emit, code: str = "server_error") -> None:
    def change(run: dict[str, Any], state: dict[str, Any]) -> bool:
        if run["status"] not in adb.ACTIVE:
            return False
        adb.set_status(run, "failed", last_error={"code": code, "message": message}, required_action=None)
        return True

    try:
        run, _, changed = adb.change_run(ctx.db, run_id, change)
    except adb.MissingRun:  # deleted with its thread meanwhile: there is nothing left to fail
        return
    if changed:
        emit("thread.run.failed", run)


def _claim(run: dict[str, Any], state: dict[str, Any]) -> bool:
    if run["status"] == "cancelling":
        adb.set_status(run, "cancelled")
        return True
    if run["status"] != "queued":
        return False
    adb.set_status(run, "in_progress")
    return True


def _execute(ctx: ServerContext, run_id: str, emit: Emit, streaming: bool) -> None:
    run, state, claimed = adb.change_run(ctx.db, run_id, _claim)
    if not claimed:
        return
    if run["status"] == "cancelled":
        emit("thread.run.cancelled", run)
        return
    emit("thread.run.in_progress", run)
    stores = []
    for vs_id in state["vector_store_ids"]:
        store = ctx.db.store(vs_id)
        if store is None:
            raise RunFailed(f"The vector store '{vs_id}' of this run was deleted.")
        stores.append(store)
    _wait_for_files(ctx, run_id, stores)
    if state["mode"] == "tools":
        _with_tools(ctx, run, state, stores, emit)
    else:
        _grounded(ctx, run, state, stores, emit, streaming)


def _wait_for_files(ctx: ServerContext, run_id: str, stores: list[dict[str, Any]]) -> None:
    """Files still being ingested (a message's attachments) are waited for, as OpenAI runs wait
    for a thread's vector store; a failed file is simply not searched."""
    deadline = time.monotonic() + INGEST_WAIT
    while any(ctx.db.counts(s["id"])[0]["in_progress"] for s in stores):
        if time.monotonic() > deadline:
            raise RunFailed(f"Attached files were still being ingested after {INGEST_WAIT} s.")
        time.sleep(0.2)


# -- the thread's history ---------------------------------------------------------------------
def conversation(ctx: ServerContext, thread_id: str, last_messages: int | None = None) -> tuple[Item, Pairs]:
    """The thread's last user message and the (question, answer) pairs before it
    (:func:`ragkit.library.history.thread_turns`)."""
    question, pairs = thread_turns(ctx.library, thread_id, last_messages)
    if question is None:
        raise RunFailed("The thread has no user message to answer.")
    return question, pairs


# -- grounded answers -------------------------------------------------------------------------
def _grounded(ctx: ServerContext, run: dict[str, Any], state: dict[str, Any], stores: list[dict[str, Any]],
              emit: Emit, streaming: bool) -> None:
    question, history = conversation(ctx, run["thread_id"], last_messages(run))
    made, notices = ctx.library.follow_up(question.content, history)
    adb.update_message(ctx.db, question.body or {}, standalone=made.query)
    call_id = adb.new_id("call")
    ranking = ranking_of(run["tools"])
    search_step = adb.save_step(ctx.db, step_object(run, {"type": "tool_calls",
                                                          "tool_calls": [file_search_call(call_id, None, ranking)]}))
    _tool_step_created(search_step, emit)
    opened: dict[str, Any] = {}
    structured = bool(state.get("response_format"))

    def on_retrieved(found: list[Found]) -> None:
        search_step["step_details"]["tool_calls"] = [file_search_call(call_id, found, ranking)]
        _done_step(ctx, search_step, emit)
        opened.update(_open_message(ctx, run, emit))
        # JSON has no checked citations: a "[1]" in it is the caller's data, sent as it is
        opened["deltas"] = CitedDeltas(opened["message"]["id"], [] if structured else found, emit)

    def on_token(text: str) -> None:
        if text:
            opened["deltas"].feed(text)

    grounded = answer(ctx.library, stores, made.query, k=state["k"], node=None, model=run["model"],
                      generator=state["generator"], instructions=run["instructions"] or None,
                      score_threshold=ranking["score_threshold"] or None,
                      on_token=on_token if streaming else None, on_retrieved=on_retrieved,
                      max_tokens=run.get("max_completion_tokens"), response_format=state.get("response_format"))
    if "deltas" in opened:
        opened["deltas"].close()  # the text held as a possible marker's beginning
    grounded.warnings.extend(notices)
    _finish(ctx, run["id"], grounded, opened, emit, made.query, structured=structured)


def _tool_step_created(step: dict[str, Any], emit: Emit) -> None:
    """A tool-calls step as OpenAI streams it: created with no calls, then one delta that adds them,
    so the SDK's ``on_tool_call_created`` and ``on_tool_call_done`` fire (they follow deltas)."""
    calls = step["step_details"]["tool_calls"]
    emit("thread.run.step.created", {**step, "step_details": {"type": "tool_calls", "tool_calls": []}})
    emit("thread.run.step.delta", {"id": step["id"], "object": "thread.run.step.delta", "delta": {
        "step_details": {"type": "tool_calls", "tool_calls": [{"index": i, **c} for i, c in enumerate(calls)]}}})


def _open_message(ctx: ServerContext, run: dict[str, Any], emit: Emit) -> dict[str, Any]:
    message = adb.add_message(ctx.db, message_object(run["thread_id"], "assistant", "", run_id=run["id"],
                                                     assistant_id=run["assistant_id"], status="in_progress"))
    step = adb.save_step(ctx.db, step_object(run, {"type": "message_creation",
                                                    "message_creation": {"message_id": message["id"]}}))
    emit("thread.run.step.created", step)
    emit("thread.message.created", message)
    emit("thread.message.in_progress", message)
    return {"message": message, "step": step}


def _done_step(ctx: ServerContext, step: dict[str, Any], emit: Emit, status: str = "completed") -> None:
    step["status"] = status
    step[{"completed": "completed_at", "cancelled": "cancelled_at"}[status]] = adb.now()
    adb.save_step(ctx.db, step)
    emit(f"thread.run.step.{status}", step)


def _finish(ctx: ServerContext, run_id: str, grounded: Grounded, opened: dict[str, Any], emit: Emit,
            standalone: str, structured: bool = False) -> None:
    """Store the answer, then complete the run -- or drop the answer when the run was cancelled.
    A refusal in a structured output format is a refusal block, sent as one delta here (the JSON
    came as text deltas; a refusal never does)."""
    message = opened["message"]
    message.update(status="completed", completed_at=adb.now(), content=answer_content(grounded, structured))
    message["ragkit"] = {"refused": grounded.refused, "generator": grounded.generator,
                         "warnings": grounded.warnings, "search_query": standalone, "citations": grounded.cited()}
    adb.update_message(ctx.db, message, sources=sources_of(grounded))

    def complete(run: dict[str, Any], state: dict[str, Any]) -> bool:
        if run["status"] == "cancelling":
            adb.set_status(run, "cancelled")
        else:
            adb.set_status(run, "completed", usage=usage(grounded.usage), required_action=None)
        return True

    run, _, _ = adb.change_run(ctx.db, run_id, complete)
    if run["status"] == "cancelled":
        adb.remove_message(ctx.db, message["id"])
        _done_step(ctx, opened["step"], emit, "cancelled")
        emit("thread.run.cancelled", run)
        return
    if structured and grounded.refused:
        emit("thread.message.delta", refusal_delta(message["id"], grounded.text))
    emit("thread.message.completed", message)
    _done_step(ctx, opened["step"], emit)
    emit("thread.run.completed", run)


# -- the tool loop ------------------------------------------------------------------------------
def last_messages(run: dict[str, Any]) -> int | None:
    strategy = run.get("truncation_strategy") or {}
    return strategy.get("last_messages") if strategy.get("type") == "last_messages" else None


def tool_messages(ctx: ServerContext, thread_id: str, instructions: str, keep: int | None = None
                  ) -> list[dict[str, Any]]:
    """The chat the model starts from: the system prompt, recent turns and the question, each user
    message with its images (:func:`ragkit.server.thread_media.chat_turns`)."""
    question, history = conversation(ctx, thread_id, keep)
    system = tools_system(instructions, "Instructions for this assistant")
    return thread_media.chat_turns(ctx, thread_id, system, question, history[-HISTORY_TURNS:], keep)


def _with_tools(ctx: ServerContext, run: dict[str, Any], state: dict[str, Any], stores: list[dict[str, Any]],
                emit: Emit) -> None:
    """The run's turn of the tool loop; it stops at the answer, a user function, or a cancel."""
    functions = [t["function"] for t in run["tools"] if t["type"] == "function"]
    ranking = ranking_of(run["tools"])
    loop = LoopState.from_dict(state)

    def on_round(calls: list[ToolCall]) -> None:
        searches = [(call, found) for call in calls if (found := searched(call)) is not None]
        if searches:
            state["search_query"] = searches[-1][0].details["query"]
            step = adb.save_step(ctx.db, step_object(run, {"type": "tool_calls", "tool_calls": [
                file_search_call(call.id, found, ranking) for call, found in searches]}))
            _tool_step_created(step, emit)
            _done_step(ctx, step, emit)

    client = thread_media.upstream(ctx, loop.messages)  # image files are read here, a deleted one fails the run
    tools = offered_tools(ctx, stores, state["k"], functions, score_threshold=ranking["score_threshold"] or None)
    if state.get("search_first") and stores:  # a thread with images: its question is searched first
        state["search_first"] = False  # once: not again when the run resumes
        query = thread_media.search_query(ctx, run["thread_id"], last_messages(run))
        if query:
            on_round([search_first(loop, tools, query)])
    try:
        result = run_tool_loop(client, loop, tools, model=run["model"],
                               max_rounds=MAX_ROUNDS, tool_choice=chat_tool_choice(run.get("tool_choice")),
                               temperature=run.get("temperature"), max_tokens=run.get("max_completion_tokens"),
                               should_stop=lambda: _cancelled(ctx, run["id"], emit), on_round=on_round,
                               response_format=state.get("response_format"))
    except RagkitError as exc:
        raise RunFailed(f"The chat model failed: {exc}") from None
    state.update(loop.to_dict())
    if result.status == "max_rounds":
        raise RunFailed(f"The model kept calling tools after {MAX_ROUNDS} rounds.")
    if result.status == "pending":
        _require_action(ctx, run, state, [function_call(c.id, c.name, c.arguments) for c in result.pending], emit)
    elif result.status == "answered":
        structured = bool(state.get("response_format"))
        grounded = grounded_of(result, run["model"], loop.usage)
        opened = _open_message(ctx, run, emit)
        if grounded.text and not (structured and grounded.refused):  # a refusal block is sent by _finish
            deltas = CitedDeltas(opened["message"]["id"], [] if structured else grounded.found, emit)
            deltas.feed(grounded.text)
            deltas.close()
        _finish(ctx, run["id"], grounded, opened, emit, state.get("search_query", ""), structured)


def _require_action(ctx: ServerContext, run: dict[str, Any], state: dict[str, Any],
                    waiting: list[dict[str, Any]], emit: Emit) -> None:
    step = adb.save_step(ctx.db, step_object(run, {"type": "tool_calls", "tool_calls": waiting}))
    _tool_step_created(step, emit)
    action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
        {"id": c["id"], "type": "function", "function": {"name": c["function"]["name"],
                                                         "arguments": c["function"]["arguments"]}}
        for c in waiting]}}

    def pause(stored: dict[str, Any], saved: dict[str, Any]) -> bool:
        saved.update(state, pending={"step_id": step["id"], "calls": [c["id"] for c in waiting]})
        if stored["status"] == "cancelling":
            adb.set_status(stored, "cancelled")
        else:
            adb.set_status(stored, "requires_action", required_action=action)
        return True

    stored, _, _ = adb.change_run(ctx.db, run["id"], pause)
    emit(f"thread.run.{stored['status']}", stored)


def _cancelled(ctx: ServerContext, run_id: str, emit: Emit) -> bool:
    def check(run: dict[str, Any], state: dict[str, Any]) -> bool:
        if run["status"] != "cancelling":
            return False
        adb.set_status(run, "cancelled")
        return True

    run, _, changed = adb.change_run(ctx.db, run_id, check)
    if changed:
        emit("thread.run.cancelled", run)
    return changed
