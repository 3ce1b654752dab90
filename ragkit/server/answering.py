"""Grounded answers over vector stores: retrieval, refusal, generation, checked citations, cache.

This is :meth:`ragkit.KnowledgeBase.ask` after its retrieval step, run over hits gathered from
one or more stores with OpenAI filters (:mod:`ragkit.server.retrieval`), because ``ask`` takes
a question rather than hits. The decisions are ``ask``'s: refuse without generating when the
best dense similarity is below ``refusal_threshold``; fall back to the extractive answer with a
warning when the chat model is unreachable after retries; keep only ``[n]`` markers that name a
provided source, each with a quote that is a literal span of its chunk.

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
from dataclasses import dataclass, field
from typing import Any

from ragkit.api import REFUSAL_TEXT
from ragkit.citations import MARKER, resolve
from ragkit.errors import TransientModelError
from ragkit.models import Citation, Generation
from ragkit.server.filters import Filter
from ragkit.server.retrieval import Found, retrieve
from ragkit.server.state import ServerContext

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


def count_tokens(text: str) -> int:
    """cl100k tokens, to report usage for answers no upstream model counted (extractive)."""
    global _encoding
    if _encoding is None:
        from ragkit.tiktoken_offline import get_encoding

        with _encoding_lock:
            _encoding = _encoding or get_encoding("cl100k_base")
    return len(_encoding.encode(text, disallowed_special=()))


def _generator(ctx: ServerContext, name: str, model: str, instructions: str | None):
    generator = ctx.registry.generator(name, model if name == "openai" else None)
    if not instructions or name != "openai":
        return generator
    from ragkit.generators.openai_chat import OpenAIChatGenerator

    instructed = OpenAIChatGenerator(generator.client, model=generator.model,  # type: ignore[attr-defined]
                                     temperature=generator.temperature,  # type: ignore[attr-defined]
                                     max_tokens=generator.max_tokens)  # type: ignore[attr-defined]
    base = instructed.messages

    def messages(question: str, sources: Sequence[Any]) -> list[dict[str, str]]:
        built = base(question, sources)
        built[0] = {"role": "system", "content": built[0]["content"] + "\n\nInstructions from the operator "
                    "(the rules above still apply):\n" + instructions}
        return built

    instructed.messages = messages  # type: ignore[method-assign]
    return instructed


def answer(ctx: ServerContext, stores: Sequence[dict[str, Any]], question: str, *, k: int, node: Filter | None,
           model: str, generator: str, instructions: str | None = None, score_threshold: float | None = None,
           on_token: TokenSink | None = None,
           on_retrieved: Callable[[list[Found]], None] | None = None) -> Grounded:
    """Answer ``question`` from the stores; ``on_retrieved`` receives the numbered sources once
    they are known and ``on_token`` the text as it is generated (streaming)."""
    key = (tuple((s["id"], ctx.registry.kb(s).manifest.generation(), s["files_version"]) for s in stores),
           question, k, json.dumps(node.model_dump() if node else None, sort_keys=True), model, generator,
           instructions or "", score_threshold)
    cached = ctx.cache.get(key)
    if cached is not None:
        if on_retrieved:
            on_retrieved(cached.found)
        if on_token:
            on_token(cached.text)
        return Grounded(**{**cached.__dict__, "cached": True})
    retrieved = retrieve(ctx, stores, [question], k, node, score_threshold=score_threshold)
    hits = [f.hit for f in retrieved.found]
    if on_retrieved:
        on_retrieved(retrieved.found)
    weak = not hits or (retrieved.best_similarity is not None
                        and retrieved.best_similarity < ctx.settings.refusal_threshold)
    warnings: list[str] = []
    fallback = False
    if weak:
        generation = Generation(text=REFUSAL_TEXT, generator=generator, refused=True)
        if on_token:
            on_token(REFUSAL_TEXT)
    else:
        try:
            generation = _generator(ctx, generator, model, instructions).generate(question, hits, on_token=on_token)
        except TransientModelError as exc:
            warnings.append(f"{exc}; showing the extractive answer instead")
            fallback = True
            generation = ctx.registry.generator("extractive", None).generate(question, hits, on_token=on_token)
    resolved = resolve(generation.text, hits)
    if resolved.invalid:
        warnings.append("removed citation(s) to source(s) that were not provided: "
                        + ", ".join(f"[{n}]" for n in resolved.invalid))
    usage = dict(generation.usage)
    if not usage:
        prompt = count_tokens(question) + sum(count_tokens(h.text) for h in hits)
        completion = count_tokens(resolved.text)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    result = Grounded(question=question, text=resolved.text, refused=generation.refused,
                      citations=[] if generation.refused else resolved.citations, found=retrieved.found,
                      generator=generation.generator, model=model, usage=usage,
                      warnings=warnings + generation.warnings)
    if not fallback:
        ctx.cache.put(key, result)
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
    from ragkit.server.retrieval import audit_hits

    audit.update({"question": grounded.question, "retrieved": audit_hits(grounded.found), "answer": grounded.text,
                  "citations": [{k: c[k] for k in ("n", "file_id", "page", "chunk_id", "quote")}
                                for c in grounded.cited()],
                  "refused": grounded.refused, "model": grounded.model, "generator": grounded.generator,
                  "tokens": grounded.usage, "cached": grounded.cached})
