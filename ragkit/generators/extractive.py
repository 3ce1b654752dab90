"""The offline answerer: quote the sentences of the retrieved chunks that best match the question.

No model, no network. Each sentence of the top chunks is scored by how much of the question's
(stemmed, stopword-free) vocabulary it covers, weighting rare words more (idf over the candidate
sentences), plus a small prior for better-ranked chunks. The best sentences are quoted verbatim
with their ``[n]`` citations, so every claim in an extractive answer is a literal span of a source.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from ragkit.answerability import expected_kind, holds, holds_in_column, kind_words
from ragkit.generators.base import TokenCallback
from ragkit.models import Generation, SearchHit
from ragkit.question_frame import frame_terms
from ragkit.text import content_terms, sentence_spans, spells_acronym, table_header, tokenize

PREFIX = "Extractive answer (quoted from the documents):"
NOT_FOUND = "Not found in the documents."


@dataclass(frozen=True)
class Selection:
    #: (source number, sentence) pairs in reading order
    sentences: list[tuple[int, str]]
    #: idf-weighted share of the question's content terms the sentences contain
    coverage: float
    #: the sentence picked first, and its follower when the first only restates the question
    lead: list[str]
    #: does the lead hold the kind of thing the question asks for (an amount, a date...)?
    answers_kind: bool = True


class _Pool(NamedTuple):
    """The sentences a question's answer is chosen from, with what is known about each."""

    query_terms: set[str]
    #: (source number, sentence) of every quotable sentence, in reading order
    candidates: list[tuple[int, str]]
    #: each candidate's terms, with its table header's, its kind words and its FAQ question's
    tokens: list[set[str]]
    idf: dict[str, float]
    #: candidate index -> the one that follows it in its chunk
    following: dict[int, int]
    #: each candidate's table header row, or ""
    headers: list[str]
    #: each candidate's FAQ question (the question it answers: :func:`question_headings`), or ""
    asked: list[str]
    #: the question terms a candidate has only from its FAQ question (the question it answers)
    asked_terms: list[set[str]]


