"""Fusion, confidence and document evidence: small pure functions, checked on hand-made scores."""

from __future__ import annotations

import pytest

from ragkit.query import fusion


def test_minmax_scales_per_query_and_handles_constant_lists():
    assert fusion.minmax({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert fusion.minmax({"a": 3.0, "b": 3.0}) == {"a": 1.0, "b": 1.0}
    assert fusion.minmax({"a": 0.0}) == {"a": 0.0}


def test_convex_weights_the_sides_and_counts_missing_scores_as_zero():
    dense = {"a": 0.9, "b": 0.5}
    lexical = {"b": 12.0, "c": 6.0}
    fused = fusion.convex(dense, lexical, ["a", "b", "c"], alpha=0.5)
    assert fused["b"] == pytest.approx(0.5 * (0.5 / 0.9) + 0.5 * 1.0)
    assert fusion.rank(fused)[0] == "b"
    assert fusion.rank(fusion.convex(dense, lexical, ["a", "b", "c"], alpha=1.0))[0] == "a"


def test_rrf_rewards_agreement():
    fused = fusion.rrf([["a", "b", "c"], ["b", "a", "d"]], k=60)
    assert set(fusion.rank(fused)[:2]) == {"a", "b"}
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["d"] == pytest.approx(fused["c"]) == pytest.approx(1 / 63)


def test_confidence_is_high_for_a_clear_winner_and_zero_for_a_flat_list():
    clear = [10.0, 2.0, 1.9, 1.8, 1.7, 1.6]
    flat = [5.0, 5.0, 5.0, 5.0]
    assert fusion.confidence(clear) > 1.5
    assert fusion.confidence(flat) == 0.0
    # scale-free: multiplying every score changes nothing
    assert fusion.confidence([s * 7 for s in clear]) == pytest.approx(fusion.confidence(clear))


def test_adaptive_alpha_moves_towards_the_decisive_side_and_stays_bounded():
    decisive, flat = [0.9, 0.3, 0.29, 0.28, 0.27], [5.0, 4.9, 4.9, 4.8, 4.8]
    towards_dense = fusion.adaptive_alpha(decisive, flat, alpha=0.5)
    towards_bm25 = fusion.adaptive_alpha(flat, decisive, alpha=0.5)
    assert towards_dense > 0.5 > towards_bm25
    assert 0.5 * (1 - fusion.ADAPTIVE_SHRINK) <= towards_bm25 and towards_dense <= 0.5 + 0.5 * fusion.ADAPTIVE_SHRINK
    assert fusion.adaptive_alpha([1.0, 1.0, 1.0], [2.0, 2.0, 2.0], alpha=0.3) == 0.3  # no evidence: as configured


def test_document_evidence_lifts_chunks_of_the_named_document():
    chunks = {"report-2019#p7": 0.80, "report-2020#p7": 0.82, "manual#p3": 0.20}
    documents = {"report-2019#p7": 9.0, "report-2020#p7": 2.0, "manual#p3": 0.0}
    mixed = fusion.with_document_evidence(chunks, documents, weight=0.3)
    assert fusion.rank(mixed)[0] == "report-2019#p7"
    assert fusion.with_document_evidence(chunks, documents, weight=0.0) == chunks


def test_mmr_skips_near_duplicates():
    relevance = {"a": 1.0, "a2": 0.99, "b": 0.6}
    same = {frozenset({"a", "a2"}): 0.99}

    def similarity(x: str, y: str) -> float:
        return same.get(frozenset({x, y}), 0.1)

    assert fusion.mmr(["a", "a2", "b"], relevance, similarity, k=2, lam=0.3) == ["a", "b"]
    assert fusion.mmr(["a", "a2", "b"], relevance, similarity, k=2, lam=1.0) == ["a", "a2"]
