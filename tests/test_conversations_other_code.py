""""The other one": the other of two named things, or the sibling code in the answer's passages."""

from __future__ import annotations

from ragkit.conversations.other_code import find_sibling, other_code
from ragkit.conversations.rewrite import Context, rewrite


def test_the_other_code_comes_from_the_passages():
    assert other_code("and the other one?", "What does error code E42 mean?",
                      ["E42: low battery. E17: sensor offline."]) == "What does error code E17 mean?"


def test_a_year_is_not_a_code_with_a_sibling():
    assert other_code("and the other one?", "What happened at the 1920 Summer Olympics?",
                      ["The 1900 Summer Olympics were held in Paris."]) is None
    assert find_sibling("1920", ["The 1900 Summer Olympics were held in Paris."]) == "1900"  # by shape alone


def test_two_named_things_are_exchanged_before_any_year_is_touched():
    previous = "Between Brand and Hans Edler: in which Summer Olympics of 1920 did Brand's country compete?"
    done = rewrite("And the other one?", Context(previous, ("The 1900 Summer Olympics were held in Paris.",)))
    assert done.method == "other-one"
    assert "Hans Edler's country" in done.query and "1920" in done.query and "1900" not in done.query


def test_without_a_pair_or_a_code_there_is_no_other():
    assert other_code("and the other one?", "How long is the warranty?", ["Two years."]) is None
