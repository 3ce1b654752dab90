"""A hit score that means the same for every query: the estimated chance that the hit is relevant.

Fusion (:mod:`ragkit.query.fusion`) normalises each side per query, so its scores only order the
hits of one query: an unrelated question still gets a top score near the top of the scale, and
a score threshold (OpenAI's ``ranking_options.score_threshold``) would cut by rank rather than by
relevance. This module maps two raw, per-hit signals that do not depend on the other candidates:

* ``cosine``: the dense similarity of query and chunk (the embedder's own scale);
* ``coverage``: the share of the query's content terms (:func:`ragkit.text.content_terms`, stems
  as BM25 stems them, question words dropped) that occur in the chunk with its context line. It needs no corpus
  statistics, so it reads the same in a collection of ten chunks and of a million;

through a logistic curve ``1 / (1 + exp(-(bias + w_cos * cosine + w_cov * coverage)))`` with
non-negative weights, so the score is in (0, 1) and never falls when either signal rises. The
ranking stays the fusion's: :func:`along_ranking` makes the scores of one ranked list non-increasing,
so a threshold keeps a prefix of the ranking and results of several stores merge by score without
reordering any one store's hits.

The constants were fitted by logistic regression on per-hit relevance labels (a hit is relevant
when it is, or lies on, a gold passage or page; every hit of an unanswerable question is not)
from development data only: NFCorpus dev qrels, HotpotQA-100 and XQuAD-en (each set's questions
asked of the other's collection are unanswerable) and MMLongBench-Doc dev with its unanswerable
questions, retrieved with the default ``minilm-onnx`` embedder. Refit with::

    .venv/bin/python bench/score_calibration.py --fit

which prints new constants for this module. Another embedder has another cosine scale: its
scores keep their order and bounds but the constants were not fitted for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from ragkit.text import content_terms, tokenize


@dataclass(frozen=True)
class Logistic:
    """``sigmoid(bias + cosine_weight * cosine + coverage_weight * coverage)``; weights >= 0."""

    bias: float
    cosine_weight: float
    coverage_weight: float

    def __post_init__(self) -> None:
        if self.cosine_weight < 0 or self.coverage_weight < 0:
            raise ValueError("calibration weights must be non-negative (the score must be monotone)")


#: hybrid and dense retrieval: both signals (fitted by bench/score_calibration.py --fit)
WITH_COSINE = Logistic(bias=-6.277, cosine_weight=7.595, coverage_weight=3.17)
#: BM25-only retrieval, where no query vector exists: term coverage alone
LEXICAL_ONLY = Logistic(bias=-4.603, cosine_weight=0.0, coverage_weight=5.44)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def calibrated_score(cosine: float | None, coverage: float) -> float:
    """The chance, in [0, 1], that a hit with these raw signals is relevant to its query.

    ``cosine`` is None when no dense similarity exists (BM25-only retrieval); ``coverage`` is
    clipped to [0, 1] and ``cosine`` to [-1, 1], so out-of-range input cannot leave the bounds."""
    coverage = min(1.0, max(0.0, float(coverage)))
    if cosine is None or math.isnan(cosine):
        model, cosine = LEXICAL_ONLY, 0.0
    else:
        model, cosine = WITH_COSINE, min(1.0, max(-1.0, float(cosine)))
    return _sigmoid(model.bias + model.cosine_weight * cosine + model.coverage_weight * coverage)


#: NLTK's longer stopword list, which also drops question words ("how", "many", "does"): they say
#: what kind of answer is wanted, not what a relevant chunk contains
STOPWORDS = "en_plus"


def query_terms(query: str) -> frozenset[str]:
    """The distinct stems coverage counts: the query's content words, stemmed as BM25 stems them."""
    return frozenset(content_terms(query, STOPWORDS))


def term_coverage(terms: frozenset[str], texts: Sequence[str]) -> list[float]:
    """Per text, the share of ``terms`` it contains (0 for a query without content terms)."""
    if not terms:
        return [0.0] * len(texts)
    return [len(terms & set(tokens)) / len(terms) for tokens in tokenize(texts, STOPWORDS)]


def along_ranking(scores: Iterable[float]) -> list[float]:
    """The scores of a ranked list made non-increasing: each is at most the one above it. The
    ranking decides the order; a hit ranked lower never shows a higher chance of relevance."""
    out: list[float] = []
    for score in scores:
        out.append(min(score, out[-1]) if out else score)
    return out
