"""Follow-ups that leave words out: the previous question's frame with one part replaced.

People drop what the last question already said. Each function here recognises one way of
doing so, by the shape of the follow-up alone, and says which part of the previous question
the follow-up supplies; :func:`ragkit.conversations.rewrite.rewrite` carries the rest:

* a time shift, "what about 2019?": the follow-up brings only a year, which replaces the
  previous question's year (the one after the same preposition, else the first);
* verb-phrase ellipsis, "Does the WS-100 do that too?", "is that also true for Japan?": an
  auxiliary and a pro-form ("do that", "too", "the same") around a noun phrase; only the noun
  phrase is new, so the follow-up is a fragment ("the WS-100?") and is swapped in like one;
* an attribute of the same subject, "And the battery life?" after "What is the WS-200's
  range?": a fragment whose head is a property noun replaces the property the previous
  question asked about and keeps its subject;
* "the other one" when the previous question named two things ("Is the WS-200 lighter than
  the WS-100?"): the one it was not about, i.e. the two names exchanged;
* a pronoun bound inside the follow-up ("Rhiwallon ap Cynfyn was a Welsh king; which earl
  did *he* ...?") points at that name, not at the previous turn: such a question is standalone.

Every rule is a small pure function over the words; none knows any corpus.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from ragkit.conversations.phrases import (
    AUXILIARIES, PREPOSITIONS, Phrase, Token, classify, common_tail, focus_of, is_function, is_name, noun_phrases, tokens,
)

YEAR = re.compile(r"(?<![\w.])(?<![A-Za-z]-)(1[0-9]{3}|20[0-9]{2})(?![\w.])")  # not the 2000 of WS-2000
#: words a time-shift follow-up may hold besides its year ("and what about in the year 2019?")
_TIME_FRAME = frozenset("and what how about in for during of the year then".split())
#: the pro-forms that stand for the previous question's verb phrase
_PRO_FORMS = frozenset("do does did so that this too also as well the same either likewise one".split())
#: "is that (also) true of X", "does that (also) apply to X", "does the same go for X"
_HOLDS = re.compile(r"^(?:is|are|does|do|would|will)\s+(?:that|this|it|the\s+same)\s+(?:also\s+)?"
                    r"(?:true|the\s+case|hold|holds|apply|go|work)\s+(?:also\s+)?(?:of|for|to|with|in)\s+(.+?)"
                    r"(?:\s+(?:too|as\s+well|also))?\s*\??$", re.I)
#: property nouns: a fragment headed by one asks for another property of the same subject
ATTRIBUTES = frozenset("""range life price prices cost costs weight size length height width depth capacity
speed power voltage temperature humidity accuracy resolution warranty population area altitude elevation age
birthday date founder founders capital genre nationality occupation profession name role position address
location headquarters owner director author language currency duration schedule hours fee fees rate limit
limits frequency version runtime budget revenue score diameter volume density colour color""".split())
_PERSONAL = frozenset("he she him his her they them their it its".split())
_CLAUSE_OPENERS = frozenset("who whom whose which that and but when where because while".split())
_NAME_JOINS = frozenset("of the and de in on for".split())
_COORDINATORS = frozenset("and or than versus vs with between".split())


def time_shift(body: str, previous: str) -> str | None:
    """ "what about 2019?" after "Who won the league in 2018?" -> "Who won the league in 2019?";
    after a question that names no year, the year is added ("... in 2019?")."""
    years = list(YEAR.finditer(body))
    allowed = _TIME_FRAME | PREPOSITIONS
    if len(years) != 1 or any(w.lower not in allowed and not YEAR.fullmatch(w.text) for w in tokens(body)):
        return None
    old = list(YEAR.finditer(previous))
    if not old:  # "what about 2019?" after "How do I update the firmware?": the same, in 2019
        stated = body.strip().rstrip("?.!").strip()
        when = stated if _word_before(body, years[0].start()) else f"in {years[0].group(1)}"
        return f"{previous.rstrip().rstrip('?.!').rstrip()} {when}{'?' if previous.rstrip().endswith('?') else ''}"
    before = _word_before(body, years[0].start())
    target = next((m for m in old if before and _word_before(previous, m.start()) == before), old[0])
    return previous[:target.start()] + years[0].group(1) + previous[target.end():]


def _word_before(text: str, at: int) -> str | None:
    found = tokens(text[:at])
    return found[-1].lower if found else None


def elided_verb_phrase(body: str) -> str | None:
    """The noun phrase of a follow-up whose verb phrase is left out, else None.

    "Does the WS-100 do that too?" -> "the WS-100"; "is that also true for Japan?" -> "Japan";
    "Can the Console C5?" -> "the Console C5". A content word other than the noun phrase (a verb
    of its own: "Does the WS-100 transmit data?") makes the question complete, so None."""
    holds = _HOLDS.match(body.strip())
    if holds:
        return holds.group(1).strip()
    words = tokens(body)
    if len(words) < 2 or words[0].lower not in AUXILIARIES or words[0].lower.endswith("'s"):
        return None
    kinds = classify(words)
    end = 1
    while end < len(words) and words[end].lower not in _PRO_FORMS - {"the"}:
        if kinds[end] == "verb":
            return None
        end += 1
    tail = words[end:]
    if end == 1 or not tail or any(w.lower not in _PRO_FORMS for w in tail):
        return None
    if not any(k == "content" for k in kinds[1:end]):
        return None
    return body[words[1].start:words[end - 1].end]


def attribute_swap(fragment: Phrase, previous: str) -> str | None:
    """ "the battery life" after "What is the WS-200's range?" -> "What is the WS-200's battery life?".

    Only for a fragment without a name whose head is a property noun; it replaces the previous
    question's property (the phrase headed by a property noun, else the phrase it asks for),
    and after a possessive ("WS-200's") only the words that follow it."""
    if fragment.named or fragment.head not in ATTRIBUTES:
        return None
    phrases = noun_phrases(previous)
    found = focus_of(previous)
    target = next((p for p in phrases if p.text.split()[-1].lower() in ATTRIBUTES), None)
    if target is None and found is not None and not found[0].named:
        target = found[0]
    if target is None:
        return None
    new = fragment.text
    possessor = [w for w in tokens(target.text) if w.lower.endswith("'s")]
    if possessor:
        start = target.start + possessor[-1].end + 1
        return previous[:start] + new + previous[target.end:]
    tail = common_tail(target, previous)
    if tail is not None:  # "the WS-200 warranty": the name stays, the property changes
        return previous[:tail] + new + previous[target.end:]
    start = target.start if target.determiner is not None or fragment.determiner is None else target.span_start
    text = new if target.determiner is not None or fragment.determiner is None else f"{fragment.determiner} {new}"
    return previous[:start] + text + previous[target.end:]


def other_of_two(body: str, previous: str) -> str | None:
    """ "the other one" when ``previous`` named two things: they are exchanged.

    "and the other one?" after "Is the WS-200 lighter than the WS-100?" -> "Is the WS-100
    lighter than the WS-200?"; "what does the other model cost?" -> "what does the WS-100
    cost?" (the other is the name the previous question was not about: not its first)."""
    words = tokens(body)
    at = next((i for i, w in enumerate(words) if w.lower == "other"), None)
    if at is None or any(p.named for p in noun_phrases(body)):
        return None  # "is the other warranty valid for Halvard Care?" names its own subject
    names = two_names(previous)
    if names is None:
        return None
    first, second, standing = names
    kinds = classify(words)
    end = at
    while end + 1 < len(words) and words[end].lower not in ("one", "ones") and (
            kinds[end + 1] == "content" or words[end + 1].lower in ("one", "ones")):
        end += 1
    start = words[at - 1].start if at and words[at - 1].lower in ("the", "that") else words[at].start
    rest = [k for i, k in enumerate(kinds) if (i < at - 1 or i > end) and k != "fn"]
    if rest:
        return body[:start] + standing + body[words[end].end:]
    exchanged = []
    for piece in re.split(f"({re.escape(first)}|{re.escape(second)})", previous):
        exchanged.append(second if piece == first else first if piece == second else piece)
    return "".join(exchanged)


