"""Three more word-level rules for refusal, each a reading habit of a person, measured together.

1. **Context**: a sentence is read in its document. "Only 100-150 species have been validated"
   in "Ctenophora 1.txt" says how many species of Ctenophora there are, so the question words in
   the chunk's file name, title and section count as covered.
2. **Asked-for words**: "how *many*", "what *year*" ask for a kind of answer; a sentence holding
   that kind ("100-150 species", "in 1817") covers them, as an address covers "email" today.
3. **Different modifier**: "How many days of *sick* leave?" answered by "180 days of *parental*
   leave": the question's word before a noun (adjacent, as written) occurs in none of the
   retrieved chunks and the quoted sentence puts another word there, so the documents speak of
   another kind of thing. MMLongBench-Doc's unanswerable questions change one such detail.

Each is added alone to today's rules, on the refusal collections of
bench/refusal_evidence_data.py plus MuSiQue-100 (as bench/refusal_quote_length.py reads them).
Results under ``context_terms`` in bench/results/refusal.json.

Run with:  .venv/bin/python bench/refusal_context_terms.py   (after refusal_evidence_data.py and
make eval-public; minutes)
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace

from common import ROOT, update_result
from refusal_quote_length import SETS, collections

sys.path.insert(0, str(ROOT))

from ingest.context import readable_name  # noqa: E402
from ragkit.answerability import expected_kind, holds  # noqa: E402
from ragkit.api import MATCHING_DEPTH  # noqa: E402
from ragkit.generators.extractive import ExtractiveGenerator, sentence_idf  # noqa: E402
from ragkit.text import tokenize  # noqa: E402

_SLOT = re.compile(r"\bhow (many|much|long|old|often|far)\b|\b(?:what|which) (year|date|percentage|number|amount)\b",
                   re.IGNORECASE)
_WORD = re.compile(r"[\w'-]+")


class ContextAnswerer(ExtractiveGenerator):
    """Each sentence also holds the words of its chunk's file name, title and section."""

    def _candidates(self, question, sources):
        query_terms, candidates, tokens, idf, following = super()._candidates(question, sources)
        if candidates:
            context = tokenize([" ".join([readable_name(h.source), h.title, h.section]) for h in sources], "en_plus")
            tokens = [terms | (set(context[n - 1]) & query_terms) for terms, (n, _) in zip(tokens, candidates)]
            idf = sentence_idf(query_terms, tokens)
        return query_terms, candidates, tokens, idf, following


class AskedForAnswerer(ExtractiveGenerator):
    """A sentence holding the asked-for kind also holds the words that ask for it."""

    def _candidates(self, question, sources):
        query_terms, candidates, tokens, idf, following = super()._candidates(question, sources)
        asked = set(tokenize([" ".join(next(g for g in m.groups() if g) for m in _SLOT.finditer(question))],
                             "en_plus")[0]) & query_terms
        if candidates and asked:
            kind = expected_kind(question)
            tokens = [terms | asked if holds(sentence, kind, question) else terms
                      for terms, (_, sentence) in zip(tokens, candidates)]
            idf = sentence_idf(query_terms, tokens)
        return query_terms, candidates, tokens, idf, following


def _stems(text: str) -> list[str | None]:
    """One stem per word as written (None for a stopword), so adjacency is the text's own."""
    return [(tokenize([w], "en_plus")[0] or [None])[0] for w in _WORD.findall(text)]


def different_modifier(answerer: ExtractiveGenerator, question: str, hits: list) -> bool:
    """The quoted lead puts another word before a noun of the question whose own modifier no
    retrieved chunk contains."""
    asked = _stems(question)
    known = {t for terms in tokenize([h.text for h in hits], "en_plus") for t in terms}
    for lead in answerer.choose(question, hits).lead:
        said = _stems(lead)
        for modifier, noun in zip(asked, asked[1:]):
            if modifier is None or noun is None or modifier in known:
                continue
            if any(b == noun and a is not None and a not in asked for a, b in zip(said, said[1:])):
                return True
    return False


def main() -> None:
    answerer, context, asked_for = ExtractiveGenerator(), ContextAnswerer(), AskedForAnswerer()
    variants = ("shipped", "context", "asked-for words", "different modifier")
    rows: dict[str, dict[str, list[tuple[bool, bool]]]] = {v: {name: [] for name in SETS} for v in variants}
    for name, kb, items in collections():
        for item in items:
            wide = kb.search(item.question, k=max(kb.settings.top_k, MATCHING_DEPTH))
            hits = wide.hits[:kb.settings.top_k]
            early = kb._refusal_reason(item.question, replace(wide, hits=hits), extractive=True,
                                       matching=[h.path for h in wide.hits]) is not None
            shipped = early or answerer.generate(item.question, hits).refused
            decided = {"shipped": shipped,
                       "context": early or context.generate(item.question, hits).refused,
                       "asked-for words": early or asked_for.generate(item.question, hits).refused,
                       "different modifier": shipped or different_modifier(answerer, item.question, hits)}
            for variant, refused in decided.items():
                rows[variant][name].append((item.answerable, refused))
        kb.close()
        print(name, "done", flush=True)
    figures: dict[str, dict] = {}
    for variant in variants:
        figures[variant] = {}
        for name, decided in rows[variant].items():
            answerable = [r for a, r in decided if a]
            unanswerable = [r for a, r in decided if not a]
            figures[variant][name] = {"false_refusal": round(sum(answerable) / len(answerable), 3),
                                      "refused_unanswerable": round(sum(unanswerable) / max(1, len(unanswerable)), 3),
                                      "answerable": len(answerable), "unanswerable": len(unanswerable)}
        print(variant, json.dumps(figures[variant]), flush=True)
    update_result("refusal", "context_terms", figures)


if __name__ == "__main__":
    main()
