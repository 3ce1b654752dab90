"""Follow-ups made standalone, offline and deterministically.

Retrieval sees one query at a time, so "and how do I return it?" must become "how do I return the
WS-200 sensor array?" before it is searched. Without a chat model ragkit rewrites the follow-up
from the previous turn alone (its standalone query and the passages its answer came from):

* pronouns (it, they, its, that, there, ones) are replaced by the previous question's subject
  (:func:`ragkit.conversations.phrases.subject_of`);
* a fragment ("what about the solar panel?", "and on Fridays?", "Japan?") replaces the phrase of
  the previous question it is most similar to, keeping that question's shape;
* a bare question word ("how often?", "by whom?") replaces the previous question's own;
* "the other one" swaps the previous subject's code for a sibling code of the same shape found in
  the previous answer's passages (E42 -> E17, WS-200 -> WS-100);
* "and when is the follow-up meeting?" (a continuation without a subject of its own) gets the
  previous subject appended;
* time shifts ("what about 2019?"), an elided verb phrase ("does the WS-100 do that too?"), a
  property of the same subject ("and the battery life?") and "the other one" of two names are
  recognised by :mod:`ragkit.conversations.ellipsis`.

Anything else is left as written: a follow-up that names its own subject is already standalone.
Similarity between phrases is a parameter: lexical overlap by default, an embedding model's
cosine in a session (it knows that humidity is like temperature and Japan like Germany).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from ragkit.conversations.ellipsis import (
    ATTRIBUTES, attribute_swap, bound_in_question, elided_verb_phrase, name_swap, other_of_two, time_shift,
)
from ragkit.conversations.other_code import other_code
from ragkit.conversations.phrases import (
    AUXILIARIES, DETERMINERS, PREPOSITIONS, QUESTION_WORDS, REFERRING, Phrase, Token, classify, code_shape, common_tail,
    focus_of,
    is_code, is_plural, noun_phrases, render, subject_of, tokens,
)
from ragkit.text import tokenize

#: similarity(phrase, candidates) -> one score per candidate, higher is more alike
Similarity = Callable[[str, Sequence[str]], Sequence[float]]

_LEAD = re.compile(r"^(?:(?:and|also|so|ok|okay|well|then|but|or|now|right)\b[\s,]*)+", re.I)
_ABOUT = re.compile(r"^(?:(?:what|how)\s+about|what\s+of|same\s+(?:question\s+)?for|and\s+for)\b\s*", re.I)
_CLAUSE = frozenset("if unless otherwise after before".split())
#: a follow-up that only asks to go on ("and then?", "then what?", "what next?", "and after that?"):
#: the next step of what the previous question asked about
_GO_ON = re.compile(r"^(?:(?:and|so|ok|okay|then|now)\b[\s,]*)*(?:then(?:\s+what)?|what(?:'s|\s+is|\s+comes)?\s+next"
                    r"|next|after\s+that|and\s+then|what\s+then)?\s*[?.!]*$", re.I)
#: "it" followed by these is the dummy subject of "is it possible to ...", not a pointer
_DUMMY_IT = frozenset("possible ok okay allowed necessary true required worth safe normal important easy hard "
                      "better best advisable enough".split())


@dataclass(frozen=True)
class Context:
    """What a follow-up may refer to: the previous turn's standalone query, and the texts of its
    answer and sources (where "the other one" is looked for)."""

    question: str
    passages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rewrite:
    """The standalone query and how it was made (``unchanged`` when the follow-up stood alone)."""

    query: str
    method: str

    @property
    def changed(self) -> bool:
        return self.method != "unchanged"


def lexical_similarity(phrase: str, candidates: Sequence[str]) -> list[float]:
    """Share of stemmed words in common (Jaccard); no model needed."""
    stems = tokenize([phrase, *candidates], "en")
    first = set(stems[0])
    return [len(first & set(s)) / (len(first | set(s)) or 1) for s in stems[1:]]


def rewrite(followup: str, context: Context | None, similarity: Similarity | None = None) -> Rewrite:
    """The follow-up as a question that can be searched on its own."""
    text = " ".join(followup.split())
    if context is None or not context.question.strip() or not text:
        return Rewrite(text, "unchanged")
    previous = " ".join(context.question.split())
    similarity = similarity or lexical_similarity
    if _GO_ON.match(text):
        return Rewrite(_join(previous, "after that"), "clause")
    body = _LEAD.sub("", text).strip() or text
    continued = body != text
    about = _ABOUT.match(body)
    if about:
        body = body[about.end():].strip() or body
    shifted = time_shift(body, previous)
    if shifted is not None:
        return Rewrite(shifted, "time-shift")
    # "the other one" is one of two things the previous question named; only when it named no
    # pair is it the code next to the previous one in the answer's passages (E17 after E42)
    paired = other_of_two(body, previous)
    if paired is not None:
        return Rewrite(paired, "other-one")
    other = other_code(body, previous, context.passages)
    if other is not None:
        return Rewrite(other, "other-one")
    elided = elided_verb_phrase(body)
    if elided is not None:  # "does the WS-100 do that too?" asks "the WS-100?"
        return Rewrite(_fragment(elided, tokens(elided), previous, similarity).query, "ellipsis")
    words = tokens(body)
    kinds = classify(words)
    if words and words[0].lower in _CLAUSE:
        return Rewrite(_join(previous, _strip_mark(body)), "clause")
    if len(words) > 2 and words[0].lower == "what" and words[1].lower == "if":  # "what if that fails?"
        return Rewrite(_join(previous, _strip_mark(body[words[1].start:])), "clause")
    if words and words[0].lower in PREPOSITIONS:
        same = _same_preposition(body, words[0].lower, previous)
        if same is not None:
            return same
    if about or _is_fragment(words, kinds):
        return _fragment(body, words, previous, similarity)
    replaced = replace_pronouns(body, previous)
    if replaced != body:
        return Rewrite(replaced, "pronoun")
    phrases = noun_phrases(body)
    if any(p.named for p in phrases):
        return Rewrite(body, "unchanged" if body == text else "trimmed")
    subject = subject_of(previous)
    demonstrative = any(w.lower in ("this", "that", "these", "those") for w in words)
    if subject is not None and (continued or demonstrative) and not _mentions(body, subject):
        return Rewrite(f"{_strip_mark(body)} for {render(subject)}{_mark(body)}", "carry")
    return Rewrite(body, "unchanged" if body == text else "trimmed")


# -- fragments ------------------------------------------------------------------------------
def _is_fragment(words: list[Token], kinds: list[str]) -> bool:
    """No auxiliary and no verb: "the solar panel?", "on Fridays?", "how often?". A longer
    question that starts with a question word is taken as a full question whose verb the word
    lists missed ("Which firmware release removed support for ..."), and so is a short one with
    a clause of its own ("Who wrote the handbook?")."""
    if not words or any(w.lower in AUXILIARIES for w in words) or "verb" in kinds:
        return False
    if words[0].lower not in QUESTION_WORDS:
        return True
    return len(words) <= 4 and not _has_own_clause(words, kinds)


def _has_own_clause(words: list[Token], kinds: list[str]) -> bool:
    """A question word's fragment has content words in two places only: the thing "what",
    "which", "whose" or "how many" ask for ("what size?", "how many days?") and a prepositional
    phrase ("how far from trees?", "who in HR?"). A content word anywhere else is the question's
    own verb or subject ("who *wrote* the handbook?", "what powers *the console*?"), and a pronoun
    right after a content word is its object ("who wrote it?"): the question is complete, and any
    pronoun in it is replaced like in any other question."""
    allowed = False  # whether a content word here belongs to such a phrase
    for i, (word, kind) in enumerate(zip(words, kinds)):
        low, after_content = word.lower, i > 0 and kinds[i - 1] == "content"
        if kind == "content":
            if not allowed:
                return True
        elif low in PREPOSITIONS or low in ("what", "which", "whose") or (
                low in ("many", "much") and i > 0 and words[i - 1].lower == "how"):
            allowed = True
        elif low in QUESTION_WORDS:
            allowed = False
        elif after_content and low in REFERRING:
            return True  # "who wrote it?", "who checks that?"
        elif after_content and low in DETERMINERS:
            allowed = False  # "what powers | the console": a new phrase, not the one asked for
    return False


def _fragment(body: str, words: list[Token], previous: str, similarity: Similarity) -> Rewrite:
    if _asks_anew(words):
        return Rewrite(replace_question_word(body, previous), "question-word")
    renamed = name_swap(body, previous, similarity)
    if renamed is not None:  # "and Grace Krilanovich?": one name for another
        return Rewrite(renamed, "swap")
    new = noun_phrases(body)
    if not new:
        return Rewrite(previous, "repeat")  # "and that one?" with nothing to swap: ask again
    targets = noun_phrases(previous)
    if len(new) > 1 or not targets:
        return Rewrite(_with_lead(replace_pronouns(body, previous), previous), "clause")
    phrase = new[0]
    attribute = attribute_swap(phrase, previous)
    if attribute is not None:  # "and the battery life?": same subject, another property
        return Rewrite(attribute, "swap")
    subject = subject_of(previous)
    found = focus_of(previous)
    focus_start = found[0].start if found else None
    allowed = [t for t in targets if phrase.named or not _bare_name(t)] or targets
    scores = list(similarity(phrase.text, [t.text for t in allowed]))
    best = max(range(len(allowed)), key=lambda i: (scores[i] + _affinity(phrase, allowed[i], subject, focus_start), i))
    start, end, replacement = _swap(body, phrase, allowed[best])
    kept = common_tail(allowed[best], previous) if allowed[best].head in ATTRIBUTES else None
    if kept is not None and phrase.head != allowed[best].head:
        # "the WS-200 warranty" asks about a property of the WS-200: "and the rain gauge?" asks
        # it of the rain gauge ("the rain gauge warranty"); "the RG-1 rain gauge" names a thing
        end = kept
        replacement += " "
    return Rewrite(previous[:start] + replacement + previous[end:], "swap")


def _same_preposition(body: str, preposition: str, previous: str) -> Rewrite | None:
    """ "and for products that are not defective?" after "Who pays return shipping for defective
    products?": the fragment replaces the previous question's phrase after the same preposition."""
    targets = [t for t in noun_phrases(previous) if t.preposition == preposition]
    if not targets or _asks_anew(tokens(body)):
        return None
    target = targets[-1]
    fragment = _strip_mark(body)
    return Rewrite(previous[:target.preposition_start] + fragment + previous[target.end:], "swap")


