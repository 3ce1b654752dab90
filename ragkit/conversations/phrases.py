"""Noun phrases of a question, found by simple rules over words, no tagger.

A follow-up is made standalone by carrying a noun phrase of the previous question into it
("the WS-200 sensor array"), or by swapping one ("Germany" -> "Japan"). That needs the phrases
and a little about each: whether it names something (a capitalised word or a code such as WS-200,
E42, 4.2.0), the article and the preposition in front of it (so "on Fridays" can replace
"from Monday to Thursday"), and its last word (the head noun).

Words are split by small closed lists -- articles, prepositions, auxiliaries, question words,
pronouns -- plus a short list of verbs that follow a subject in questions ("does the WS-200
*transmit*"). Everything else is a content word, and a maximal run of content words is a phrase.
The lists are closed-class English, not tuned to a corpus; questions are short and regular enough
that this finds the phrases a follow-up refers to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

#: a word in any script ("Jiménez", "Purkyně", "WS-200", "4.2.0"): letters and digits, with
#: apostrophes, hyphens and dots inside
WORD = re.compile(r"[^\W_](?:(?:[^\W_]|['’\-.])*[^\W_])?")

DETERMINERS = frozenset("the a an this that these those my your our his her its their some any each every all "
                        "another no".split())
DEFINITE = frozenset("the this that these those my your our his her its their".split())
PREPOSITIONS = frozenset("of on in at to for from with by about above below under over into onto after before since "
                         "until within without between per via than as during across through against near off "
                         "up out".split())
AUXILIARIES = frozenset("is are was were be been being am do does did have has had can could should would will "
                        "shall may might must isn't aren't wasn't don't doesn't didn't can't cannot won't shouldn't "
                        "what's where's who's how's it's there's i'm i've i'd".split())
QUESTION_WORDS = frozenset("what which who whom whose where when why how".split())
#: pronouns that point back at something said before
REFERRING = frozenset("it they them its their he she him her this that these those one ones there".split())
PERSONS = frozenset("i me you we us".split())
OTHER_FUNCTION = frozenset("and or but so then if unless not also too else please just still only really exactly "
                           "ever never now today yet more most less least very yes ok okay thanks other same "
                           "both either neither own much many".split())
#: after "how": how long, how often ...
HOW_ADVERBS = frozenset("long often much many far high fast soon old big large low quickly early late".split())
#: verbs that follow a noun subject in questions ("what does E42 *mean*"); words that are as
#: often nouns (release, update, store, support) are left out on purpose
VERBS = frozenset("""mean means use uses fit fits face faces transmit transmits last lasts cost costs apply applies
cover covers expire expires happen happens need needs send sends take takes work works stay stays come comes came
keep keeps measure measures add adds include includes require requires show shows say says go goes get gets got
pay pays mount recharge clean contact reach buy find see know tell remove drop sign connect run runs hold
answer answers fail fails break breaks stop stops start starts differ differs""".split())
_SUBJECTS = frozenset("they it he she i've i'm i'd we've you've we're you're".split())
WEAK = frozenset("thing things something anything way lot kind sort rid".split())


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int

    @property
    def lower(self) -> str:
        return self.text.lower().replace("’", "'")


@dataclass(frozen=True)
class Phrase:
    """A run of content words in ``text[start:end]``, with what stands in front of it."""

    text: str
    start: int
    end: int
    named: bool
    head: str
    #: the article or possessive right before the phrase, and where it starts
    determiner: str | None = None
    determiner_start: int | None = None
    #: the preposition right before the phrase (before its article), and where it starts
    preposition: str | None = None
    preposition_start: int | None = None

    @property
    def span_start(self) -> int:
        """Where the phrase starts with its article."""
        return self.determiner_start if self.determiner_start is not None else self.start


def tokens(text: str) -> list[Token]:
    return [Token(m.group(0), m.start(), m.end()) for m in WORD.finditer(text)]


def is_function(token: Token, previous: Token | None) -> bool:
    word = token.lower
    if previous is not None and previous.lower == "how" and word in HOW_ADVERBS:
        return True
    return word in DETERMINERS or word in PREPOSITIONS or word in AUXILIARIES or word in QUESTION_WORDS \
        or word in REFERRING or word in PERSONS or word in OTHER_FUNCTION


def is_code(word: str) -> bool:
    """A product code, error code or version: any word with a digit (WS-200, E42, 4.2.0)."""
    return any(ch.isdigit() for ch in word)


def common_tail(phrase: Phrase, text: str) -> int | None:
    """Where the common nouns after a name start in ``phrase`` of ``text`` ("warranty" of "the
    WS-200 warranty"); None when the phrase does not end in common nouns after a name. A
    follow-up about another thing replaces the name and keeps the tail ("and the rain gauge?"
    -> "the rain gauge warranty"); one about another property keeps the name ("and the battery
    life?" -> "the WS-200 battery life")."""
    words = [w for w in tokens(text) if phrase.start <= w.start < phrase.end]
    named = [i for i, w in enumerate(words) if is_code(w.text) or w.text[0].isupper()]
    if not named or named[-1] + 1 >= len(words):
        return None
    return words[named[-1] + 1].start


def is_name(token: Token, position: int) -> bool:
    """Names something: a code, or a capitalised word that is not just starting the question."""
    if is_code(token.text):
        return True
    if not token.text[0].isupper():
        return False
    if position > 0 or token.text.isupper() and len(token.text) > 1:
        return True
    return token.lower not in VERBS and token.lower not in QUESTION_WORDS


def classify(words: list[Token]) -> list[str]:
    """Each word's kind: ``fn`` (closed-class), ``verb`` or ``content``."""
    function = [is_function(w, words[i - 1] if i else None) for i, w in enumerate(words)]
    kinds: list[str] = []
    for i, word in enumerate(words):
        previous = words[i - 1].lower if i else None
        following_is_content = i + 1 < len(words) and not function[i + 1]
        if function[i]:
            kinds.append("fn")
        elif previous in DETERMINERS:
            kinds.append("content")  # "the use", "the update"
        elif word.lower in VERBS:
            kinds.append("verb")
        elif previous in PERSONS or previous in _SUBJECTS or (
                previous in AUXILIARIES and i >= 2 and words[i - 2].lower in PERSONS):
            kinds.append("verb")  # "can I *recharge* it", "when do they *expire*"
        elif _participle(word) and (not following_is_content or is_name(words[i + 1], i + 1)
                                    or (i > 0 and kinds[i - 1] == "content")):
            kinds.append("verb")  # "be mounted", "added Bluetooth", "release removed support",
            # but "opened products" and "a failed delivery" are noun phrases
        else:
            kinds.append("content")
    _inverted_verbs(words, kinds)
    return kinds


#: auxiliaries after which a question puts its subject, then its verb: "must new employees *complete* the"
_INVERTING = frozenset("do does did can could should would will shall may might must".split())


def _inverted_verbs(words: list[Token], kinds: list[str]) -> None:
    """In "must new employees complete the training", the run after the auxiliary (and its
    article) ends on the verb when an article or preposition follows it. Marks that verb in place."""
    for i, word in enumerate(words):
        if word.lower not in _INVERTING:
            continue
        start = i + 1
        if start < len(words) and words[start].lower in DETERMINERS:
            start += 1
        end = start
        while end < len(kinds) and kinds[end] == "content":
            end += 1
        follows = words[end].lower if end < len(words) else None
        if end - start >= 2 and (follows in DETERMINERS or follows in PREPOSITIONS):
            kinds[end - 1] = "verb"


def _participle(word: Token) -> bool:
    low = word.lower
    return low.endswith("ed") and not low.endswith("eed") and len(low) > 4 and low.isalpha()


def noun_phrases(text: str) -> list[Phrase]:
    """The phrases of ``text`` in order. A range of two names ("Monday to Thursday") is one phrase."""
    words = tokens(text)
    kinds = classify(words)
    runs: list[list[int]] = []
    for i, kind in enumerate(kinds):
        if kind != "content":
            continue
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        elif (runs and runs[-1][-1] == i - 2 and words[i - 1].lower in ("to", "and", "or")
              and all(is_name(words[j], j) for j in (runs[-1][-1], i)) and not is_code(words[i].text)):
            runs[-1].extend([i - 1, i])  # "Monday to Thursday", "walls and trees"
        else:
            runs.append([i])
    phrases = []
    for run in runs:
        first, last = words[run[0]], words[run[-1]]
        if all(words[j].lower in WEAK for j in run):
            continue
        before = run[0] - 1
        determiner = determiner_start = preposition = preposition_start = None
        if before >= 0 and words[before].lower in DETERMINERS:
            determiner, determiner_start = words[before].lower, words[before].start
            before -= 1
        if before >= 0 and words[before].lower in PREPOSITIONS:
            preposition, preposition_start = words[before].lower, words[before].start
        phrases.append(Phrase(
            text=text[first.start:last.end], start=first.start, end=last.end,
            named=any(is_name(words[j], j) for j in run if kinds[j] == "content"), head=last.lower,
            determiner=determiner, determiner_start=determiner_start,
            preposition=preposition, preposition_start=preposition_start))
    return phrases


def focus_of(text: str) -> tuple[Phrase, str] | None:
    """The phrase a question asks for, and how: ``which`` for "What *battery* does the sensor
    array use?", ``quantity`` for "How many *times* is a delivery retried?"."""
    words = tokens(text)
    for i, word in enumerate(words[:4]):
        low = word.lower
        quantity = low == "how" and i + 2 < len(words) and words[i + 1].lower in ("many", "much")
        if (low in ("what", "which") and i + 1 < len(words)) or quantity:
            start = words[i + (2 if quantity else 1)].start
            found = next((p for p in noun_phrases(text) if p.start == start), None)
            return (found, "quantity" if quantity else "which") if found else None
    return None


def is_plural(phrase: Phrase) -> bool:
    head = phrase.head
    return head.isalpha() and head.endswith("s") and not head.endswith("ss")


def subject_of(text: str, *, plural: bool = False) -> Phrase | None:
    """What a question is about, to stand in for "it" (or, ``plural``, "they") in the next one.

    In order of preference: a phrase that names something (WS-200 sensor array, error code E42,
    Halvard Care) other than the one asked for ("Which *UN number* are the CR123A batteries
    shipped under?" is about the batteries); the thing a what/which question asks for ("What
    *battery* does the sensor array use?" -- "can I recharge it?"); the other phrases, last first
    (questions end on their topic: "... for new employees"); a counted thing ("how many *times*")
    last. A plural pronoun takes the first plural among the names (or, without names, among
    the phrases other than a counted thing), if there is one."""
    phrases = noun_phrases(text)
    if not phrases:
        return None
    found = focus_of(text)
    focus, kind = found if found else (None, "")
    ordered = [p for p in phrases if p.named and p != focus]
    if focus is not None and kind == "which":
        ordered.append(replace(focus, determiner=focus.determiner or "the"))  # "What battery" -> "the battery"
    ordered += [p for p in reversed(phrases) if not p.named and p != focus]
    if focus is not None and kind == "quantity":
        ordered.append(focus)
    if not ordered:
        return None
    if plural:  # "they" after "Which UN number are the CR123A batteries shipped under?"
        named = [p for p in ordered if p.named]
        counted = focus if kind == "quantity" else None
        plurals = [p for p in (named or ordered) if is_plural(p) and p != counted]
        return plurals[0] if plurals else ordered[0]
    return ordered[0]


def render(phrase: Phrase, *, plural: bool = False) -> str:
    """The phrase as it can stand anywhere in a new question: "the WS-200 sensor array"."""
    words = phrase.text
    if plural:
        words = pluralise(words)
    return f"the {words}" if phrase.determiner is not None else words


def pluralise(text: str) -> str:
    """Make the head word plural (they/them): "API token" -> "API tokens"; codes and names are left."""
    head_start = text.rfind(" ") + 1
    head = text[head_start:]
    if not head.isalpha() or not head.islower() or head.endswith("s"):
        return text
    if head.endswith("y") and head[-2:-1] not in "aeiou":
        head = head[:-1] + "ies"
    elif head.endswith(("x", "ch", "sh")):
        head += "es"
    else:
        head += "s"
    return text[:head_start] + head


def code_shape(word: str) -> str:
    """Letters as A, digits as 9, the rest kept: E42 and E17 share "A99", 4.2.0 and 4.1.3 "9.9.9"."""
    return "".join("A" if ch.isalpha() else "9" if ch.isdigit() else ch for ch in word)


def letter_prefix(word: str) -> str:
    return re.match(r"[A-Za-z]*", word).group(0).upper()  # type: ignore[union-attr]
