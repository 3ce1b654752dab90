"""The calibrated hit score: bounded, monotone in each signal, non-increasing along a ranking,
and the same for the same evidence whatever else the query retrieved."""

from __future__ import annotations

import itertools

import pytest

from ragkit.query.calibration import (LEXICAL_ONLY, WITH_COSINE, Logistic, along_ranking, calibrated_score,
                                      query_terms, term_coverage)

COSINES = [-1.0, -0.2, 0.0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0]
COVERAGES = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]


def test_scores_stay_in_bounds_even_for_out_of_range_input():
    for cosine, coverage in itertools.product(COSINES + [None, -5.0, 5.0, float("nan")], COVERAGES + [-2.0, 3.0]):
        assert 0.0 <= calibrated_score(cosine, coverage) <= 1.0


def test_score_never_falls_when_cosine_rises():
    for coverage in COVERAGES:
        scores = [calibrated_score(c, coverage) for c in COSINES]
        assert scores == sorted(scores)
    assert calibrated_score(0.8, 0.5) > calibrated_score(0.2, 0.5)


def test_score_never_falls_when_coverage_rises():
    for cosine in COSINES + [None]:
        scores = [calibrated_score(cosine, v) for v in COVERAGES]
        assert scores == sorted(scores)
    assert calibrated_score(0.4, 1.0) > calibrated_score(0.4, 0.0)
    assert calibrated_score(None, 1.0) > calibrated_score(None, 0.0)


def test_fitted_constants_are_monotone_and_negative_weights_are_refused():
    for model in (WITH_COSINE, LEXICAL_ONLY):
        assert model.cosine_weight >= 0 and model.coverage_weight >= 0
    with pytest.raises(ValueError):
        Logistic(bias=0.0, cosine_weight=-1.0, coverage_weight=1.0)


def test_strong_evidence_scores_high_and_none_scores_low():
    """What a score threshold of 0.5 relies on: the two ends of the scale sit either side of it."""
    assert calibrated_score(0.75, 1.0) > 0.5
    assert calibrated_score(0.05, 0.0) < 0.2
    assert calibrated_score(None, 0.0) < 0.2


def test_term_coverage_counts_stemmed_content_terms():
    terms = query_terms("What is the warranty of the solar panels?")
    assert terms == {"warranti", "solar", "panel"}
    covered = term_coverage(terms, ["Solar panel warranty: 25 years.", "Solar power in Norway.", "Nothing here."])
    assert covered[0] == 1.0 and 0 < covered[1] < 1 and covered[2] == 0.0
    assert term_coverage(query_terms("the of and"), ["the of and"]) == [0.0]


def test_along_ranking_is_non_increasing_and_keeps_the_top():
    assert along_ranking([0.4, 0.9, 0.3, 0.35, 0.1]) == [0.4, 0.4, 0.3, 0.3, 0.1]
    assert along_ranking([]) == []
    scores = along_ranking([0.2, 0.8, 0.5])
    assert scores == sorted(scores, reverse=True) and scores[0] == 0.2