def two_names(text: str) -> tuple[str, str, str] | None:
    """The first two distinct names of ``text`` joined by a coordinator ("A and B", "A or B",
    "A than B", "between A and B"; a name run such as "Nolan and Kalathil" is split), and the
    second as it can stand alone ("the WS-100")."""
    names: list[tuple[str, str]] = []
    for phrase in noun_phrases(text):
        if not phrase.named:
            continue
        parts = [_name_run(part) for part in re.split(r"\s+(?:and|or)\s+", phrase.text)]
        article = f"{phrase.determiner} " if phrase.determiner in ("the", "a", "an") and len(parts) == 1 else ""
        names.extend((part, article + part) for part in parts if part and part not in [n for n, _ in names])
    if len(names) < 2:
        return None
    (first, _), (second, standing) = names[0], names[1]
    gap = text[text.find(first) + len(first):text.find(second)]
    if not any(w.lower in _COORDINATORS for w in tokens(gap)) and "," not in gap:
        return None
    return first, second, standing


def name_swap(fragment: str, previous: str, similarity: Callable[[str, Sequence[str]], Sequence[float]]
              ) -> str | None:
    """ "And Grace Krilanovich?" after "Lucy Crown's first novel was published by ...": a fragment
    that is a proper name replaces one name of the previous question (the words that name, not
    the phrase around them: "first novel" stays). The most similar name wins; ties go to the first,
    the subject of most questions. None when the fragment is not a name or the question has none."""
    name = fragment.strip().rstrip("?").strip()
    if not name or _name_run(name) != name:
        return None
    runs = [run for run in name_runs(previous) if run[2].lower() != name.lower()]
    if not runs:
        return None
    scores = list(similarity(name, [run[2] for run in runs]))
    best = max(range(len(runs)), key=lambda i: (round(scores[i], 6), -i))
    start, end, _ = runs[best]
    return previous[:start] + name + previous[end:]


