"""Metric functions against hand-computed values, edge cases included."""

from __future__ import annotations

import math

import pytest

from ragkit.eval import metrics as m


def test_hit_recall_mrr_on_a_hand_ranked_list():
    ranked = [set(), {"a"}, set(), {"b"}, {"a"}]
    assert m.hit_at_k(ranked, 1) == 0.0
    assert m.hit_at_k(ranked, 2) == 1.0
    assert m.recall_at_k(ranked, {"a", "b", "c"}, 2) == pytest.approx(1 / 3)
    assert m.recall_at_k(ranked, {"a", "b", "c"}, 5) == pytest.approx(2 / 3)
    assert m.mrr_at_k(ranked, 10) == 0.5
    assert m.mrr_at_k(ranked, 1) == 0.0


def test_ndcg_binary_by_hand():
    # relevant units a, b; a at rank 2, b at rank 4
    ranked = [set(), {"a"}, set(), {"b"}]
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert m.ndcg_at_k(ranked, {"a": 1, "b": 1}, 10) == pytest.approx(dcg / idcg)


def test_ndcg_graded_by_hand():
    ranked = [{"b"}, {"a"}]
    grades = {"a": 2.0, "b": 1.0}
    dcg = 1 / math.log2(2) + 2 / math.log2(3)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert m.ndcg_at_k(ranked, grades, 10) == pytest.approx(dcg / idcg)


def test_duplicate_chunks_of_one_document_count_once():
    ranked = [{"a"}, {"a"}, {"a"}]
    assert m.ndcg_at_k(ranked, {"a": 1, "b": 1}, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert m.recall_at_k(ranked, {"a", "b"}, 3) == 0.5


def test_no_relevant_documents_scores_zero_not_nan():
    assert m.ndcg_at_k([{"x"}], {}, 10) == 0.0
    assert m.recall_at_k([set()], set(), 5) == 0.0
    assert m.mrr_at_k([], 10) == 0.0
    assert m.hit_at_k([], 5) == 0.0


def test_ties_in_one_position_take_the_best_grade_once():
    assert m.ndcg_at_k([{"a", "b"}], {"a": 1, "b": 3}, 10) == pytest.approx(3 / (3 + 1 / math.log2(3)))


def test_squad_normalisation_em_and_f1():
    assert m.normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert m.exact_match("the Eiffel Tower.", ["Eiffel Tower"]) == 1.0
    assert m.exact_match("Eiffel", ["Eiffel Tower"]) == 0.0
    # prediction: "in paris france" vs gold "paris": overlap 1, p=1/3, r=1 -> f1=0.5
    assert m.token_f1("in Paris, France", ["Paris"]) == pytest.approx(0.5)
    assert m.token_f1("London", ["Paris", "London"]) == 1.0
    assert m.token_f1("", ["Paris"]) == 0.0
    assert m.token_f1("", [""]) == 1.0
    assert m.exact_match("anything", []) == 0.0


def test_contains_gold_respects_word_boundaries():
    assert m.contains_gold("It lasts 3 years in total.", ["3 years"]) == 1.0
    assert m.contains_gold("It lasts 13 years.", ["3 years"]) == 0.0
    assert m.contains_gold("whatever", [""]) == 0.0


def test_mean_and_percentile():
    assert m.mean([1.0, None, 0.0]) == 0.5
    assert m.mean([None]) is None
    assert m.percentile([1, 2, 3, 4], 50) == 2.5
    assert m.percentile([10], 95) == 10
    assert m.percentile([], 50) is None


def test_collapse_ranks_documents_by_their_best_chunk():
    from ragkit.eval.metrics import collapse, ndcg_at_k

    keys = ["a.pdf", "a.pdf", "a.pdf", "b.pdf", "c.pdf"]
    units = [set(), set(), set(), {"b"}, set()]
    ranked = collapse(keys, units)
    assert ranked == [set(), {"b"}, set()]
    # without collapsing, b's relevant chunk sits at rank 4; ranked as documents it is second
    assert ndcg_at_k(ranked, {"b": 1.0}) > ndcg_at_k(units, {"b": 1.0})
