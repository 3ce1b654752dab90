"""The Assistants API objects (message, run, run step) as the ``openai`` SDK parses them.

Citations are made once, by :func:`ragkit.server.responses.annotations` (the Responses API's
``file_citation`` with ragkit's page, quote and offsets); here they are only reshaped into the
Assistants form: ``text`` is the ``[n]`` marker, ``start_index``/``end_index`` its place in the
message, ``file_citation`` the cited file with the exact ``quote`` (a literal span of the chunk)
and its ``page``.
"""

from __future__ import annotations

from typing import Any

from ragkit.citations import MARKER
from ragkit.library.answering import Grounded
from ragkit.server.response_items import annotations
from ragkit.library.retrieval import Found
from ragkit.state.assistants import new_id
from ragkit.state.tables import now

#: the ``include`` value that adds the passages' text to file_search results in run steps
RESULT_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def message_object(thread_id: str, role: str, text: str, *, run_id: str | None = None,
                   assistant_id: str | None = None, notes: list[dict[str, Any]] | None = None,
                   status: str = "completed", metadata: dict[str, Any] | None = None,
                   attachments: list[dict[str, Any]] | None = None,
                   blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A ``thread.message``; ``blocks``: its content as checked when a client sent it (text and
    image blocks, :func:`ragkit.server.thread_media.message_content`), else ``text`` as one block."""
    stamp = now()
    content = [{"type": "text", "text": {"value": text, "annotations": notes or []}}] if status == "completed" else []
    if blocks is not None:
        content = blocks
    return {"id": new_id("msg"), "object": "thread.message", "created_at": stamp, "thread_id": thread_id,
            "role": role, "content": content, "assistant_id": assistant_id, "run_id": run_id,
            "attachments": attachments or [], "metadata": metadata or {}, "status": status,
            "completed_at": stamp if status == "completed" else None, "incomplete_at": None,
            "incomplete_details": None}


def answer_content(grounded: Grounded, structured: bool) -> list[dict[str, Any]]:
    """A run's answer as the message's content: its text with a ``file_citation`` per checked
    ``[n]``; in a structured output format the JSON as a text block with no annotations (a marker
    in JSON is the caller's data), or a ``refusal`` block, as OpenAI gives a refusal of structured
    output, so a client never reads a refusal as its JSON (:mod:`ragkit.server.structured`)."""
    if structured and grounded.refused:
        return [{"type": "refusal", "refusal": grounded.text}]
    notes = [] if structured else thread_annotations(grounded)
    return [{"type": "text", "text": {"value": grounded.text, "annotations": notes}}]


def thread_annotations(grounded: Grounded) -> list[dict[str, Any]]:
    """The answer's citations in the Assistants shape (see the module docstring)."""
    out = []
    for note in annotations(grounded):
        match = MARKER.match(grounded.text, note["index"])
        end = match.end() if match else note["index"]
        citation = {"file_id": note["file_id"], "quote": note["quote"], "page": note["page"],
                    "filename": note["filename"], "quote_start": note["quote_start"],
                    "quote_end": note["quote_end"], "chunk_id": note["chunk_id"],
                    "vector_store_id": note["vector_store_id"]}
        out.append({"type": "file_citation", "text": grounded.text[note["index"]:end],
                    "start_index": note["index"], "end_index": end, "file_citation": citation, "n": note["n"]})
    return out


def run_object(thread_id: str, assistant: dict[str, Any], model: str, instructions: str,
               tools: list[dict[str, Any]], body: Any, response_format: Any = "auto") -> dict[str, Any]:
    """A new ``queued`` run; ``response_format`` as the run reports it (given, else the assistant's)."""
    return {"id": new_id("run"), "object": "thread.run", "created_at": now(), "thread_id": thread_id,
            "assistant_id": assistant["id"], "status": "queued", "required_action": None, "last_error": None,
            "expires_at": None, "started_at": None, "cancelled_at": None, "failed_at": None, "completed_at": None,
            "incomplete_details": None, "model": model, "instructions": instructions, "tools": tools,
            "metadata": body.metadata or {}, "usage": None,
            "temperature": body.temperature if body.temperature is not None else assistant.get("temperature"),
            "top_p": body.top_p if body.top_p is not None else assistant.get("top_p"),
            "max_prompt_tokens": body.max_prompt_tokens, "max_completion_tokens": body.max_completion_tokens,
            "truncation_strategy": (body.truncation_strategy.model_dump() if body.truncation_strategy
                                    else {"type": "auto", "last_messages": None}),
            "response_format": response_format,
            "tool_choice": body.tool_choice or "auto",
            "parallel_tool_calls": body.parallel_tool_calls if body.parallel_tool_calls is not None else True}


def usage(grounded_usage: dict[str, int]) -> dict[str, int]:
    return {"prompt_tokens": grounded_usage.get("prompt_tokens", 0),
            "completion_tokens": grounded_usage.get("completion_tokens", 0),
            "total_tokens": grounded_usage.get("total_tokens", 0)}


def step_object(run: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    return {"id": new_id("step"), "object": "thread.run.step", "created_at": now(), "run_id": run["id"],
            "assistant_id": run["assistant_id"], "thread_id": run["thread_id"],
            "type": details["type"], "status": "in_progress", "step_details": details, "last_error": None,
            "expired_at": None, "cancelled_at": None, "failed_at": None, "completed_at": None,
            "metadata": None, "usage": None}


def ranking_of(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The ranking options of a run's file_search tool as applied: the threshold asked for (0 by
    default); the ranker, ``auto`` or not, is ragkit's one, reported under OpenAI's default name."""
    search = next((t.get("file_search") or {} for t in tools if t["type"] == "file_search"), {})
    asked = search.get("ranking_options") or {}
    return {"ranker": "default_2024_08_21", "score_threshold": float(asked.get("score_threshold") or 0.0)}


def file_search_call(call_id: str, found: list[Found] | None, ranking: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    """One ``file_search`` tool call of a run step (``ranking``: :func:`ranking_of`); results
    carry the page and chunk as extras."""
    results = None
    if found is not None:
        results = [{"file_id": f.file_id, "file_name": f.filename, "score": f.score,
                    "content": [{"type": "text", "text": f.hit.text}], "page": f.hit.page,
                    "chunk_id": f.hit.chunk_id, "vector_store_id": f.vector_store_id} for f in found]
    return {"id": call_id, "type": "file_search",
            "file_search": {"ranking_options": ranking or ranking_of([]), "results": results}}


def function_call(call_id: str, name: str, arguments: str, output: str | None = None) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments, "output": output}}


def render_step(step: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """A stored step as a client asked for it: file_search passages' text only with ``include``."""
    if RESULT_CONTENT in include or step["step_details"]["type"] != "tool_calls":
        return step
    calls = []
    for call in step["step_details"]["tool_calls"]:
        results = (call.get("file_search") or {}).get("results")
        if results:
            call = {**call, "file_search": {**call["file_search"],
                                            "results": [{k: v for k, v in r.items() if k != "content"}
                                                        for r in results]}}
        calls.append(call)
    return {**step, "step_details": {**step["step_details"], "tool_calls": calls}}


def refusal_delta(message_id: str, text: str) -> dict[str, Any]:
    """The delta of a refusal block (the SDK's ``RefusalDeltaBlock``), sent whole."""
    return {"id": message_id, "object": "thread.message.delta",
            "delta": {"content": [{"index": 0, "type": "refusal", "refusal": text}]}}
