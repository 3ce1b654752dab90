"""The generator Protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

from ragkit.retrieve import SearchHit

TokenCallback = Callable[[str], None]


@dataclass
class Generation:
    """Raw generator output: text with ``[n]`` markers referring to the numbered sources."""

    text: str
    generator: str
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: the generator found nothing in the sources that answers the question
    refused: bool = False


class Generator(Protocol):
    name: str

    def generate(self, question: str, sources: Sequence[SearchHit], *, on_token: TokenCallback | None = None) -> Generation:
        """Answer ``question`` from ``sources`` only (numbered 1..n in order), citing them as ``[n]``."""
        ...
