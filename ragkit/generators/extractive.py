"""The offline answerer: quote the sentences of the retrieved chunks that best match the question.

No model, no network. Each sentence of the top chunks is scored by how much of the question's
(stemmed, stopword-free) vocabulary it covers, weighting rare words more (idf over the candidate
sentences), plus a small prior for better-ranked chunks. The best sentences are quoted verbatim
with their ``[n]`` citations, so every claim in an extractive answer is a literal span of a source.
"""

from __future__ import annotations

import math
from typing import Sequence

from ragkit.citations import sentence_spans
from ragkit.generators.base import Generation, TokenCallback
from ragkit.lexical import tokenize
from ragkit.retrieve import SearchHit

PREFIX = "Extractive answer (quoted from the documents):"
NOT_FOUND = "Not found in the documents."


class ExtractiveGenerator:
    name = "extractive"

    def __init__(self, max_sentences: int = 2, min_coverage: float = 0.2, max_chars: int = 400) -> None:
        self.max_sentences = max_sentences
        self.min_coverage = min_coverage
        self.max_chars = max_chars

    def rank_sentences(self, question: str, sources: Sequence[SearchHit]) -> list[tuple[float, float, int, str]]:
        """(score, coverage, source number, sentence) for every candidate sentence, best first."""
        query_terms = set(tokenize([question])[0])
        candidates: list[tuple[int, str]] = []
        for n, hit in enumerate(sources, start=1):
            for start, end in sentence_spans(hit.text):
                sentence = hit.text[start:end]
                if len(sentence) >= 12:
                    candidates.append((n, sentence))
        if not candidates or not query_terms:
            return []
        tokens = [set(t) for t in tokenize([s for _, s in candidates])]
        df = {term: sum(1 for t in tokens if term in t) for term in query_terms}
        total = len(candidates)
        idf = {term: math.log(1 + total / (1 + df[term])) + (0.5 if df[term] == 0 else 0.0) for term in query_terms}
        norm = sum(idf.values()) or 1.0
        ranked = []
        for (n, sentence), terms in zip(candidates, tokens):
            coverage = sum(idf[t] for t in query_terms & terms) / norm
            score = coverage + 0.05 / n
            ranked.append((score, coverage, n, sentence))
        ranked.sort(key=lambda r: (-r[0], r[2]))
        return ranked

    def generate(
        self, question: str, sources: Sequence[SearchHit], *, on_token: TokenCallback | None = None
    ) -> Generation:
        ranked = self.rank_sentences(question, sources)
        if not ranked or ranked[0][1] < self.min_coverage:
            text = NOT_FOUND
            if on_token:
                on_token(text)
            return Generation(text=text, generator=self.name, refused=True)
        best = ranked[0][0]
        chosen: list[tuple[int, str]] = []
        length = 0
        for score, coverage, n, sentence in ranked:
            if len(chosen) >= self.max_sentences or score < 0.6 * best:
                break
            if any(sentence == s for _, s in chosen) or (chosen and length + len(sentence) > self.max_chars):
                continue
            chosen.append((n, sentence))
            length += len(sentence)
        body = " ".join(f"{sentence} [{n}]" for n, sentence in chosen)
        text = f"{PREFIX} {body}"
        if on_token:
            on_token(text)
        return Generation(text=text, generator=self.name)
