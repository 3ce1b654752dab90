"""The words of a question that frame it rather than name what it is about.

"In what *country* can most of the Amazon rainforest be found?" is answered by "... most of it
lies in Brazil", which never says "country": the noun after *what* names the category of the
answer (a country, a type, a group of people), the way question classifiers sort questions into
answer types. "What is consultant pharmacy *mainly* concerned with?" is answered by "Consultant
pharmacy focuses on medication regimen review": the hedge says how true the answer is, not what
it is, and "What do some *believe* ..." asks for the belief, not for the word. The extractive
answerer counts how much of a question a sentence covers, so these words, when no candidate
sentence says them, are not counted as missing (:func:`frame_terms`).

Only generic category nouns count: "What *bonus scheme* does Halvard offer?" asks about a bonus
scheme, and a collection that never mentions one must still refuse. Pure functions over the
question's wording; measured in docs/evaluation-refusal.md.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ragkit.text import LOCATOR_WORDS, tokenize

#: adverbs and praise that hedge or decorate a question without narrowing what it asks for, and
#: verbs of belief that report it ("What do some *believe* the treaty assisted in?" is answered
#: by what the treaty is said to have done)
HEDGE_WORDS = frozenset("""
generally typically usually mainly mostly often commonly primarily largely chiefly normally
frequently
sometimes tend tends famous really actually
believe believes believed think thinks thought feel feels felt consider considers considered
""".split())

#: generic answer categories (the coarse answer types of question classification: a person, a
#: group, a place, a kind of thing, a term, a way): "what *country*", "what is the *name* of"
CATEGORY_NOUNS = frozenset("""
name names type types kind kinds sort sorts form forms group groups term terms word words way ways
example examples country countries city cities state states place places location locations region
regions area areas person persons people individual individuals organization organizations
organisation organisations company companies year years date dates time times period periods number
numbers amount amounts language languages method methods means process processes role roles position
positions title titles event events part parts thing things factor factors reason reasons colour
colours color colors animal animals plant plants disease diseases substance substances material
materials instrument instruments tool tools product products sport sports religion religions metric
metrics measure measures unit units
""".split())
#: words that only qualify a category noun: "the *last* name of", "*another* way of"
_CATEGORY_MODIFIERS = frozenset("another last full first".split())

_AUXILIARIES = frozenset(
    "is was are were do does did has have had can could will would should may might must".split())
#: "what is the X (Y) of / for / that ...": X Y name the category
_WHAT_IS_THE = re.compile(r"\b(?:what|which)\s+(?:is|was|are|were)\s+(?:the\s+|a\s+|an\s+)?"
                          r"([a-z-]+(?:\s+[a-z-]+)?)\s+(?:of|for|that|which|who|they|to|used|in)\b",
                          re.IGNORECASE)
#: "what X (Y) ...": up to two words after the wh-word, before any auxiliary
_WHAT_X = re.compile(r"\b(?:what|which)\s+([a-z-]+(?:\s+[a-z-]+)?)", re.IGNORECASE)


def category_words(question: str) -> list[str]:
    """The generic category nouns (and their modifiers) of the question's wh-phrase, as written."""
    match = _WHAT_IS_THE.search(question)
    if match:
        words = match.group(1).split()
    else:
        match = _WHAT_X.search(question)
        words = []
        for word in match.group(1).split() if match else []:
            if word.lower() in _AUXILIARIES:
                break
            words.append(word)
    nouns = [w for w in words if w.lower() in CATEGORY_NOUNS]
    if not nouns:
        return []
    return [w for w in words if w.lower() in CATEGORY_NOUNS or w.lower() in _CATEGORY_MODIFIERS]


#: "the *country* containing Nugegoda", "the *state* whose official sport is jousting": a generic
#: noun that a relative clause pins down stands for an entity the documents call by its name
_DESCRIPTION = re.compile(
    r"\bthe ([a-z]+) (?:that|which|where|whose|who|containing|in which|of which|with)\b")


def described_categories(question: str) -> list[str]:
    """Generic category nouns the question uses to describe an entity it does not name, as written
    (multi-hop questions refer to their bridge this way)."""
    return [m.group(1) for m in _DESCRIPTION.finditer(question) if m.group(1) in CATEGORY_NOUNS]


#: words that point at a place in the documents ("in figure 3", "on this page", "the chart",
#: "according to this brochure", "Regarding the table, ..."): the answer is there, it does not
#: say where it is ("cover" is left out: "What does the warranty cover?" asks what it covers)
FRAME_LOCATORS = (LOCATOR_WORDS - {"cover"}) | {"regarding"}


def hedge_words(question: str) -> list[str]:
    """The hedges of the question, as written."""
    return [w for w in re.findall(r"[A-Za-z]+", question) if w.lower() in HEDGE_WORDS]


def locator_words(question: str) -> list[str]:
    """The words of the question that say where in the documents to look, as written."""
    return [w for w in re.findall(r"[A-Za-z]+", question) if w.lower() in FRAME_LOCATORS]


def frame_terms(question: str) -> frozenset[str]:
    """Stemmed frame words of ``question`` (category nouns of its wh-phrase or of a description,
    hedges, locators), the terms an answer need not repeat."""
    return _frame_terms(question)


@lru_cache(maxsize=4096)
def _frame_terms(question: str) -> frozenset[str]:
    words = [*category_words(question), *described_categories(question), *hedge_words(question),
             *locator_words(question)]
    if not words:
        return frozenset()
    return frozenset(term for terms in tokenize(words, "en_plus") for term in terms)
