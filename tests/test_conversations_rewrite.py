"""Offline follow-up rewriting: pure functions, no knowledge base.

The cases below are not the ones in corpora/halvard.conversations.jsonl (that file is the
measurement); they check each rule on questions written separately."""

from __future__ import annotations

import pytest

from ragkit.conversations.phrases import classify, noun_phrases, pluralise, subject_of, tokens
from ragkit.conversations.other_code import find_sibling
from ragkit.conversations.rewrite import Context, lexical_similarity, rewrite

TABLE = "Product | Warranty period\nWS-200 sensor array | 3 years\nWS-100 sensor array | 2 years"


def _rewrite(previous: str, followup: str, passages: tuple[str, ...] = ()) -> str:
    return rewrite(followup, Context(previous, passages)).query


def test_the_examples_that_define_the_feature():
    previous = "How long is the warranty on the WS-200 sensor array?"
    assert _rewrite(previous, "and how do I return it?") == "how do I return the WS-200 sensor array?"
    assert _rewrite(previous, "what about the solar panel?") == "How long is the warranty on the solar panel?"
    assert _rewrite(previous, "and the other one?", (TABLE,)) == "How long is the warranty on the WS-100 sensor array?"


@pytest.mark.parametrize("previous, followup, expected", [
    ("What does error code E42 mean?", "how do I fix it?", "how do I fix error code E42?"),
    ("When do API tokens expire?", "can they be revoked?", "can API tokens be revoked?"),
    ("Which countries does Halvard sell in?", "and how many employees does it have?",
     "how many employees does Halvard have?"),
    ("What is the warranty period of the Console C5?", "does it cover the display?",
     "does the Console C5 cover the display?"),
    # a plural pronoun takes the plural name, not the thing asked for
    ("Under which UN number are the CR123A batteries shipped?", "how hot may they get?",
     "how hot may the CR123A batteries get?"),
    # "its X" becomes "the X of <subject>"; only the first pointer is replaced
    ("How do I mount the WS-200 sensor array?", "what is its range and how far does it reach?",
     "what is the range of the WS-200 sensor array and how far does it reach?"),
    ("Which firmware release removed support for the Console C3?", "and which one added MQTT export?",
     "which firmware release added MQTT export?"),
    ("When was Halvard Instruments founded?", "who works there?", "who works at Halvard Instruments?"),
])
def test_pronouns_are_replaced_by_the_previous_subject(previous, followup, expected):
    assert _rewrite(previous, followup) == expected


@pytest.mark.parametrize("previous, followup, expected", [
    ("What is the hotel cap per night in Sweden?", "Japan?", "What is the hotel cap per night in Japan?"),
    ("What is the hotel cap per night in Sweden?", "and in the United States?",
     "What is the hotel cap per night in the United States?"),
    ("What are the core hours from Monday to Thursday?", "and on Fridays?", "What are the core hours on Fridays?"),
    ("Who pays return shipping for defective products?", "and for products that are not defective?",
     "Who pays return shipping for products that are not defective?"),
    ("What is the warranty period of the RG-1 rain gauge?", "what about the WS-100 sensor array?",
     "What is the warranty period of the WS-100 sensor array?"),
    # a property asked of a named thing: another thing keeps the property, another property the thing
    ("How long is the WS-200 warranty?", "And for the rain gauge?", "How long is the rain gauge warranty?"),
    ("How long is the WS-200 warranty?", "what about the solar panel?", "How long is the solar panel warranty?"),
    ("How long is the WS-200 warranty?", "And the WS-100?", "How long is the WS-100 warranty?"),
    ("How long is the WS-200 warranty?", "and the battery life?", "How long is the WS-200 battery life?"),
])
def test_a_fragment_swaps_the_matching_phrase(previous, followup, expected):
    assert _rewrite(previous, followup) == expected


def test_the_similarity_decides_which_phrase_a_fragment_replaces():
    previous = "How do I clean the rain gauge of the WS-200?"
    assert _rewrite(previous, "and the anemometer?") == "How do I clean the rain gauge of the anemometer?"  # words alone

    def parts_alike(phrase, candidates):  # what an embedding model knows: an anemometer is like a rain gauge
        return [0.6 if "gauge" in c else 0.1 for c in candidates]

    made = rewrite("and the anemometer?", Context(previous), similarity=parts_alike)
    assert made.query == "How do I clean the anemometer of the WS-200?" and made.method == "swap"


@pytest.mark.parametrize("previous, followup, expected", [
    ("On which frequency does the WS-200 transmit?", "how often?", "how often does the WS-200 transmit?"),
    ("When was Halvard Instruments founded?", "by whom?", "by whom was Halvard Instruments founded?"),
    ("Where do new employees collect their badge?", "when?", "when do new employees collect their badge?"),
    ("Can I recharge the battery?", "why?", "why can I recharge the battery?"),
])
def test_a_bare_question_word_replaces_the_previous_one(previous, followup, expected):
    assert _rewrite(previous, followup) == expected


