"""The generator Protocol."""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

from ragkit.models import Generation, SearchHit

__all__ = ["Generation", "Generator", "TokenCallback"]

TokenCallback = Callable[[str], None]


class Generator(Protocol):
    name: str

    def generate(self, question: str, sources: Sequence[SearchHit], *, on_token: TokenCallback | None = None,
                 instructions: str | None = None) -> Generation:
        """Answer ``question`` from ``sources`` only (numbered 1..n in order), citing them as ``[n]``.
        ``instructions`` are an operator's extra rules (a server's ``instructions`` field)."""
        ...
