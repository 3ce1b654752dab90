"""Answering, written once for every surface (Python API, CLI, server).

* :mod:`.grounded`: the grounded answer over retrieved passages: refusal, generation with
  extractive fallback, checked citations;
* :mod:`.loop`: the tool loop, where a chat model calls tools (run here, or the caller's own
  functions) before it answers, its ``[n]`` checked against the passages the tools returned;
* :mod:`.tools`, :mod:`.passages`: what a tool is and how passages are numbered for a turn;
* :mod:`.file_search`: the ``file_search`` tool and prompt a server offers beside functions.
"""

from ragkit.answer.file_search import FILE_SEARCH, TOOLS_SYSTEM, file_search_tool
from ragkit.answer.grounded import REFUSAL_TEXT, grounded_answer, refusal_reason
from ragkit.answer.loop import (
    REFUSAL_MARK, LoopResult, LoopState, add_tool_outputs, last_user_text, opening_messages, run_tool_loop,
    unanswered_calls,
)
from ragkit.answer.passages import Passages
from ragkit.answer.tools import PendingCall, Tool, ToolCall, ToolResult

__all__ = [
    "FILE_SEARCH", "REFUSAL_MARK", "REFUSAL_TEXT", "TOOLS_SYSTEM", "LoopResult", "LoopState", "Passages",
    "PendingCall", "Tool", "ToolCall", "ToolResult", "add_tool_outputs", "file_search_tool", "grounded_answer",
    "last_user_text", "opening_messages", "refusal_reason", "run_tool_loop", "unanswered_calls",
]
