"""The offline answerer on passages written here: what it quotes, what it covers, when it refuses."""

from __future__ import annotations

import pytest

from ragkit.generators.extractive import NOT_FOUND, PREFIX, ExtractiveGenerator, sentence_idf
from ragkit.models import SearchHit


def hit(text: str, rank: int = 1, source: str = "notes.txt", section: str = "") -> SearchHit:
    return SearchHit(rank=rank, chunk_id=f"c{rank}", text=text, source=source, path=f"/docs/{source}", page=None,
                     section=section, start=0, end=len(text), score=0.5)


def test_the_sentence_that_covers_the_question_is_quoted_whole_with_its_citation():
    sources = [hit("Ctenophores are marine animals. Nixon named William E. Simon as the first administrator "
                   "of the Federal Energy Office. The office closed later.")]
    answer = ExtractiveGenerator().generate("Who was the first administrator of the Federal Energy Office?", sources)
    assert not answer.refused
    assert answer.text == (f"{PREFIX} Nixon named William E. Simon as the first administrator of the Federal "
                           "Energy Office. [1]")


def test_a_sentence_wrapped_in_the_source_is_one_line_in_the_answer_and_its_quote_stays_literal():
    from ragkit.citations import resolve

    sources = [hit("Returns without an RMA number\nare refused at our warehouse in Boras.")]
    answer = ExtractiveGenerator().generate("Are returns without an RMA number refused?", sources)
    assert answer.text.endswith("Returns without an RMA number are refused at our warehouse in Boras. [1]")
    quote = resolve(answer.text, sources).citations[0].quote
    assert quote in sources[0].text


def test_a_word_form_the_stemmer_keeps_apart_counts_as_the_word_the_sentence_says():
    # "ctenophora" and "ctenophores" stem to "ctenophora" and "ctenophor"
    sources = [hit("In favorable circumstances, ctenophores can eat ten times their own weight in a day."),
               hit("Only 100-150 species have been validated.", rank=2)]
    answerer = ExtractiveGenerator()
    as_written = answerer.select("How much do ctenophores eat in a day?", sources)
    other_form = answerer.select("How much do ctenophora eat in a day?", sources)
    assert other_form[0] == as_written[0] and other_form[1] == pytest.approx(as_written[1])
    assert as_written[1] > answerer.min_coverage


def test_a_misspelt_question_word_counts_as_the_word_the_sentence_says():
    sources = [hit("Only 100-150 species of ctenophores have been validated so far."),
               hit("Marine biologists study comb jellies in every ocean.", rank=2)]
    answerer = ExtractiveGenerator()
    misspelt = answerer.select("How many species of ctenohores are there?", sources)
    as_written = answerer.select("How many species of ctenophores are there?", sources)
    assert misspelt[0] == as_written[0] and misspelt[1] == pytest.approx(as_written[1])


def test_an_acronym_is_covered_by_the_sentence_that_spells_it_out():
    sources = [hit("The American Automobile Association reported that 20% of stations had no fuel."),
               hit("Gas stations closed on Sundays.", rank=2)]
    answerer = ExtractiveGenerator()
    sentences, coverage = answerer.select("According to the AAA, which stations had no fuel?", sources)
    assert sentences == [(1, sources[0].text)] and coverage == pytest.approx(1.0)
    assert answerer.select("According to the ABC, which stations had no fuel?", sources)[1] < 1.0  # not its initials


def test_words_one_letter_apart_at_the_start_or_short_words_are_different_words():
    from ragkit.generators.extractive import _same_word

    assert _same_word("ctenohor", "ctenophor") and _same_word("akinoshu", "akinoshū")
    assert not _same_word("pertain", "certain")  # another first letter
    assert not _same_word("would", "world")  # too short to tell a typo from another word


def test_short_stems_are_not_matched_by_their_start():
    # "cat" starts "category", but three letters say nothing: the question stays uncovered
    sources = [hit("Every category of product has its own shelf in the warehouse.")]
    sentences, coverage = ExtractiveGenerator().select("Where does the cat sleep at night?", sources)
    assert coverage < 0.35


def test_too_little_of_the_question_covered_is_refused_with_the_reason():
    sources = [hit("The WS-200 ships with a solar panel and a mounting bracket.")]
    answer = ExtractiveGenerator().generate("What did the IPCC apologize for in its fourth assessment report?", sources)
    assert answer.refused and answer.text == NOT_FOUND
    assert any("cover" in warning or "shares" in warning for warning in answer.warnings)


def test_a_missing_question_word_weighs_more_than_one_every_sentence_holds():
    idf = sentence_idf({"leave", "sick"}, [{"leave", "parental"}, {"leave", "days"}])
    assert idf["sick"] > idf["leave"] > 0


