"""A cap on an answer's output tokens (``max_output_tokens``), counted with cl100k.

The chat model is asked for at most that many tokens; the extractive answerer has no such knob,
so every answer is cut here, the same way: the text keeps its first ``limit`` cl100k tokens
(never half a character), the ``[n]`` markers that survive the cut keep their citations and the
others are dropped, and the answer is marked ``incomplete`` (``max_output_tokens``). A streamed
answer's deltas stop at the same place (:class:`StreamLimit`).
"""

from __future__ import annotations

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
