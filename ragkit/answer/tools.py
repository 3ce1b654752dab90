"""What the tool loop offers a model, and what each call gave.

A :class:`Tool` is injected by the surface that runs the loop. It either runs here
(``run(arguments) -> ToolResult``: the CLI agent's ``search_documents`` and ``read_passage``, a
server's ``file_search`` over chosen stores) or is the caller's own function (``run`` is None):
the loop then stops and hands the call back (Assistants ``requires_action``, Responses
``function_call`` items). A tool that finds passages returns them as hits; the loop numbers them
for the whole turn and shows them to the model as escaped data, so no tool formats sources itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ragkit.models import SearchHit


@dataclass
class ToolResult:
    """What one call found: passages (``hits``, each with the plain-JSON ``origins`` the caller
    wants back), and/or ``text`` (a note after the passages, a plain result, or an error)."""

    hits: list[SearchHit] = field(default_factory=list)
    text: str = ""
    ok: bool = True
    origins: list[dict[str, Any]] | None = None
    #: plain-JSON facts about the call for the surface (e.g. the query a search ran)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def error(cls, message: str) -> "ToolResult":
        """A failure the model can act on: it is sent ``ERROR: <message>``."""
        return cls(text=f"ERROR: {message}", ok=False)


@dataclass(frozen=True)
class Tool:
    """One tool offered to the model: ``parameters`` is the JSON schema its arguments are checked
    against before ``run``; without ``run`` it is the caller's function and is not checked here."""

    name: str
    parameters: dict[str, Any]
    description: str = ""
    run: Callable[[dict[str, Any]], ToolResult] | None = None
    #: further fields of a caller's function definition, passed to the model as given (``strict``)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_caller_function(self) -> bool:
        return self.run is None

    @classmethod
    def caller_function(cls, definition: dict[str, Any]) -> "Tool":
        """A caller's function from its chat-completions definition (``name``, ``parameters``, ...)."""
        rest = {k: v for k, v in definition.items() if k not in ("name", "parameters", "description")}
        return cls(definition["name"], definition.get("parameters") or {"type": "object"},
                   definition.get("description") or "", None, rest)

    def chat_definition(self) -> dict[str, Any]:
        """The tool as a chat-completions ``tools`` entry."""
        function: dict[str, Any] = {"name": self.name, "parameters": self.parameters}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function | self.extra}


@dataclass
class ToolCall:
    """A call the loop ran, with what the model was sent back (``result``)."""

    name: str
    arguments: str
    ok: bool
    result: str
    id: str = ""
    #: the passages it returned, in its order, and their turn-wide numbers
    hits: list[SearchHit] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    origins: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class PendingCall:
    """A call to one of the caller's functions: the caller runs it and sends the output back."""

    id: str
    name: str
    arguments: str
