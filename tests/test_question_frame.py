"""Which words of a question frame it (the answer's category, hedges) rather than name its subject."""

from __future__ import annotations

import pytest

from ragkit.question_frame import category_words, described_categories, frame_terms, hedge_words, locator_words


@pytest.mark.parametrize("question, words", [
    ("In what country can most of the Amazon rainforest be found?", ["country"]),
    ("What type of manufacturing plant is Victoria soon losing?", ["type"]),
    ("What is the last name of the player who recovered the ball?", ["last", "name"]),
    ("What is another way of referring to stators?", ["another", "way"]),
    ("Which cities does the provider have teams in?", ["cities"]),
    ("What group of people performed civil disobedience?", ["group"]),
])
def test_the_generic_noun_of_the_wh_phrase_names_the_answers_category(question, words):
    assert category_words(question) == words


@pytest.mark.parametrize("question", [
    "What bonus scheme does Halvard offer its employees?",   # the subject, not a category
    "What Panther defender was called for holding?",          # a specific noun
    "How many people live in Boras?",                         # no wh-phrase with a category
    "What does the warranty cover?",                          # an auxiliary ends the phrase
])
def test_a_specific_noun_or_no_wh_phrase_frames_nothing(question):
    assert category_words(question) == []


def test_hedges_are_found_anywhere_and_stemmed_like_question_terms():
    question = "Where do consultant pharmacists typically tend to work, generally?"
    assert hedge_words(question) == ["typically", "tend", "generally"]
    assert frame_terms(question) == frozenset({"typic", "tend", "general"})
    assert frame_terms("What does the warranty cover?") == frozenset()


def test_a_verb_of_belief_reports_the_answer_and_need_not_be_said():
    assert hedge_words("What do some believe the Treaty of Versailles assisted in?") == ["believe"]
    assert {"think", "realli"} <= frame_terms("What did Mote think the class system really represented?")


def test_a_generic_noun_pinned_down_by_a_relative_clause_describes_an_unnamed_entity():
    question = "When did the country containing Nugegoda leave the British Empire?"
    assert described_categories(question) == ["country"]
    assert "countri" in frame_terms(question)
    assert described_categories("When did the festival that Halvard sponsors start?") == []
    assert described_categories("Which country did the team visit?") == []


def test_words_that_say_where_to_look_frame_the_question():
    question = "Regarding the table in figure 3, how many recruiters viewed profiles?"
    assert locator_words(question) == ["Regarding", "table", "figure"]
    assert {"regard", "tabl", "figur"} <= frame_terms(question)
    assert locator_words("Which recruiters viewed profiles?") == []