def name_runs(text: str) -> list[tuple[int, int, str]]:
    """The names of ``text`` as (start, end, words): runs of capitalised words and codes, joined by
    "of", "the", "and", "de", "in" when a name follows ("Cooper Firearms of Montana"); a leading
    article and a trailing possessive "'s" stay outside."""
    words = tokens(text)
    runs: list[tuple[int, int, str]] = []
    i = 0
    while i < len(words):
        if not _names(words, i):
            i += 1
            continue
        end = i
        while True:
            if end + 1 < len(words) and _names(words, end + 1):
                end += 1
            elif end + 2 < len(words) and words[end + 1].lower in _NAME_JOINS and _names(words, end + 2):
                end += 2
            else:
                break
        start, stop = words[i].start, words[end].end
        if words[end].lower.endswith("'s"):
            stop -= 2
        runs.append((start, stop, text[start:stop]))
        i = end + 1
    return runs


def _names(words: list[Token], i: int) -> bool:
    word = words[i]
    if is_function(word, words[i - 1] if i else None):
        return False
    return is_name(word, 1) if i > 0 else is_name(word, 0)


def _name_run(text: str) -> str:
    """The words of a phrase that name: "WS-200" of "WS-200 sensor array", all of "Sathish Kalathil"."""
    words = tokens(text)
    start = next((i for i, w in enumerate(words) if is_name(w, 1)), None)
    if start is None:
        return ""
    end = start
    while end + 1 < len(words) and is_name(words[end + 1], 1):
        end += 1
    return text[words[start].start:words[end].end]


def bound_in_question(question: str, words: list[Token], i: int) -> bool:
    """Whether the personal pronoun ``words[i]`` refers to a name earlier in the same question,
    in an earlier clause ("X, was a Welsh king, ... he was"): then it does not point back."""
    if words[i].lower not in _PERSONAL:
        return False
    if i > 0 and words[i].text[0].isupper():
        return True  # a capitalised "They" inside a question is part of a title ("They Flew Alone")
    named_before = [p for p in noun_phrases(question[:words[i].start]) if p.named]
    if not named_before:
        return False
    between = question[named_before[0].end:words[i].start]
    return "," in between or ";" in between or any(w.lower in _CLAUSE_OPENERS for w in tokens(between))
