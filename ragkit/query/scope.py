"""Documents a question names: "Acme's 2019 operating cash flow" in a folder of annual reports.

In a collection of many similar documents the passage that answers is one of a dozen lookalike
pages (every annual report has a cash-flow table); what tells them apart is the document, and
the question often names it — by a year, a company, a product — in words that are in the
document's *label* (its readable file name and title, the head of each chunk's context line).
When ``infer_scope`` is on, retrieval is limited to the documents so named, and the result says
so. Pure functions; the label of each document comes from the caller.

The rules are deliberately narrow, so a question that merely mentions a name does not lose the
documents that answer it:

* a **year** counts when the labels carry at least two different years (the collection is
  organised by year) and at least one label carries the question's year; documents whose label
  has no year at all stay in scope;
* a **name** narrows a year's scope further when a capitalised word or code of the question is
  a whole word of some labels but of at most a quarter of them (a word in most labels names
  nothing); on its own a name is not explicit enough — "WS-200" in a question about the warranty
  names a product, not the product manual — and measured on the sample corpus and HotpotQA,
  scoping by names alone cost 0.05 and 0.14 nDCG@10;
* several names widen the scope (a comparison of two companies searches both);
* nothing is inferred when the scope would be every document or none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from ragkit.text import INSTRUCTION_WORDS, name_like_words, named_years

_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")
_WORD = re.compile(r"[a-z0-9]+")
#: at most this share of the labels may contain a word for it to name documents
NAME_SHARE = 0.25


@dataclass(frozen=True)
class Scope:
    paths: tuple[str, ...]
    #: what in the question named them, for the answer's notice
    because: str

    def notice(self, labels: Mapping[str, str]) -> str:
        shown = ", ".join(labels.get(p) or p for p in self.paths[:5])
        more = f" and {len(self.paths) - 5} more" if len(self.paths) > 5 else ""
        return f"searched only the documents the question names ({self.because}): {shown}{more}"


def label_words(label: str) -> set[str]:
    return set(_WORD.findall(label.lower()))


def infer_scope(question: str, labels: Mapping[str, str]) -> Scope | None:
    """The documents ``question`` names, by the rules above; None when it names none."""
    if len(labels) < 2:
        return None
    words = {path: label_words(label) for path, label in labels.items()}
    every = set(words)
    reasons: list[str] = []
    scope = set(every)

    asked_years = set(named_years(question))  # "FY2018" names 2018
    dated = {path: {w for w in ws if _YEAR.fullmatch(w)} for path, ws in words.items()}
    if asked_years and len(set().union(*dated.values())) >= 2:
        matching = {p for p, years in dated.items() if years & asked_years}
        if matching:
            scope &= matching | {p for p, years in dated.items() if not years}
            reasons.append(" and ".join(sorted(asked_years)))

    named: set[str] = set()
    names: list[str] = []
    for word in name_like_words(question):
        token = word.lower()
        if len(token) < 3 or token.isdigit() or token in INSTRUCTION_WORDS:
            continue
        having = {p for p, ws in words.items() if token in ws}
        if having and len(having) <= max(1, NAME_SHARE * len(every)):
            named |= having
            names.append(word)
    if named and reasons:  # a name alone is not explicit enough: "WS-200" is in many documents' text
        scope &= named
        reasons.append(", ".join(repr(n) for n in names))

    if not reasons or not scope or scope == every:
        return None
    return Scope(paths=tuple(sorted(scope)), because="; ".join(reasons))
