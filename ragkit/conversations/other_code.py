""""And the other one?" after a question about one code: the sibling code in the answer's passages.

"What does error code E42 mean?" answered from a table of error codes, then "and the other
one?": the other one is the next code of the same shape and prefix that the passages list (E17).
A year is not a code here: "the 1920 Olympics" has no sibling "1900" that the user could mean
by "the other one" (a new year is a time shift, which has its own rule)."""

from __future__ import annotations

import re
from typing import Sequence

from ragkit.conversations.phrases import DETERMINERS, classify, code_shape, is_code, letter_prefix, render, subject_of, tokens

_YEAR = re.compile(r"(1[0-9]|20)\d\d")


def other_code(body: str, previous: str, passages: Sequence[str]) -> str | None:
    """The follow-up with "the other one" made the sibling of the previous question's first
    code; None when the follow-up says no "other", the previous question has no code, or the
    passages hold no sibling."""
    span = other_span(body)
    if span is None:
        return None
    codes = [w.text for w in tokens(previous) if is_code(w.text) and not _YEAR.fullmatch(w.text)]
    if not codes:
        return None
    code = codes[0]
    sibling = find_sibling(code, passages)
    if sibling is None:
        return None
    swapped = re.sub(rf"(?<![\w-]){re.escape(code)}(?![\w-])", sibling, previous)
    rest = (body[:span[0]] + body[span[1]:]).strip(" ?,")
    if not any(k != "fn" for k in classify(tokens(rest))):
        return swapped
    subject = subject_of(swapped)
    named = render(subject) if subject is not None else sibling
    return body[:span[0]] + named + body[span[1]:]


def other_span(body: str) -> tuple[int, int] | None:
    """Where "the other one" / "the other sensor array" stands in ``body`` (article included)."""
    words = tokens(body)
    kinds = classify(words)
    at = next((i for i, w in enumerate(words) if w.lower == "other"), None)
    if at is None:
        return None
    start = words[at - 1].start if at and words[at - 1].lower in DETERMINERS else words[at].start
    end = at
    while end + 1 < len(words) and (kinds[end + 1] == "content" or words[end + 1].lower in ("one", "ones")):
        end += 1
    return start, words[end].end


def find_sibling(code: str, passages: Sequence[str]) -> str | None:
    """The first other code in ``passages`` with the shape and letters of ``code``."""
    shape, prefix = code_shape(code), letter_prefix(code)
    for passage in passages:
        for word in tokens(passage):
            candidate = word.text
            if (candidate.upper() != code.upper() and code_shape(candidate) == shape
                    and letter_prefix(candidate) == prefix):
                return candidate
    return None