def _asks_anew(words: list[Token]) -> bool:
    """The fragment brings its own question word: "how often?", "by whom?", "how far from trees?"."""
    first = 1 if words and words[0].lower in PREPOSITIONS and len(words) > 1 else 0
    return bool(words) and words[first].lower in QUESTION_WORDS


def _bare_name(phrase: Phrase) -> bool:
    """A proper name without an article (Germany, Monday to Thursday): only a name replaces it."""
    return phrase.named and phrase.determiner is None and not any(is_code(w) for w in phrase.text.split())


def _affinity(new: Phrase, target: Phrase, subject: Phrase | None, focus_start: int | None) -> float:
    """Structural hints added to the similarity. A fragment most often swaps the previous subject
    ("what about the solar panel?"), so the subject starts ahead; two names, a shared head noun
    or a code of the same shape pull towards a phrase; a name does not replace the thing a
    question asks for ("What *rating* does the enclosure have?" + "and the Console C5?")."""
    score = 0.2 if new.named and target.named else 0.0
    if new.head == target.head:
        score += 0.3
    new_codes = {code_shape(w) for w in new.text.split() if is_code(w)}
    if new_codes & {code_shape(w) for w in target.text.split() if is_code(w)}:
        score += 0.2
    if subject is not None and target.start == subject.start:
        score += 0.15
    if new.named and target.start == focus_start:
        score -= 0.3
    return score