class ExtractiveGenerator:
    """Greedy coverage: each chosen sentence must add question words the previous ones lack.

    A sentence's gain is the idf-weighted share of still-uncovered question terms it contains,
    halved when the sentence is made almost only of question words (a heading that restates the
    question says nothing new), plus small bonuses for focus (question words per word), for
    better-ranked sources and, after the first pick, for staying in the same chunk. Ties therefore
    resolve towards the sentence that carries new information, and a second sentence is only
    added when it covers what the first did not (e.g. the table row after its caption).
    """

    name = "extractive"

    def __init__(self, max_sentences: int = 2, min_coverage: float = 0.35, max_chars: int = 500) -> None:
        self.max_sentences = max_sentences
        self.min_coverage = min_coverage
        self.max_chars = max_chars

    def _candidates(self, question: str, sources: Sequence[SearchHit]) -> "_Pool":
        query_terms = set(content_terms(question, "en_plus"))
        candidates: list[tuple[int, str]] = []
        following: dict[int, int] = {}  # candidate index -> the sentence that follows it in its chunk
        asked: list[str] = []  # each candidate's question heading (a FAQ's question), or ""
        for n, hit in enumerate(sources, start=1):
            previous = None
            for (start, end), heading in zip(spans := sentence_spans(hit.text), question_headings(hit.text, spans)):
                sentence = hit.text[start:end]
                if not _is_statement(sentence):
                    continue
                if previous is not None:
                    following[previous] = len(candidates)
                previous = len(candidates)
                candidates.append((n, sentence))
                asked.append(heading)
        if not candidates or not query_terms:
            return _Pool(query_terms, [], [], {}, {}, [], [], [])
        # A table row is read with its header row: "Germany | 28 EUR | 150 EUR" answers "hotel cap
        # in Germany" only together with "Country | Daily allowance | Hotel cap per night".
        headers = [table_header(sources[n - 1].text, sentence) or "" for n, sentence in candidates]
        # A sentence also says its hyphenated words joined ("e-mails" is "emails") and the kind
        # of contact detail it holds ("support@halvard.example" is an email); a FAQ's answer is
        # read with its question ("Call +46 31 555 0199" answers "How do I contact support?"
        # under "How can I contact support?", without saying "contact" itself)
        extra = [" ".join(_HYPHENATED.findall(s)).replace("-", "") + " " + kind_words(s, question, h)
                 for (_, s), h in zip(candidates, headers)]
        own = [set(t) | set(h) | set(x) for t, h, x in zip(tokenize([s for _, s in candidates], "en_plus"),
                                                            tokenize(headers, "en_plus"), tokenize(extra, "en_plus"))]
        # the question words only a candidate's FAQ question says, when that question is the
        # user's in other words (it says most of its terms): an entry answers the question it
        # asks, and a form's "Did it change in the last year?" does not ask "What is the last year
        # in the table?"
        asked_terms = [(set(q) & query_terms) - mine if _restates(set(q), query_terms) else set()
                       for q, mine in zip(tokenize(asked, "en_plus"), own)]
        tokens = [mine | from_question for mine, from_question in zip(own, asked_terms)]
        _add_word_forms(query_terms, tokens)
        _add_spelled_acronyms(question, query_terms, tokens, [s for _, s in candidates])
        _drop_unsaid_frame_terms(question, query_terms, tokens)
        return _Pool(query_terms, candidates, tokens, sentence_idf(query_terms, tokens), following, headers,
                     asked, asked_terms)

    def select(self, question: str, sources: Sequence[SearchHit]) -> tuple[list[tuple[int, str]], float]:
        """The chosen (source number, sentence) pairs and the share of the question they cover."""
        selection = self.choose(question, sources)
        return selection.sentences, selection.coverage

    def choose(self, question: str, sources: Sequence[SearchHit]) -> "Selection":
        """The greedy pick, with the lead: the first sentence chosen (and the one that follows a
        sentence that only restates the question). The lead is what answers; later picks add
        question words, so the asked-for kind must be in the lead, not just anywhere."""
        pool = self._candidates(question, sources)
        query_terms, candidates, tokens, idf, following, headers = (
            pool.query_terms, pool.candidates, pool.tokens, pool.idf, pool.following, pool.headers)
        if not candidates:
            return Selection([], 0.0, [])
        kind = expected_kind(question)

        def holds_kind(i: int) -> bool:  # a table row also by its column's header ("Price")
            return holds(candidates[i][1], kind, question) or holds_in_column(candidates[i][1], headers[i], kind)

        norm = sum(idf.values()) or 1.0
        covered: set[str] = set()
        chosen: list[int] = []
        length = 0
        while len(chosen) < self.max_sentences:
            best, best_gain = None, 0.0
            for i, ((n, sentence), terms) in enumerate(zip(candidates, tokens)):
                if i in chosen or (chosen and length + len(sentence) > self.max_chars):
                    continue
                new = (query_terms & terms) - covered
                if not new:
                    continue
                restates = len(terms - query_terms) / max(1, len(terms)) < 0.2
                density = len(query_terms & terms) / max(1, len(terms))
                local = 0.05 if any(candidates[c][0] == n for c in chosen) else 0.0  # answers are local
                gain = sum(idf[t] for t in new) / norm * (0.5 if restates else 1.0) + 0.1 * density + 0.02 / n + local
                if not holds_kind(i):
                    gain *= 0.5  # on topic, but not the kind of thing asked for (no amount, no date)
                if gain > best_gain:
                    best, best_gain = i, gain
            if best is None:
                break
            chosen.append(best)
            covered |= query_terms & tokens[best]
            length += len(candidates[best][1])
            # A sentence made only of question words restates the question (a FAQ entry, a
            # heading): what follows it is the answer, so quote that too.
            follower = following.get(best)
            if (len(tokens[best] - query_terms) <= 1 and follower is not None and follower not in chosen
                    and len(chosen) < self.max_sentences):
                chosen.append(follower)
                length += len(candidates[follower][1])
        if chosen and pool.asked_terms[chosen[0]]:  # picked for words only its FAQ question says
            entry = self._faq_answer(chosen[0], pool)
            entry_covers = set().union(*(query_terms & tokens[i] for i in entry))
            if sum(idf[t] for t in entry_covers) >= sum(idf[t] for t in covered):  # never a weaker answer
                chosen, covered = entry, entry_covers
        leading = [i for i in chosen[:2] if i == chosen[0] or i == following.get(chosen[0])]
        lead = [candidates[i][1] for i in leading]
        coverage = sum(idf[t] for t in covered) / norm
        chosen.sort(key=lambda i: (candidates[i][0], i))  # read in source order
        return Selection([candidates[i] for i in chosen], coverage, lead, any(holds_kind(i) for i in leading))

    def _faq_answer(self, picked: int, pool: "_Pool") -> list[int]:
        """The answer of the FAQ entry picked for words only its question says, read from its
        start: the sentences right after the question, up to ``max_sentences`` and ``max_chars``
        (every sentence of the entry carries those words, so the greedy pick would take
        whichever is shortest, not the one that answers)."""
        n, entry = pool.candidates[picked][0], pool.asked[picked]
        first = picked
        while first - 1 >= 0 and pool.following.get(first - 1) == first and pool.asked[first - 1] == entry:
            first -= 1
        chosen, length, at = [first], len(pool.candidates[first][1]), pool.following.get(first)
        while (at is not None and len(chosen) < self.max_sentences and pool.candidates[at][0] == n
               and pool.asked[at] == entry and length + len(pool.candidates[at][1]) <= self.max_chars):
            chosen.append(at)
            length += len(pool.candidates[at][1])
            at = pool.following.get(at)
        return chosen

    def generate(
        self, question: str, sources: Sequence[SearchHit], *, on_token: TokenCallback | None = None,
        instructions: str | None = None,
    ) -> Generation:
        """Quote the best sentences. ``instructions`` are for chat models; quoting ignores them."""
        selection = self.choose(question, sources)
        chosen, coverage = selection.sentences, selection.coverage
        kind = expected_kind(question)
        reason = None
        if not chosen:
            reason = "no sentence of the sources shares a content word with the question"
        elif coverage < self.min_coverage:
            reason = f"the best sentences cover {coverage:.0%} of the question (min_coverage {self.min_coverage:.0%})"
        elif not selection.answers_kind:
            reason = f"the question asks for a {kind} and no quotable sentence holds one"
        if reason:
            if on_token:
                on_token(NOT_FOUND)
            return Generation(text=NOT_FOUND, generator=self.name, refused=True, warnings=[f"refused: {reason}"])
        parts, shown = [], set()
        quoted = {sentence for _, sentence in chosen}
        for n, sentence in chosen:
            hit = sources[n - 1]
            key = (hit.source, hit.section)
            header = table_header(hit.text, sentence)
            if header and header not in quoted:
                sentence = f"{header} / {sentence}"  # a figure means nothing without its column names
                quoted.add(header)
            sentence = " ".join(sentence.split())  # a line wrapped in the source is one line in the answer
            parts.append((sentence if key in shown else _with_section(sentence, hit)) + f" [{n}]")
            shown.add(key)
        body = " ".join(parts)
        text = f"{PREFIX} {body}"
        if on_token:
            on_token(text)
        return Generation(text=text, generator=self.name, preamble=PREFIX)


