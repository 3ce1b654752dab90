"""A cap on an answer's output tokens (``max_output_tokens``), counted with cl100k.

The chat model is asked for at most that many tokens; the extractive answerer has no such knob,
so every answer is cut here, the same way: the text keeps its first ``limit`` cl100k tokens
(never half a character), the ``[n]`` markers that survive the cut keep their citations and the
others are dropped, and the answer is marked ``incomplete`` (``max_output_tokens``). A streamed
answer's deltas stop at the same place (:class:`StreamLimit`).

A chat completion's ``stop`` sequences end an answer the same way (:func:`stopped`,
:class:`StreamStop`): the text ends before the first of them, and the cited markers left keep
their citations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ragkit.library.answering import Grounded, TokenSink, count_tokens, encoding

#: why an answer is incomplete when it was cut at the cap (OpenAI's ``incomplete_details.reason``)
MAX_OUTPUT_TOKENS = "max_output_tokens"


def cut(text: str, limit: int) -> tuple[str, bool]:
    """``text`` within ``limit`` cl100k tokens, and whether anything was cut off."""
    tokens = encoding().encode(text, disallowed_special=())
    if len(tokens) <= limit:
        return text, False
    kept = encoding().decode_bytes(tokens[:limit]).decode("utf-8", errors="ignore")
    return kept, True


class StreamLimit:
    """An ``on_token`` sink that forwards deltas until the streamed text reaches ``limit`` tokens:
    the deltas it forwards add up to :func:`cut` of the text streamed so far."""

    def __init__(self, limit: int, sink: TokenSink) -> None:
        self.limit = limit
        self.sink = sink
        self.streamed = ""
        self.sent = ""
        self.done = False

    def __call__(self, delta: str) -> None:
        if self.done or not delta:
            return
        self.streamed += delta
        allowed, was_cut = cut(self.streamed, self.limit)
        if was_cut:
            self.done = True
        if allowed.startswith(self.sent) and len(allowed) > len(self.sent):
            self.sink(allowed[len(self.sent):])
            self.sent = allowed


def capped(grounded: Grounded, limit: int | None) -> Grounded:
    """``grounded`` cut at ``limit`` output tokens (unchanged when it fits, or without a limit).

    A cut answer keeps only the citations whose marker is still in its text; its
    ``completion_tokens`` are what is left of it (a chat model's own count when it counted fewer)."""
    if limit is None:
        return grounded
    text, was_cut = cut(grounded.text, limit)
    truncated = was_cut or (grounded.generator == "openai" and grounded.usage.get("completion_tokens", 0) >= limit)
    if not truncated:
        return grounded
    shorter = replace(grounded, text=text, incomplete=MAX_OUTPUT_TOKENS, warnings=list(grounded.warnings))
    kept = {n for _, n in shorter.markers()}
    shorter.citations = [c for c in grounded.citations if c.n in kept]
    if was_cut:
        usage = dict(grounded.usage)
        completion = count_tokens(text)
        if grounded.generator == "openai" and usage.get("completion_tokens"):
            completion = min(completion, usage["completion_tokens"])
        usage["completion_tokens"] = completion
        usage["total_tokens"] = usage.get("prompt_tokens", 0) + completion
        shorter.usage = usage
    return shorter


def stop_at(text: str, stops: Sequence[str]) -> int | None:
    """Where the first of the ``stops`` sequences begins in ``text`` (None: none occurs)."""
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


class StreamStop:
    """An ``on_token`` sink that forwards deltas up to the first stop sequence (OpenAI's ``stop``):
    text that may be the start of one is held back until the next delta tells, and :meth:`flush`
    sends what is held back once the answer is complete and no sequence came."""

    def __init__(self, stops: Sequence[str], sink: TokenSink) -> None:
        self.stops = [s for s in stops if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.sink = sink
        self.streamed = ""
        self.sent = 0
        self.done = False

    def _send(self, end: int) -> None:
        if end > self.sent:
            self.sink(self.streamed[self.sent:end])
            self.sent = end

    def __call__(self, delta: str) -> None:
        if self.done or not delta:
            return
        self.streamed += delta
        at = stop_at(self.streamed, self.stops)
        if at is not None:
            self.done = True
            self._send(at)
        else:
            self._send(len(self.streamed) - self.hold)

    def flush(self) -> None:
        if not self.done:
            self._send(len(self.streamed))


def stopped(grounded: Grounded, stops: Sequence[str]) -> Grounded:
    """``grounded`` ending before the first of the ``stops`` sequences, as OpenAI's ``stop`` ends
    a completion (the sequence itself is not in the text); the citations whose marker is cut off
    are dropped. Unchanged when no sequence occurs."""
    at = stop_at(grounded.text, stops)
    if at is None:
        return grounded
    shorter = replace(grounded, text=grounded.text[:at], warnings=list(grounded.warnings))
    kept = {n for _, n in shorter.markers()}
    shorter.citations = [c for c in grounded.citations if c.n in kept]
    usage = dict(grounded.usage)
    usage["completion_tokens"] = count_tokens(shorter.text)
    usage["total_tokens"] = usage.get("prompt_tokens", 0) + usage["completion_tokens"]
    shorter.usage = usage
    return shorter