def test_other_one_takes_a_sibling_code_of_the_same_shape_from_the_passages():
    passages = ("Error code E42 means the anemometer cable is disconnected. Error code E17 means no data.",)
    assert _rewrite("What does error code E42 mean?", "And the other one?", passages) == "What does error code E17 mean?"
    assert _rewrite("How long is the warranty on the WS-200 sensor array?", "what does the other one cost?",
                    (TABLE,)) == "what does the WS-100 sensor array cost?"
    assert find_sibling("4.2.0", ["## 4.2.0 (2026)", "## 4.1.3 (2025)"]) == "4.1.3"
    assert find_sibling("E42", ["WS-200 and C5 only"]) is None  # shape and letters must match
    # no sibling: the follow-up is rewritten by the other rules instead of inventing one
    assert rewrite("and the other one?", Context("What does error code E42 mean?")).method != "other-one"


def test_continuations_and_clauses_carry_the_context():
    assert _rewrite("How long is the probation period for new employees?", "and when is the review?") == \
        "when is the review for new employees?"
    assert _rewrite("Within how many days must expense claims be submitted?", "and if I'm late?") == \
        "Within how many days must expense claims be submitted if I'm late?"
    assert _rewrite("How do I pair the console with the app?", "what if that fails?") == \
        "How do I pair the console with the app if that fails?"


@pytest.mark.parametrize("followup", ["and then?", "then what?", "What comes next?", "ok, and after that?", "next?"])
def test_a_follow_up_that_only_asks_to_go_on_asks_what_comes_after(followup):
    made = rewrite(followup, Context("How do I update the firmware?"))
    assert made.query == "How do I update the firmware after that?" and made.method == "clause"


def test_standalone_questions_and_first_turns_are_left_alone():
    made = rewrite("What does error code E42 mean?", Context("What is the MQTT port?"))
    assert made.query == "What does error code E42 mean?" and not made.changed
    assert rewrite("How long is the warranty?", None) == rewrite("How long is the warranty?", Context(""))
    assert not rewrite("  How long   is the warranty? ", None).changed
    # existential "there", the "it" of "is it possible" and a demonstrative before a noun are not pointers
    assert _rewrite("How long is the warranty on the WS-200 sensor array?", "Is it possible to extend it?") == \
        "Is it possible to extend the WS-200 sensor array?"
    assert _rewrite("How much does Halvard Care cost?", "is there a discount for schools?") == \
        "is there a discount for schools?"


@pytest.mark.parametrize("followup", [
    "Who wrote the handbook?",
    "What is the price of the WS-200?",
    "Who approves expense claims?",
    "What powers the console?",
    "Who sells the WS-200?",
    "Who maintains the Aurora pump?",
])
def test_a_short_question_with_its_own_clause_is_left_alone(followup):
    # a question word followed by its own verb and object is complete, not a fragment like "how often?"
    made = rewrite(followup, Context("How often is the coolant filter of the Aurora pump replaced?"))
    assert made.query == followup and not made.changed


def test_a_question_word_fragment_still_takes_the_previous_clause():
    previous = "How often is the coolant filter of the Aurora pump replaced?"
    assert _rewrite(previous, "by whom?") == "by whom is the coolant filter of the Aurora pump replaced?"
    assert _rewrite(previous, "who in HR?") == "who in HR is the coolant filter of the Aurora pump replaced?"
    made = rewrite("how many days?", Context("How long is the review period?"))
    assert made.method == "question-word"
    # a pronoun after the verb points back, so the question is rewritten as one, not as a fragment
    made = rewrite("who replaces it?", Context(previous))
    assert made.method == "pronoun" and "it" not in made.query.split()


def test_noun_phrases_know_names_articles_and_prepositions():
    phrases = noun_phrases("How long is the warranty on the WS-200 sensor array?")
    assert [p.text for p in phrases] == ["warranty", "WS-200 sensor array"]
    array = phrases[1]
    assert array.named and array.head == "array" and array.determiner == "the" and array.preposition == "on"
    hours = noun_phrases("What are the core hours from Monday to Thursday?")
    assert [p.text for p in hours] == ["core hours", "Monday to Thursday"] and hours[1].preposition == "from"
    words = tokens("How high should the WS-200 sensor array be mounted?")
    assert dict(zip([w.text for w in words], classify(words)))["mounted"] == "verb"
    words = tokens("Must new employees complete the training?")
    assert dict(zip([w.text for w in words], classify(words)))["complete"] == "verb"
    assert [p.text for p in noun_phrases("Are opened products refunded?")] == ["opened products"]