def _swap(body: str, new: Phrase, target: Phrase) -> tuple[int, int, str]:
    """The edit that puts ``new`` where ``target`` stands, with the article and preposition that fit."""
    start = target.span_start
    text = body[new.span_start:new.end]
    if new.determiner is None and target.determiner is not None and not new.named:
        text = f"{target.determiner} {text}"  # "the temperature accuracy" -> "the humidity"
    if new.preposition is not None and target.preposition_start is not None:
        start = target.preposition_start
        text = f"{new.preposition} {text}"  # "from Monday to Thursday" -> "on Fridays"
    return start, target.end, text


def _first_auxiliary(previous: str) -> tuple[list[Token], int | None]:
    words = tokens(previous)
    kinds = classify(words)
    split = next((i for i, (w, k) in enumerate(zip(words, kinds)) if w.lower in AUXILIARIES or k == "verb"), None)
    return words, split


def replace_question_word(fragment: str, previous: str) -> str:
    """ "how often?" after "On which frequency does the WS-200 transmit?" -> "how often does the
    WS-200 transmit?": the previous question's words before its first auxiliary or verb go."""
    words, split = _first_auxiliary(previous)
    head = _strip_mark(fragment)
    if split is None:
        return _join(previous, head)
    if split == 0:  # a yes/no question: "why?" + "Can I recharge it?" -> "why can I recharge it?"
        return f"{head} {_lower_first(previous)}"
    return f"{head} {previous[words[split].start:]}"


