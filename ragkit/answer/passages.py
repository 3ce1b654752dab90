"""The passages tools return in one turn, numbered once for the whole turn.

A model cites ``[n]``; for that to mean one thing, every tool result and the final answer must
share one numbering. A passage returned twice keeps its first number. Each passage may carry an
``origin``: plain JSON facts its tool attached (a server's file id and vector store), handed
back with the answer so a surface can say where a citation points without searching again.
The numbering is saved as plain JSON (:meth:`Passages.to_state`) so a turn paused for the
caller's function outputs resumes in another process with the same numbers.
"""

from __future__ import annotations

from html import escape
from typing import Any, Callable, Sequence, TypeVar

from ragkit.models import SearchHit


T = TypeVar("T")


def distinct(items: Sequence[T], text: Callable[[T], str]) -> list[T]:
    """``items`` without those whose passage (``text``, whitespace aside) an earlier one already
    holds: the same file stored twice, under two names or uploaded twice, is read and shown once,
    from its better-ranked copy."""
    seen: set[str] = set()
    kept = []
    for item in items:
        key = " ".join(text(item).split())
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


class Passages:
    """Numbered passages: ``[n]`` is ``hits[n - 1]``, its tool's facts ``origins[n - 1]``."""

    def __init__(self) -> None:
        self.hits: list[SearchHit] = []
        self.origins: list[dict[str, Any]] = []
        self._numbers: dict[str, int] = {}

    def add(self, hits: Sequence[SearchHit], origins: Sequence[dict[str, Any]] | None = None) -> list[int]:
        """Number ``hits`` (new ones get the next numbers); their numbers, without repeats, in order."""
        numbers = []
        for i, hit in enumerate(hits):
            if hit.chunk_id not in self._numbers:
                self.hits.append(hit)
                self.origins.append(dict(origins[i]) if origins is not None else {})
                self._numbers[hit.chunk_id] = len(self.hits)
            numbers.append(self._numbers[hit.chunk_id])
        return list(dict.fromkeys(numbers))

    def origin(self, number: int) -> dict[str, Any]:
        return self.origins[number - 1]

    def format(self, numbers: Sequence[int]) -> str:
        """The passages as data: escaped, so a document cannot close the delimiter early."""
        blocks = []
        for n in numbers:
            hit = self.hits[n - 1]
            page = f' page="{hit.page}"' if hit.page is not None else ""
            blocks.append(f'<source id="{n}" file="{escape(hit.source)}"{page}>\n'
                          f'{escape(hit.text, quote=False)}\n</source>')
        return "\n".join(blocks)

    def to_state(self) -> list[dict[str, Any]]:
        """The numbering as plain JSON, in number order."""
        return [{"hit": hit.to_dict(), "origin": origin} for hit, origin in zip(self.hits, self.origins)]

    @classmethod
    def from_state(cls, items: Sequence[dict[str, Any]]) -> "Passages":
        """The numbering saved by :meth:`to_state`. Older saved states kept a passage's facts
        beside its hit instead of under ``origin``; those are read too."""
        passages = cls()
        for item in items:
            origin = item.get("origin", {key: value for key, value in item.items() if key != "hit"})
            passages.add([SearchHit(**item["hit"])], [origin])
        return passages
