"""The parts of a ``/v1/responses`` response that do not depend on how it was answered: the
``file_search`` tool as a request gives it (its ranking options, echoed as applied) and
:class:`Shape`, the response object around the output items (:mod:`ragkit.server.responses`
produces them, :mod:`ragkit.server.response_events` streams them)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ragkit.library.answering import Grounded
from ragkit.library.retrieval import Found
from ragkit.server.params import Body
from ragkit.server.response_items import answer_message, item_id, search_call, usage_of
from ragkit.server.search import HybridWeights, fusion_alpha

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.server.response_tools import FunctionTool


class FileSearchRanking(Body):
    ranker: Literal["auto", "default-2024-11-15"] | None = None
    score_threshold: float | None = Field(None, ge=0, le=1)
    hybrid_search: HybridWeights | None = None

    def used(self) -> dict[str, Any]:
        """The options as applied (OpenAI's defaults filled in): what the response reports."""
        used = {"ranker": self.ranker or "auto", "score_threshold": self.score_threshold or 0.0}
        return used | ({"hybrid_search": self.hybrid_search.model_dump()} if self.hybrid_search else {})


class FileSearchTool(Body):
    type: Literal["file_search"]
    vector_store_ids: list[str] = Field(min_length=1)
    max_num_results: int | None = Field(None, ge=1, le=50)
    filters: dict[str, Any] | None = None
    ranking_options: FileSearchRanking = Field(default_factory=FileSearchRanking)

    def echo(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True) | {"ranking_options": self.ranking_options.used()}


class Shape:
    """The parts of one response that do not change while it is produced (``body``: the request's
    :class:`ragkit.server.responses.ResponsesBody`)."""

    def __init__(self, body: Any, model: str, tools: list[FileSearchTool],
                 functions: Sequence[FunctionTool] = (), response_format: dict[str, Any] | None = None) -> None:
        self.id = "resp_" + secrets.token_hex(16)
        self.call_id = item_id("fs", self.id)
        self.msg_id = item_id("msg", self.id)
        self.created = int(time.time())
        self.body = body
        self.model = model
        self.tools = [t.echo() for t in tools] + [f.model_dump() for f in functions]
        self.ranking = tools[0].ranking_options if tools else FileSearchRanking()
        #: chat completions' form of ``text.format`` when the answer is structured output
        self.response_format = response_format

    def message(self, grounded: Grounded) -> dict[str, Any]:
        """The answer's message item (a structured answer's refusal as a refusal part)."""
        return answer_message(self.msg_id, grounded, self.status(grounded), self.response_format is not None)

    def retrieval(self) -> dict[str, Any]:
        """How the file_search tool retrieves: ``answer``'s ranking arguments."""
        return {"score_threshold": self.ranking.score_threshold,
                "alpha": fusion_alpha(self.ranking, "tools[0].ranking_options.hybrid_search")}

    def search_call(self, queries: list[str], found: list[Found] | None, with_results: bool) -> dict[str, Any]:
        """The completed ``file_search_call`` item, with the ranking options it used."""
        return search_call(self.call_id, queries, found, "completed", with_results) | {
            "ranking_options": self.ranking.used()}

    @staticmethod
    def status(grounded: Grounded | None) -> str:
        return "incomplete" if grounded is not None and grounded.incomplete else "completed"

    def response(self, status: str, output: list[dict[str, Any]], grounded: Grounded | None = None,
                 error: dict[str, Any] | None = None, usage: dict[str, int] | None = None) -> dict[str, Any]:
        """The response object; ``usage`` counts a turn without an answer (one ending with function calls)."""
        b = self.body
        usage = grounded.usage if grounded is not None else usage
        if error is not None:  # OpenAI's code and message, with the type and param of its other error objects
            error = {"message": error["message"], "type": error.get("type", "server_error"), "param": None,
                     "code": error["code"]}
        incomplete = {"reason": grounded.incomplete} if grounded is not None and grounded.incomplete else None
        out = {"id": self.id, "object": "response", "created_at": self.created, "status": status, "error": error,
               "incomplete_details": incomplete, "instructions": b.instructions, "max_output_tokens": b.max_output_tokens,
               "model": self.model, "output": output, "parallel_tool_calls": b.parallel_tool_calls is not False,
               "previous_response_id": b.previous_response_id, "reasoning": None, "store": b.store, "temperature": b.temperature,
               "text": {"format": (b.text.format if b.text else None) or {"type": "text"},
                        **({"verbosity": b.text.verbosity} if b.text and b.text.verbosity else {})},
               "tool_choice": b.tool_choice or "auto", "tools": self.tools, "top_p": b.top_p,
               "truncation": b.truncation or "disabled",
               "usage": usage_of(usage) if usage is not None else None, "user": b.user, "metadata": b.metadata or {},
               "background": bool(b.background), "completed_at": int(time.time()) if status == "completed" else None,
               "conversation": {"id": b.conversation_id} if b.conversation_id else None}
        if grounded is not None:
            out["ragkit"] = {"refused": grounded.refused, "generator": grounded.generator,
                             "warnings": grounded.warnings, "cached": grounded.cached, "citations": grounded.cited(),
                             "search_query": grounded.question}
        return out
