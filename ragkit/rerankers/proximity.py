"""Offline reranker: how close together the question's content words stand in the passage.

A passage that mentions "warranty", "solar" and "panel" in one line answers "warranty of the
solar panel" better than one that scatters them over a page. Score: the share of the query's
distinct content terms in the passage, divided by the log of the shortest token window that
holds all the terms it contains. No model; microseconds per candidate.
"""

from __future__ import annotations

import math
from typing import Sequence

from ragkit.rerankers.base import Candidate, blend
from ragkit.text import content_terms, tokenize


def proximity(query_terms: set[str], tokens: list[str]) -> float:
    """Coverage of ``query_terms`` over the log-size of the smallest window covering the found ones."""
    present = query_terms.intersection(tokens)
    if not present:
        return 0.0
    need = len(present)
    counts: dict[str, int] = {}
    best = len(tokens)
    left = 0
    for right, token in enumerate(tokens):
        if token in present:
            counts[token] = counts.get(token, 0) + 1
        while len(counts) == need:
            best = min(best, right - left + 1)
            gone = tokens[left]
            if gone in counts:
                counts[gone] -= 1
                if not counts[gone]:
                    del counts[gone]
            left += 1
    return (need / len(query_terms)) / math.log(2 + best)


class ProximityReranker:
    name = "proximity"

    def __init__(self, weight: float = 0.3) -> None:
        self.weight = weight

    def rerank(self, query: str, candidates: Sequence[Candidate]) -> dict[str, float]:
        terms = set(content_terms(query))
        if not terms or not candidates:
            return {c.chunk_id: c.score for c in candidates}
        token_lists = tokenize([c.text for c in candidates])
        return blend(candidates, [proximity(terms, tokens) for tokens in token_lists], self.weight)
