"""Grounded answers over vector stores: retrieval, refusal, generation, checked citations, cache.

Retrieval runs over one or more stores with OpenAI filters (:mod:`ragkit.library.retrieval`);
the rest is :func:`ragkit.answer.grounded_answer`, the same decisions ``ask`` makes: refuse
without generating when the evidence is weak; fall back to the extractive answer with a warning
when the chat model is unreachable after retries; keep only ``[n]`` markers that name a provided
source, each with a quote that is a literal span of its chunk.

Answers are cached per process. The key holds each store's collection generation (bumped by
every change to its chunks), the store's ``files_version`` (bumped whenever its files, their
status or their attributes change: what filters and file names depend on), the question and
every setting that shapes the answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ragkit.answer.grounded import fell_back, grounded_answer
from ragkit.answer.passages import distinct
from ragkit.api import MATCHING_DEPTH
from ragkit.citations import MARKER
from ragkit.errors import UsageError
from ragkit.models import Citation, SearchResult
from ragkit.library.filters import Filter
from ragkit.library.retrieval import Found, audit_hits, retrieve

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.library.engine import Library

TokenSink = Callable[[str], None]


@dataclass
class Grounded:
    question: str
    text: str
    refused: bool
    citations: list[Citation]
    found: list[Found]  # the numbered sources: [1] is found[0]
    generator: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    cached: bool = False
    #: why the answer stopped short (``max_output_tokens``: :mod:`ragkit.library.output_limit`)
    incomplete: str | None = None

    def cited(self) -> list[dict[str, Any]]:
        """Each citation with the file it points to (for annotations, chat and the audit log)."""
        out = []
        for c in self.citations:
            source = self.found[c.n - 1]
            out.append({"n": c.n, "file_id": source.file_id, "filename": source.filename,
                        "vector_store_id": source.vector_store_id, "page": c.page, "chunk_id": c.chunk_id,
                        "quote": c.quote, "quote_start": c.quote_start, "quote_end": c.quote_end})
        return out

    def markers(self) -> list[tuple[int, int]]:
        """(position in text, source number) of every ``[n]`` in the answer, in order."""
        found = []
        for match in MARKER.finditer(self.text):
            for number in re.split(r"\s*[,;]\s*", match.group(1)):
                n = int(number)
                if 1 <= n <= len(self.found):
                    found.append((match.start(), n))
        return found


_encoding_lock = threading.Lock()
_encoding: Any = None


def encoding() -> Any:
    """The cl100k tokenizer (loaded once, offline)."""
    global _encoding
    if _encoding is None:
        from ragkit.tiktoken_offline import get_encoding

        with _encoding_lock:
            _encoding = _encoding or get_encoding("cl100k_base")
    return _encoding


def count_tokens(text: str) -> int:
    """cl100k tokens, to report usage for answers no upstream model counted (extractive)."""
    return len(encoding().encode(text, disallowed_special=()))


def answer(library: Library, stores: Sequence[dict[str, Any]], question: str, *, k: int, node: Filter | None,
           model: str, generator: str, instructions: str | None = None, score_threshold: float | None = None,
           alpha: float | None = None, on_token: TokenSink | None = None,
           on_retrieved: Callable[[list[Found]], None] | None = None, max_tokens: int | None = None,
           response_format: dict[str, Any] | None = None) -> Grounded:
    """Answer ``question`` from the stores; ``on_retrieved`` receives the numbered sources once
    they are known and ``on_token`` the text as it is generated (streaming). ``max_tokens`` caps a
    chat model's answer (the extractive answer is a quote of at most two sentences).
    ``score_threshold`` drops sources scored below it and ``alpha`` is the dense weight of the
    fusion, as in a vector store search (OpenAI's ``ranking_options``). ``response_format``
    (chat completions' shape of it) asks the chat model for structured output: the answer is its
    JSON, or a refusal (``refused``), never sent to ``on_token``
    (:func:`ragkit.answer.grounded.grounded_answer`)."""
    key = (tuple((s["id"], library.kb(s).manifest.generation(), s["files_version"]) for s in stores),
           question, k, json.dumps(node.model_dump() if node else None, sort_keys=True), model, generator,
           instructions or "", score_threshold, alpha, max_tokens if generator == "openai" else None,
           json.dumps(response_format, sort_keys=True) if response_format is not None else None)
    cached = library.cache.get(key)
    if cached is not None:
        if on_retrieved:
            on_retrieved(cached.found)
        if on_token and not (response_format is not None and cached.refused):
            on_token(cached.text)
        return Grounded(**{**cached.__dict__, "cached": True})
    wide = retrieve(library, stores, [question], max(k, MATCHING_DEPTH), node, score_threshold=score_threshold,
                    alpha=alpha)
    # the same top k (the candidate pool does not change), each passage once
    retrieved = replace(wide, found=distinct(wide.found, lambda found: found.hit.text)[:k])
    hits = [f.hit for f in retrieved.found]
    if on_retrieved:
        on_retrieved(retrieved.found)
    kb = library.kb(stores[0])
    chosen = library.generator(generator, model if generator == "openai" else None)
    if max_tokens is not None and hasattr(chosen, "limited"):
        chosen = chosen.limited(max_tokens)
    if response_format is not None:
        if not hasattr(chosen, "formatted"):
            raise UsageError(f"structured output needs a chat model: the {chosen.name} answerer answers in text")
        chosen = chosen.formatted(response_format)
    answered = grounded_answer(kb, question, SearchResult(question, "hybrid", hits, retrieved.best_similarity),
                               generator=chosen, on_token=on_token, instructions=instructions,
                               check_names=len(stores) == 1, matching=[f.hit.path for f in wide.found],
                               structured=response_format is not None)
    usage = dict(answered.usage)
    if not usage:
        prompt = count_tokens(question) + sum(count_tokens(h.text) for h in hits)
        completion = count_tokens(answered.text)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    result = Grounded(question=question, text=answered.text, refused=answered.refused,
                      citations=answered.citations, found=retrieved.found,
                      generator=answered.generator, model=model, usage=usage, warnings=answered.warnings)
    if not fell_back(answered):
        library.cache.put(key, result)
    return result


Emit = Callable[[str, Any], None]


async def stream(run: Callable[[Emit], Grounded]) -> AsyncIterator[tuple[str, Any]]:
    """Run ``run(emit)`` in a thread and yield what it emits as ``(kind, payload)`` while it
    runs (``emit`` is safe to call from that thread), then ``("done", result)``.

    An exception raised by ``run`` is re-raised here, in the request's task."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def emit(kind: str, payload: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (kind, payload))

    def work() -> None:
        try:
            result: Any = run(emit)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            emit("error", exc)
            return
        emit("done", result)

    worker = loop.run_in_executor(None, work)
    while True:
        kind, payload = await queue.get()
        if kind == "error":
            await worker
            raise payload
        yield kind, payload
        if kind == "done":
            await worker
            return


def audit_answer(audit: dict[str, Any], grounded: Grounded) -> None:
    audit.update({"question": grounded.question, "retrieved": audit_hits(grounded.found), "answer": grounded.text,
                  "citations": [{k: c[k] for k in ("n", "file_id", "page", "chunk_id", "quote")}
                                for c in grounded.cited()],
                  "refused": grounded.refused, "model": grounded.model, "generator": grounded.generator,
                  "tokens": grounded.usage, "cached": grounded.cached})
