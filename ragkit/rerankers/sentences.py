"""Offline reranker: the best single sentence of each passage, embedded with the collection's model.

A 200-token chunk embeds as the average of everything in it; the one sentence that answers the
question is diluted. Embedding each sentence of the top candidates and taking the best match to
the question sharpens that. It costs one embedding call over the candidates' sentences per query
(see the README for the measured cost), so it is not the default.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ragkit.rerankers.base import Candidate, blend
from ragkit.text import sentence_spans

#: sentences per candidate that are embedded (the first ones; later ones are rarely the answer)
MAX_SENTENCES = 8


class SentenceReranker:
    name = "sentences"

    def __init__(self, embedder, weight: float = 0.5, depth: int = 20) -> None:
        self.embedder = embedder
        self.weight = weight
        self.depth = depth

    def rerank(self, query: str, candidates: Sequence[Candidate]) -> dict[str, float]:
        head = list(candidates[: self.depth])
        if not head:
            return {}
        sentences: list[str] = []
        owner: list[int] = []
        for i, candidate in enumerate(head):
            spans = sentence_spans(candidate.text)[:MAX_SENTENCES] or [(0, len(candidate.text))]
            for start, end in spans:
                sentences.append(candidate.text[start:end])
                owner.append(i)
        vectors = self.embedder.embed([query] + sentences)
        similarity = vectors[1:] @ vectors[0]
        best = np.full(len(head), -1.0)
        for i, value in zip(owner, similarity):
            best[i] = max(best[i], float(value))
        scores = blend(head, best.tolist(), self.weight)
        # candidates past the depth keep their order below the reranked ones
        floor = min(scores.values()) if scores else 0.0
        scores.update({c.chunk_id: floor - 1 - n for n, c in enumerate(candidates[self.depth:])})
        return scores
