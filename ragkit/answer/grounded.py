"""The grounded answer: refuse, or generate from the sources, then check every citation.

One decision for every surface (``KnowledgeBase.ask``/``answer``, the CLI, the server's
Responses, chat completions and Assistants runs): refuse without generating when the evidence
is weak (:func:`refusal_reason`; with ``refusal_evidence`` on, a cross-encoder weighs the
evidence: :mod:`ragkit.answer.evidence`); otherwise generate, falling back to the extractive
answer with a warning when the chat model is unreachable after retries; keep only ``[n]``
markers that name a provided source, each with a quote that is a literal span of its chunk.

With ``structured`` (a chat model asked for JSON in a response format: ``formatted`` generators)
the same refusal decision holds, but the answer is the model's JSON: no ``[n]`` is checked or
removed (a JSON array ``[1]`` is data, not a citation), no extractive fallback (its text is not the
JSON asked for: the chat model's failure is the request's), and a refusal is never sent to
``on_token`` (the caller's stream carries JSON; the refusal is reported as one).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol, Sequence

from ragkit.answer.evidence import JUDGE, answer_probability, evidence_refuses
from ragkit.citations import ResolvedAnswer, resolve
from ragkit.errors import TransientModelError
from ragkit.generators import Generator, TokenCallback
from ragkit.generators.extractive import ExtractiveGenerator
from ragkit.models import Answer, Generation, SearchResult
from ragkit.text import named_years

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.config import Settings
    from ragkit.stores import LexicalIndex, Manifest

REFUSAL_TEXT = "Not found in the documents."
#: the words of the warning an extractive fallback carries (servers do not cache such answers)
FALLBACK_NOTE = "showing the extractive answer instead"


class Collection(Protocol):
    """What answering needs of a knowledge base (:class:`ragkit.KnowledgeBase` has it)."""

    settings: "Settings"

    @property
    def manifest(self) -> "Manifest": ...

    def generator(self, name: str | None = None) -> Generator: ...

    def lexical_index(self) -> "LexicalIndex": ...


def grounded_answer(kb: Collection, question: str, result: SearchResult, *,
                    generator: str | Generator | None = None, on_token: TokenCallback | None = None,
                    timings: dict[str, float] | None = None, started: float | None = None,
                    instructions: str | None = None, check_names: bool = True,
                    matching: Sequence[str] = (), structured: bool = False) -> Answer:
    """Answer ``question`` from retrieval results already in hand (see ``KnowledgeBase.answer``
    for the arguments): refusal checks, generation with extractive fallback, citation checks."""
    started = time.perf_counter() if started is None else started
    timings = dict(timings or {})
    hits = result.hits
    warnings: list[str] = [result.scope] if result.scope else []
    chosen = generator if generator is not None and not isinstance(generator, str) else kb.generator(generator)
    reason = refusal_reason(kb, question, result, extractive=chosen.name == "extractive" and check_names,
                            matching=matching)
    if chosen.name == "extractive" and evidence_in_use(kb):
        # the evidence model has weighed the coverage already; the asked-for kind check stays
        chosen = ExtractiveGenerator(min_coverage=0.0)
    if reason:
        warnings.append(f"refused: {reason}")
        generation = Generation(text=REFUSAL_TEXT, generator=chosen.name, refused=True)
        if on_token and not structured:
            on_token(REFUSAL_TEXT)
    else:
        t = time.perf_counter()
        try:
            generation = chosen.generate(question, hits, on_token=on_token, instructions=instructions)
        except TransientModelError as exc:
            if structured:
                raise
            warnings.append(f"{exc}; {FALLBACK_NOTE}")
            generation = kb.generator("extractive").generate(question, hits, on_token=on_token)
        timings["generate"] = time.perf_counter() - t
    resolved = ResolvedAnswer(generation.text, [], []) if structured else resolve(generation.text, hits)
    if resolved.invalid:
        warnings.append("removed citation(s) to source(s) that were not provided: "
                        + ", ".join(f"[{n}]" for n in resolved.invalid))
    timings["total"] = time.perf_counter() - started
    refused = generation.refused
    if not refused and not resolved.citations and not structured:
        warnings.append(f"the {generation.generator} answer cites no source: check it against the sources")
    return Answer(
        question=question, text=resolved.text, citations=[] if refused else resolved.citations,
        sources=hits, refused=refused, generator=generation.generator, model=generation.model,
        usage=generation.usage, timings=timings, warnings=warnings + generation.warnings,
        invalid_citations=resolved.invalid, best_similarity=result.best_similarity,
        preamble=generation.preamble,
    )


def fell_back(answer: Answer) -> bool:
    """The chat model failed and the answer is the extractive one."""
    return any(FALLBACK_NOTE in warning for warning in answer.warnings)


#: the share of the question's words the extractive answerer's quote must hold to outweigh a far
#: nearest passage: the distance is a proxy for "nothing here is about this", and a sentence that
#: says nearly every word of the question ("What completed the triad" / "... completed the triad")
#: is direct evidence against it (XQuAD false refusals 67 -> 62 of 1,190, no unanswerable question
#: of any set answered; the same at 0.75; docs/evaluation-refusal.md)
QUOTED_IN_FULL = 0.9


def refusal_reason(kb: Collection, question: str, result: SearchResult, *, extractive: bool,
                   matching: Sequence[str] = ()) -> str | None:
    """Why the documents cannot answer, decided before any generation; None to go on.

    Three signals: nothing retrieved is close to the question (the best cosine similarity is
    below ``refusal_threshold``, unless the extractive answerer's quote says nearly every word of
    the question: :data:`QUOTED_IN_FULL`); for the extractive answerer, the question names something
    the collection never mentions (a name or code in no chunk at all: "France", "WS-300"), or
    a year that none of the documents that match it mention (``matching`` and the hits: the
    2022 survey when the matching report is the 2018 one). A chat model may know the name by
    another spelling, or work a year out, so it only gets the first.

    With ``refusal_evidence = "cross-encoder"`` (and its package installed) the first signal and
    the extractive answerer's coverage rule give way to :mod:`ragkit.answer.evidence`: a
    cross-encoder's best logit over the top hits and the question coverage, weighed
    together. The names, years and asked-for-kind checks stay: each names a concrete absence."""
    if not result.hits:
        return "nothing in the collection matches the question"
    best = result.best_similarity
    logit = JUDGE.best_logit(question, result.hits) if kb.settings.refusal_evidence == "cross-encoder" else None
    if logit is not None:
        coverage = ExtractiveGenerator().select(question, result.hits)[1]
        if evidence_refuses(logit, coverage):
            chance = answer_probability(logit, coverage)
            return (f"the passages do not answer the question (cross-encoder {logit:.1f}, "
                    f"chance of an answer {chance:.2f})")
    elif best is not None and best < kb.settings.refusal_threshold and not (
            extractive and ExtractiveGenerator().select(question, result.hits)[1] >= QUOTED_IN_FULL):
        return f"the closest passage is too far from the question (similarity {best:.2f})"
    if extractive and kb.settings.refuse_unknown_terms:
        unknown = kb.lexical_index().unknown_names(question, [h.text for h in result.hits])
        if unknown:
            return "the documents never mention " + ", ".join(repr(w) for w in unknown)
        paths = list(dict.fromkeys([*matching, *(hit.path for hit in result.hits)]))
        absent = [year for year in named_years(question) if not kb.manifest.mentions(paths, year)]
        if absent:
            return "the documents that match never mention " + ", ".join(absent)
    return None


def evidence_in_use(kb: Collection) -> bool:
    """The evidence model decides refusal: it is configured and its cross-encoder is installed
    (otherwise one warning is logged and the lexical rules apply)."""
    return kb.settings.refusal_evidence == "cross-encoder" and JUDGE.available()