def test_the_answers_category_and_hedges_need_not_be_said_but_the_subject_must():
    sources = [hit("Consultant pharmacy practice focuses on medication regimen review."),
               hit("The Amazon rainforest lies mostly in Brazil, with smaller parts in Peru.", rank=2),
               hit("Pharmacy technicians register with the council.", rank=3)]
    answerer = ExtractiveGenerator()
    hedged = answerer.generate("What is consultant pharmacy mainly concerned with?", sources)
    assert not hedged.refused and "medication regimen review" in hedged.text
    categorised = answerer.generate("In what country can most of the Amazon rainforest be found?", sources)
    assert not categorised.refused and "Brazil" in categorised.text
    # a noun that is the subject of the question is not a category: unsaid, it is missing
    assert answerer.generate("What bonus scheme do consultant pharmacists get?", sources).refused



PRICE_LIST = "Item | Price | Stock\nZephyr probe | 129 | 14\nWS-200 station | 899 | 3\nSolar panel | 149 | 20"


def test_a_number_under_a_price_column_answers_a_price_question():
    """A price list without currency signs: "129" under "Price" is the Zephyr probe's price."""
    answer = ExtractiveGenerator().generate("What is the price of the Zephyr probe?", [hit(PRICE_LIST, source="prices.csv")])
    assert not answer.refused and "Zephyr probe | 129 | 14" in answer.text


def test_a_price_column_covers_the_question_asking_what_something_costs():
    """"cost" is not in the table, but a number under "Price" is what it asks for; a product the
    list does not hold is still refused."""
    generator = ExtractiveGenerator()
    answer = generator.generate("How much does the solar panel cost?", [hit(PRICE_LIST, source="prices.csv")])
    assert not answer.refused and "Solar panel | 149 | 20" in answer.text
    missing = generator.generate("How much does the Nimbus probe cost?", [hit(PRICE_LIST, source="prices.csv")])
    assert missing.refused


def test_a_table_without_a_column_of_the_asked_kind_is_still_refused():
    """"Stock" holds numbers but no prices or weights: asking for either is refused."""
    stock = "Item | Stock | Shelf\nZephyr probe | 14 | B3\nSolar panel | 20 | A1"
    generator = ExtractiveGenerator()
    for question in ("What is the price of the Zephyr probe?", "What is the weight of the Zephyr probe?"):
        answer = generator.generate(question, [hit(stock, source="stock.csv")])
        assert answer.refused, (question, answer.text)


FAQ = ("How can I contact support?\nSupport is open Monday to Friday, 08:00 to 17:00. Call +46 31 555 0199 or "
       "write to support@halvard.example. We answer e-mails within two working days.\n\n"
       "How do I update the firmware?\nInstall the Halvard Link app and tap Update.")


def test_a_faq_answer_is_read_with_its_question_and_quoted_from_its_start():
    """The answer under "How can I contact support?" never says "contact": read with its
    question it covers "How do I contact support?", and it is quoted from the entry's start,
    not from whichever of its sentences is shortest."""
    answer = ExtractiveGenerator().generate("How do I contact support?", [hit(FAQ)])
    assert not answer.refused
    assert answer.text == (f"{PREFIX} Support is open Monday to Friday, 08:00 to 17:00. [1] Call +46 31 555 0199 "
                           "or write to support@halvard.example. [1]")
    # a sentence that says the question's words itself is picked as before
    opening = ExtractiveGenerator().generate("When is support open?", [hit(FAQ)])
    assert opening.text == f"{PREFIX} Support is open Monday to Friday, 08:00 to 17:00. [1]"


def test_a_faq_question_heads_its_own_entry_only():
    """A blank line ends an entry: the firmware answer is not read with the support question,
    and a question heads no question."""
    from ragkit.generators.extractive import question_headings
    from ragkit.text import sentence_spans

    spans = sentence_spans(FAQ)
    headed = [(FAQ[a:b], heading) for (a, b), heading in zip(spans, question_headings(FAQ, spans))]
    support, firmware = "How can I contact support?", "How do I update the firmware?"
    assert headed == [(support, ""), ("Support is open Monday to Friday, 08:00 to 17:00.", support),
                      ("Call +46 31 555 0199 or write to support@halvard.example.", support),
                      ("We answer e-mails within two working days.", support),
                      (firmware, ""), ("Install the Halvard Link app and tap Update.", firmware)]
    assert question_headings("Plain prose. No questions.", sentence_spans("Plain prose. No questions.")) == ["", ""]


def test_a_question_that_asks_something_else_lends_no_words():
    """A form's "Did the budget change in the last year?" does not ask "What is the last year in
    the table?": a heading lends its words only when it says most of the user's question."""
    form = hit("Did the budget change in the last year?\nIf yes, describe any significant changes below.")
    assert ExtractiveGenerator().generate("What is the last year present in the table column?", [form]).refused