def test_subject_prefers_names_then_what_was_asked_for():
    assert subject_of("What battery does the sensor array use?").text == "battery"
    assert subject_of("Which UN number are the CR123A batteries shipped under?").text == "CR123A batteries"
    assert subject_of("How many times is a failed webhook delivery retried?").text == "failed webhook delivery"
    assert subject_of("") is None
    assert pluralise("webhook delivery") == "webhook deliveries" and pluralise("API token") == "API tokens"
    assert pluralise("Console C5") == "Console C5"


def test_lexical_similarity_is_word_overlap():
    scores = lexical_similarity("the rain gauge", ["RG-1 rain gauge", "solar panel"])
    assert scores[0] > 0 and scores[1] == 0


# -- ellipsis: the previous question's frame, with the part the follow-up supplies -----------------
@pytest.mark.parametrize("previous, followup, expected", [
    ("How long is the warranty on the WS-200 sensor array?", "Does the WS-100 do that too?",
     "How long is the warranty on the WS-100?"),
    ("What is the hotel cap per night in Sweden?", "is that also true for Japan?",
     "What is the hotel cap per night in Japan?"),
    ("What does error code E42 mean on the console?", "and does E17 as well?", "What does error code E17 mean on the console?"),
    ("Who founded Halvard Instruments?", "does the same go for Halvard Care?", "Who founded Halvard Care?"),
])
def test_an_elided_verb_phrase_keeps_the_previous_frame(previous, followup, expected):
    made = rewrite(followup, Context(previous))
    assert made.query == expected and made.method == "ellipsis"


@pytest.mark.parametrize("previous, followup, expected", [
    ("What is the WS-200's range?", "And the battery life?", "What is the WS-200's battery life?"),
    ("What is the range of the WS-200?", "and the battery life?", "What is the battery life of the WS-200?"),
    ("How long is the warranty on the WS-200 sensor array?", "and the price?",
     "How long is the price on the WS-200 sensor array?"),
    ("What is the temperature accuracy of the WS-200?", "and humidity?", "What is the humidity of the WS-200?"),
])
def test_a_property_fragment_keeps_the_previous_subject(previous, followup, expected):
    assert _rewrite(previous, followup) == expected


@pytest.mark.parametrize("previous, followup, expected", [
    ("Is the WS-200 lighter than the WS-100?", "and the other model?", "Is the WS-100 lighter than the WS-200?"),
    ("Is the WS-200 lighter than the WS-100?", "what does the other model cost?", "what does the WS-100 cost?"),
    ("Are Christopher Nolan and Sathish Kalathil both film directors?", "where was the other one born?",
     "where was Sathish Kalathil born?"),
    ("Should I pick Halvard Care or Halvard Basic?", "And the other one?", "Should I pick Halvard Basic or Halvard Care?"),
])
def test_the_other_of_two_names(previous, followup, expected):
    made = rewrite(followup, Context(previous))
    assert made.query == expected and made.method == "other-one"


@pytest.mark.parametrize("previous, followup, expected", [
    ("Who won the league in 2018?", "what about 2019?", "Who won the league in 2019?"),
    ("Who won the league in 2018?", "And in 2019?", "Who won the league in 2019?"),
    ("How much revenue did Halvard report in 2021?", "and for the year 2022?", "How much revenue did Halvard report in 2022?"),
    # several years: the one after the same preposition, else the first
    ("From 1945 to 1949, who coached the team?", "and to 1952?", "From 1945 to 1952, who coached the team?"),
    ("From 1945 to 1949, who coached the team?", "what about 1950?", "From 1950 to 1949, who coached the team?"),
    # no year to replace: the same question, in (or since, for ...) that year
    ("How do I update the firmware?", "and what about 2019?", "How do I update the firmware in 2019?"),
    ("How many employees does Halvard have?", "and since 2019?", "How many employees does Halvard have since 2019?"),
])
def test_a_time_shift_replaces_the_year(previous, followup, expected):
    made = rewrite(followup, Context(previous))
    assert made.query == expected and made.method == "time-shift"


@pytest.mark.parametrize("followup", [
    "Does the WS-100 measure rainfall?",  # a verb of its own: not an elided verb phrase
    "Who won the league in 2019?",  # a year inside a full question is not a time shift
    "Is the other warranty transferable to Halvard Care?",  # names its own subject
    "Rhiwallon ap Cynfyn was a Welsh King; which earl did he overthrow?",  # "he" is the question's own
    "Scott Buchholz, an Australian politician, was chief of staff to which senator who has served since 2016?",
])
def test_full_questions_with_their_own_subject_are_left_alone(followup):
    made = rewrite(followup, Context("Is the WS-200 lighter than the WS-100 in 2018?"))
    assert made.query == followup and not made.changed


def test_names_in_any_script_are_swapped_whole():
    done = rewrite("And Juan Ramón Jiménez?", Context("Where was Jan Evangelista Purkyně born?", ()))
    assert done.query == "Where was Juan Ramón Jiménez born?"