def _add_word_forms(query_terms: set[str], tokens: list[set[str]]) -> None:
    """A question word no sentence holds as such is held by a sentence with another form of it
    that the stemmer leaves apart, one stem starting the other ("ctenophora", "ctenophores"), or
    with the word the question misspells: one edit apart, same first letter, 7+ letters
    ("ctenohore", "Akinoshu" for "Akinoshū"). Shorter words are left alone: "would" is one edit
    from "world", "pertain" from "certain"."""
    missing = {term for term in query_terms if len(term) >= 6 and not any(term in t for t in tokens)}
    for term in missing:
        for terms in tokens:
            if any(_same_word(term, word) for word in terms):
                terms.add(term)


def _add_spelled_acronyms(question: str, query_terms: set[str], tokens: list[set[str]], sentences: list[str]) -> None:
    """An acronym of the question ("According to the AAA, ...") is held by a sentence that spells
    it out ("The American Automobile Association reported ...")."""
    for acronym in set(re.findall(r"\b[A-Z]{2,6}\b", question)):
        term = acronym.lower()
        if term in query_terms and not any(term in t for t in tokens):
            for terms, sentence in zip(tokens, sentences):
                if spells_acronym(acronym, [sentence]):
                    terms.add(term)


def _drop_unsaid_frame_terms(question: str, query_terms: set[str], tokens: list[set[str]]) -> None:
    """A frame word no sentence says is not missing from the answer: "In what *country* ...?" is
    answered by a sentence naming Brazil, "What is X *mainly* concerned with?" by one saying what X
    is concerned with (:mod:`ragkit.question_frame`). Said by a sentence, it still counts."""
    for term in frame_terms(question):
        if term in query_terms and not any(term in t for t in tokens):
            query_terms.discard(term)


