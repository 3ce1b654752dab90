"""Citation parsing and validation."""

from __future__ import annotations

from ragkit.citations import best_quote, resolve, sentence_spans
from ragkit.models import SearchHit


def _hit(n: int, text: str, source: str = "doc.pdf", page: int | None = 1) -> SearchHit:
    return SearchHit(rank=n, chunk_id=f"c{n}", text=text, source=source, path=f"/x/{source}", page=page,
                     section="", start=0, end=len(text), score=1.0)


SOURCES = [
    _hit(1, "The pump runs at 40 litres per minute. It weighs 12 kg.", "pump.pdf", 3),
    _hit(2, "Warranty lasts two years. Returns need a receipt.", "terms.docx", None),
]


def test_valid_markers_map_to_file_page_and_an_exact_quote():
    resolved = resolve("The pump weighs 12 kg [1]. Warranty is two years [2].", SOURCES)
    assert resolved.invalid == []
    first, second = resolved.citations
    assert (first.n, first.source, first.page, first.quote) == (1, "pump.pdf", 3, "It weighs 12 kg.")
    assert (second.source, second.page, second.quote) == ("terms.docx", None, "Warranty lasts two years.")
    for citation in resolved.citations:
        text = SOURCES[citation.n - 1].text
        assert text[citation.quote_start : citation.quote_end] == citation.quote


def test_out_of_range_markers_are_removed_and_reported():
    resolved = resolve("Flow is 40 litres per minute [1][7]. Also [0] and [3, 1].", SOURCES)
    assert resolved.invalid == [7, 0, 3]
    assert "[7]" not in resolved.text and "[0]" not in resolved.text and "[3" not in resolved.text
    assert resolved.text.count("[1]") == 2
    assert [c.n for c in resolved.citations] == [1]


def test_answer_without_markers_has_no_citations():
    resolved = resolve("I could not find the answer in the documents.", SOURCES)
    assert resolved.citations == [] and resolved.invalid == []


def test_sentence_spans_keep_wrapped_lines_together_and_split_table_rows():
    text = "Mount it 1.5 metres above\nthe ground. Next one.\nRow A | 1\nRow B | 2"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Mount it 1.5 metres above\nthe ground.", "Next one.", "Row A | 1", "Row B | 2"]


def test_best_quote_prefers_the_overlapping_sentence_and_is_bounded():
    text = "Alpha beta. The warranty covers the solar panel for five years. Gamma delta."
    start, end = best_quote("solar panel warranty", text)
    assert text[start:end] == "The warranty covers the solar panel for five years."
    long = "word " * 200
    start, end = best_quote("word", long, max_chars=50)
    assert end - start <= 50


def test_best_quote_quotes_the_table_row_a_claim_read_with_its_header():
    """The answerer reads a row with its header; the quote is the row, which holds the figures,
    not the header, which shares more words with the claim."""
    text = ("Per diem rates\n\nCountry | Daily allowance | Hotel cap per night\nSweden | 290 SEK | 1,600 SEK\n"
            "Germany | 28 EUR | 150 EUR\nJapan | 5,200 JPY | 22,000 JPY")
    claim = "Country | Daily allowance | Hotel cap per night / Germany | 28 EUR | 150 EUR"
    start, end = best_quote(claim, text)
    assert text[start:end] == "Germany | 28 EUR | 150 EUR"
    start, end = best_quote("The per diem table lists the daily allowance and the hotel cap per night", text)
    assert text[start:end] == "Country | Daily allowance | Hotel cap per night"