def _with_lead(fragment: str, previous: str) -> str:
    """ "the hotel cap in Japan?" after "What is the daily allowance ...?" -> "What is the hotel
    cap in Japan?": the previous question's opening, up to its auxiliary, then the fragment."""
    words, split = _first_auxiliary(previous)
    if split is None or words[split].lower not in AUXILIARIES:
        return _join(previous, _strip_mark(fragment))
    return f"{previous[:words[split].end]} {_strip_mark(fragment)}?"


# -- pronouns -------------------------------------------------------------------------------
def replace_pronouns(question: str, previous: str) -> str:
    """Replace the first word that points back (it, they, its, that, there, ones) with the subject
    of ``previous``; later ones then refer to a subject the question names ("where do new
    employees pick up their badge?"). Demonstratives before a noun ("that version") and
    existential "there" ("is there a fee") are not pointers."""
    words = tokens(question)
    kinds = classify(words)
    for i, word in enumerate(words):
        if bound_in_question(question, words, i):
            continue  # "X, a Welsh king, ... he was": the pronoun is the question's own
        edit = _pointer_edit(question, words, kinds, i, previous)
        if edit is not None:
            start, end, replacement = edit
            return question[:start] + replacement + question[end:]
    return question


def _pointer_edit(question: str, words: list[Token], kinds: list[str], i: int,
                  previous: str) -> tuple[int, int, str] | None:
    word, low = words[i], words[i].lower
    before = words[i - 1].lower if i else None
    after = words[i + 1].lower if i + 1 < len(words) else None
    plural = low in ("they", "them", "their", "these", "those", "ones")
    if low not in ("it", "he", "she", "him", "they", "them", "it's", "its", "their", "this", "that", "these",
                   "those", "there", "one", "ones"):
        return None
    subject = subject_of(previous, plural=plural)
    if subject is None:
        return None
    named = render(subject, plural=plural and not is_plural(subject))
    if low == "it" and after in _DUMMY_IT:
        return None  # "is it possible to ...", "is it worth ..." point at nothing
    if low in ("it", "he", "she", "him", "they", "them"):
        return word.start, word.end, named
    if low == "it's":
        return word.start, word.end, f"{named} is"
    if low in ("its", "their"):
        run_end = i
        while run_end + 1 < len(words) and kinds[run_end + 1] == "content":
            run_end += 1
        if run_end == i:
            return word.start, word.end, f"{named}'s"
        owned = question[words[i + 1].start:words[run_end].end]
        return word.start, words[run_end].end, f"the {owned} of {named}"
    if low in ("this", "that", "these", "those"):
        pointer = (i + 1 >= len(words) or kinds[i + 1] != "content") and (i == 0 or kinds[i - 1] != "content")
        return (word.start, word.end, _asked_about(previous, named)) if pointer else None
    if low == "there":
        existential = before in AUXILIARIES or after in AUXILIARIES
        return None if existential or not subject.named else (word.start, word.end, f"at {named}")
    if before == "which":  # "which one added MQTT export?" -> "which firmware release added ..."
        found = focus_of(previous)
        return word.start, word.end, found[0].text if found else subject.text
    if i == 0 or kinds[i - 1] == "fn" or before in DETERMINERS:
        return None  # "the other one", "is there one"
    return word.start, word.end, named.split()[-1]  # "used ones" -> "used batteries"


def _asked_about(previous: str, subject: str) -> str:
    """What "that" points at: the thing the previous question asked for, of its subject ("what
    happens if I go over that?" after "How many requests can an API token send?")."""
    found = focus_of(previous)
    if found is None or found[0].text.lower() in subject.lower():
        return subject
    return f"the {found[0].text} of {subject}"


# -- "the other one" ------------------------------------------------------------------------
# -- small helpers --------------------------------------------------------------------------
def _mentions(question: str, phrase: Phrase) -> bool:
    stems = tokenize([question, phrase.text], "en")
    return bool(set(stems[1]) and set(stems[1]) <= set(stems[0]))


def _mark(text: str) -> str:
    return "?" if text.rstrip().endswith("?") else ""


def _strip_mark(text: str) -> str:
    return text.strip().rstrip("?").rstrip()


def _join(previous: str, addition: str) -> str:
    """ "How long are observations kept?" + "after that" -> "How long are observations kept after that?"."""
    return f"{_strip_mark(previous)} {addition}{_mark(previous) or '?'}"


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0]
    if first.isupper() and len(first) > 1 or is_code(first):
        return text
    return text[:1].lower() + text[1:]
