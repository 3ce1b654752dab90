"""Metric functions: small, pure, and tested against hand-computed values.

Retrieval is judged on *gold units*: a gold source (a file, or a file and page) or, for BEIR, a
document id with its relevance grade. A ranked list holds chunk-level results; each result
matches zero or more units. A unit counts once, at its first match, so several chunks of the same
relevant document do not inflate recall or nDCG (and ideal DCG is computed over the units).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from typing import Sequence

Ranked = Sequence[set[str]]  # per rank position: the ids of the gold units that result matches


def collapse(keys: Sequence[object], units: Ranked) -> list[set[str]]:
    """Rank what the gold set judges (documents, or pages when gold names pages) by their best
    chunk: each key keeps only its first position, so a document's further chunks do not take
    places in the top k that another document could have had."""
    seen: set[object] = set()
    ranked: list[set[str]] = []
    for key, matched in zip(keys, units):
        if key not in seen:
            seen.add(key)
            ranked.append(matched)
    return ranked


def hit_at_k(ranked: Ranked, k: int) -> float:
    return 1.0 if any(ranked[:k]) else 0.0


def recall_at_k(ranked: Ranked, relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    found: set[str] = set().union(*ranked[:k]) if ranked[:k] else set()
    return len(found & relevant) / len(relevant)


def mrr_at_k(ranked: Ranked, k: int = 10) -> float:
    for position, units in enumerate(ranked[:k], start=1):
        if units:
            return 1.0 / position
    return 0.0


def ndcg_at_k(ranked: Ranked, grades: dict[str, float], k: int = 10) -> float:
    """Graded nDCG (linear gain) with each unit credited once, at its first appearance."""
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    if idcg == 0:
        return 0.0
    seen: set[str] = set()
    dcg = 0.0
    for position, units in enumerate(ranked[:k]):
        fresh = [u for u in units if u not in seen and grades.get(u, 0) > 0]
        if fresh:
            dcg += max(grades[u] for u in fresh) / math.log2(position + 2)
            seen.update(fresh)
    return dcg / idcg


# -- answers (SQuAD v1.1 evaluation conventions) --------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation) | {"“", "”", "‘", "’", "–", "—"}


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and articles, collapse white space."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    if not golds:
        return 0.0
    normalized = normalize_answer(prediction)
    return 1.0 if any(normalized == normalize_answer(g) for g in golds) else 0.0


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Best token-level F1 over the gold answers."""
    best = 0.0
    predicted = normalize_answer(prediction).split()
    for gold in golds:
        expected = normalize_answer(gold).split()
        if not predicted or not expected:
            best = max(best, float(predicted == expected))
            continue
        common = Counter(predicted) & Counter(expected)
        overlap = sum(common.values())
        if overlap == 0:
            continue
        precision = overlap / len(predicted)
        recall = overlap / len(expected)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_gold(prediction: str, golds: Sequence[str]) -> float:
    normalized = f" {normalize_answer(prediction)} "
    return 1.0 if any(normalize_answer(g) and f" {normalize_answer(g)} " in normalized for g in golds) else 0.0


# -- aggregation ---------------------------------------------------------------------------
def mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile, ``q`` in [0, 100]."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
