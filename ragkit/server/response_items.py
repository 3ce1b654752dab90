"""The output items of ``/v1/responses`` (file search calls, messages with file citations, usage),
shared by grounded answers (:mod:`ragkit.server.responses`) and the function-tool loop
(:mod:`ragkit.server.response_tools`), so both give the SDK the same shapes.

An output item's id holds the random part of its response's id (``resp_<hex>`` writes
``msg_<hex>``, ``fs_<hex>_1``...), so an ``item_reference`` to it finds the stored response with one
lookup (:mod:`ragkit.server.response_refs`)."""

from __future__ import annotations

import re
from typing import Any

from ragkit.library.answering import Grounded
from ragkit.library.retrieval import Found


ITEM_ID = re.compile(r"[a-z]+_([0-9a-f]{32})(?:_\d+)?")


def item_id(prefix: str, response_id: str, n: int | None = None) -> str:
    """The id of an output item of ``response_id`` (``n``: its place among items of its kind)."""
    base = f"{prefix}_{response_id.removeprefix('resp_')}"
    return base if n is None else f"{base}_{n}"


def response_of(item: str) -> str | None:
    """The id of the response whose output holds the item ``item`` (None: not one of ours)."""
    found = ITEM_ID.fullmatch(item)
    return f"resp_{found.group(1)}" if found else None


def usage_of(usage: dict[str, int]) -> dict[str, Any]:
    """ragkit's token counts (chat completions' names) as a response's ``usage``."""
    return {"input_tokens": usage.get("prompt_tokens", 0),
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": usage.get("completion_tokens", 0), "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.get("total_tokens", 0)}


def annotations(grounded: Grounded) -> list[dict[str, Any]]:
    cited = {c["n"]: c for c in grounded.cited()}
    out = []
    for index, n in grounded.markers():
        c = cited.get(n)
        if c is None:
            continue
        out.append({"type": "file_citation", "file_id": c["file_id"], "filename": c["filename"], "index": index,
                    "n": n, "page": c["page"], "quote": c["quote"], "quote_start": c["quote_start"],
                    "quote_end": c["quote_end"], "chunk_id": c["chunk_id"], "vector_store_id": c["vector_store_id"]})
    return out


def search_call(call_id: str, queries: list[str], found: list[Found] | None, status: str,
                with_results: bool) -> dict[str, Any]:
    results = None
    if with_results and found is not None:
        results = [{"file_id": f.file_id, "filename": f.filename, "score": f.score, "text": f.hit.text,
                    "attributes": f.result_attributes(), "page": f.hit.page, "chunk_id": f.hit.chunk_id,
                    "vector_store_id": f.vector_store_id} for f in found]
    return {"id": call_id, "type": "file_search_call", "status": status, "queries": queries, "results": results}


def message(msg_id: str, text: str, notes: list[dict[str, Any]], status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": notes, "logprobs": []}] if status else []
    return {"id": msg_id, "type": "message", "role": "assistant", "status": status or "in_progress", "content": content}


def answer_message(msg_id: str, grounded: Grounded, status: str, structured: bool = False) -> dict[str, Any]:
    """A grounded answer's message item: its text with an annotation per checked citation; a
    structured answer's JSON (no citations: :mod:`ragkit.server.structured`), or its refusal as
    the ``refusal`` content part OpenAI gives a refusal of structured output."""
    if structured and grounded.refused:
        return message(msg_id, "", [], status) | {"content": [refusal_part(grounded.text)]}
    return message(msg_id, grounded.text, annotations(grounded), status)


def refusal_part(text: str) -> dict[str, Any]:
    """A message's content part for a refusal (OpenAI's, as in structured output)."""
    return {"type": "refusal", "refusal": text}