def _same_word(term: str, word: str) -> bool:
    """Are two stems forms or a misspelling of one word (see :func:`_add_word_forms`)?"""
    if len(term) >= 6 and len(word) >= 6 and (word.startswith(term) or term.startswith(word)):
        return True
    return min(len(word), len(term)) >= 7 and word[0] == term[0] and _one_edit(term, word)


def _one_edit(a: str, b: str) -> bool:
    """One letter added, dropped, changed, or two neighbours swapped ("ctenohor", "ctenophor")."""
    if a == b:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:] or (a[i + 2:] == b[i + 2:] and a[i:i + 2] == b[i:i + 2][::-1])
    return a[i:] == b[i + 1:]


def sentence_idf(query_terms: set[str], tokens: Sequence[set[str]]) -> dict[str, float]:
    """Each question term's idf over the candidate sentences (their term sets), with a bonus for a
    term no sentence holds: a question word the sources never say weighs most when it is missing."""
    total = len(tokens)
    idf = {}
    for term in query_terms:
        df = sum(1 for t in tokens if term in t)
        idf[term] = math.log(1 + total / (1 + df)) + (0.5 if df == 0 else 0.0)
    return idf


#: a word of letters joined by hyphens ("e-mail", "check-in"); codes such as "WS-200" are left out
_HYPHENATED = re.compile(r"\b[A-Za-z]+(?:-[A-Za-z]+)+\b")


def question_headings(text: str, spans: Sequence[tuple[int, int]]) -> list[str]:
    """For each sentence of ``text`` (its ``spans``), the question it answers as a FAQ lays one
    out: the nearest question before it in the same block (no blank line between), or "". A
    FAQ's question and its answer are one unit, as a table row and its header are; the answer
    seldom repeats the question's words."""
    headings: list[str] = []
    current, end_of_previous = "", 0
    for start, end in spans:
        if "\n\n" in text[end_of_previous:start].replace(" ", "").replace("\t", ""):
            current = ""  # a blank line ends the question's block
        sentence = text[start:end]
        headings.append("" if sentence.endswith("?") else current)
        if sentence.endswith("?"):
            current = sentence
        end_of_previous = end
    return headings


def _restates(heading_terms: set[str], query_terms: set[str]) -> bool:
    """Does a FAQ question say at least half of the user's question's content terms?"""
    return bool(query_terms) and len(heading_terms & query_terms) * 2 >= len(query_terms)


def _is_statement(sentence: str) -> bool:
    """Worth quoting: not a question (a FAQ's question is not its answer) and not a bare heading."""
    if sentence.endswith("?") or len(sentence) < 12:
        return False
    words = sentence.split()
    if len(words) < 4 and not any(ch.isdigit() for ch in sentence):
        return False
    return not _looks_like_heading(words)


_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with", "-", "–", "&"}


def _looks_like_heading(words: list[str]) -> bool:
    """Title Case, short, no closing punctuation and no table bars: "Solar Panel and Enclosure"."""
    if len(words) > 12 or words[-1][-1] in ".!?:;" or "|" in words:
        return False
    return all(w[0].isupper() or w[0].isdigit() or w.lower() in _SMALL_WORDS for w in words if w[0].isalnum() or w in _SMALL_WORDS)


def _with_section(sentence: str, hit: SearchHit) -> str:
    """Prefix the innermost heading when the sentence does not contain it: the heading often holds
    the missing half of the answer (a release number, the name of a table)."""
    heading = hit.section.rsplit(" > ", 1)[-1].strip() if hit.section else ""
    if not heading or heading.lower() in sentence.lower():
        return sentence
    return f"In “{heading}”: {sentence}"
