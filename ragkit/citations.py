"""Citations: from ``[n]`` markers in an answer to file, page and an exact quote.

Every marker is checked against the sources the generator was given. A number outside
``1..len(sources)`` is removed from the text and reported. The quote for a valid marker is the
sentence of source *n* that best supports the sentence of the answer carrying the marker, so it
is always a literal span of the chunk (its offsets are kept) and a reader can find it on the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ragkit.models import Citation, SearchHit
from ragkit.text import header_above, sentence_spans, table_spans, tokenize

__all__ = ["MARKER", "Citation", "ResolvedAnswer", "best_quote", "resolve", "sentence_spans"]

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def best_quote(claim: str, chunk_text: str, max_chars: int = 300) -> tuple[int, int]:
    """Span of the chunk sentence sharing the most (stemmed) words with ``claim``.

    A table row is read with its header row, as the answerer reads it: a claim made of both
    ("Country | Daily allowance | Hotel cap per night / Germany | 28 EUR | 150 EUR") shares more
    words with the header than with the row alone, but the row is what shows the figures, so it
    is quoted; the header alone is quoted only when the claim is about the header."""
    spans = sentence_spans(chunk_text) or [(0, len(chunk_text))]
    claim_terms = set(tokenize([claim], "en_plus")[0])
    table = table_spans(chunk_text)
    sentences = [chunk_text[s:e] for s, e in spans]
    headers = [header_above(chunk_text, start, table) or "" for start, _ in spans]
    tokens = tokenize([f"{sentence} {header}" for sentence, header in zip(sentences, headers)], "en_plus")

    def overlap(i: int) -> tuple[int, int]:
        return (len(claim_terms & set(tokens[i])), -i)

    start, end = spans[max(range(len(spans)), key=overlap)]
    if end - start > max_chars:
        cut = chunk_text.rfind(" ", start, start + max_chars)
        end = cut if cut > start else start + max_chars
    return start, end


def _claim_around(text: str, position: int) -> str:
    """The answer sentence containing ``position`` (markers stripped)."""
    spans = sentence_spans(text)
    for start, end in spans:
        if start <= position <= end + 1:
            return MARKER.sub("", text[start:end])
    return MARKER.sub("", text)


@dataclass
class ResolvedAnswer:
    text: str
    citations: list[Citation]
    invalid: list[int]


def resolve(answer: str, sources: Sequence[SearchHit]) -> ResolvedAnswer:
    """Validate markers, drop invalid ones, and attach a quote to each cited source (first claim wins)."""
    citations: dict[int, Citation] = {}
    invalid: list[int] = []

    def replace(match: re.Match) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
        kept = []
        for n in numbers:
            if 1 <= n <= len(sources):
                kept.append(n)
                if n not in citations:
                    hit = sources[n - 1]
                    start, end = best_quote(_claim_around(answer, match.start()), hit.text)
                    citations[n] = Citation(n, hit.source, hit.page, hit.chunk_id, hit.text[start:end], start, end)
            elif n not in invalid:
                invalid.append(n)
        return "".join(f"[{n}]" for n in kept)

    cleaned = MARKER.sub(replace, answer)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    return ResolvedAnswer(cleaned, [citations[n] for n in sorted(citations)], invalid)
