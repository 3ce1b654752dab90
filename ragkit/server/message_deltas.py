"""A streamed run's answer as ``thread.message.delta`` events, its citations included.

OpenAI streams a cited message with each citation marker in a delta of its own, and that delta
carries the marker's ``file_citation`` annotation (``index``, ``text``, ``start_index``,
``end_index``, the cited ``file_id``). Clients that stream a run read citations only there:
Semantic Kernel's ``invoke_stream`` makes its ``StreamingAnnotationContent`` from the deltas'
annotations (and only from deltas with text), and the SDK's ``AssistantEventHandler`` hands them
to ``on_text_delta``. So the answer's text is cut at its ``[n]`` markers: plain text goes out as
it comes, a marker as one delta with one annotation per source number it names. Text that could
still become a marker (``[1``, ``[1,``) is held until it is one or cannot be.

The deltas' annotations name the cited file (and ragkit's ``n``); the checked quote and page come
in the completed message (``thread.message.completed``), whose annotations are the final ones
(:func:`ragkit.server.thread_objects.thread_annotations`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ragkit.citations import MARKER
from ragkit.library.retrieval import Found

#: text that is a marker's beginning: ``[``, ``[12``, ``[1, 2``, ``[1 ;``
OPENING = re.compile(r"\[(?:\d+(?:\s*[,;]\s*\d+)*\s*(?:[,;]\s*)?)?")
NUMBERS = re.compile(r"\s*[,;]\s*")
Emit = Callable[[str, Any], None]


def message_delta(message_id: str, text: str, notes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One ``thread.message.delta``: ``text`` added to the message's first text block, with the
    annotations of the marker it is (none for plain text)."""
    return {"id": message_id, "object": "thread.message.delta",
            "delta": {"content": [{"index": 0, "type": "text", "text": {"value": text, "annotations": notes or []}}]}}


class CitedDeltas:
    """Sends the text given to :meth:`feed` as message deltas, each marker with its annotations;
    :meth:`close` sends what is still held."""

    def __init__(self, message_id: str, found: list[Found], emit: Emit) -> None:
        self.message_id = message_id
        self.found = found
        self.emit = emit
        self.held = ""
        self.sent = 0  # characters of the message sent so far: where the next delta starts
        self.notes = 0  # annotations sent so far: the next one's index

    def feed(self, text: str) -> None:
        self.held += text
        while self.held:
            start = self.held.find("[")
            if start != 0:
                self._send(self.held if start < 0 else self.held[:start])
                continue
            marker = MARKER.match(self.held)
            if marker:
                self._send(marker.group(0), self._annotations(marker.group(0), marker.group(1)))
            elif OPENING.fullmatch(self.held):
                return
            else:
                self._send("[")

    def close(self) -> None:
        if self.held:
            self._send(self.held)

    def _send(self, text: str, notes: list[dict[str, Any]] | None = None) -> None:
        self.held = self.held[len(text):]
        self.emit("thread.message.delta", message_delta(self.message_id, text, notes))
        self.sent += len(text)

    def _annotations(self, marker: str, numbers: str) -> list[dict[str, Any]]:
        notes = []
        for number in NUMBERS.split(numbers):
            n = int(number)
            if not 1 <= n <= len(self.found):
                continue  # not a source: no citation (the completed message drops the number)
            source = self.found[n - 1]
            notes.append({"index": self.notes, "type": "file_citation", "text": marker, "start_index": self.sent,
                          "end_index": self.sent + len(marker), "n": n,
                          "file_citation": {"file_id": source.file_id, "filename": source.filename,
                                            "vector_store_id": source.vector_store_id}})
            self.notes += 1
        return notes
