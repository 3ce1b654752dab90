"""Text primitives (ragkit/text.py): tokens, sentences, names, acronyms and table headers.

Pure functions, so each test states an input a document or a question really has and the
answer the lexical index, the answerer or the splitter relies on.
"""

from __future__ import annotations

import pytest

from ragkit.text import (
    content_terms,
    defines_acronym,
    figure_tables,
    fold,
    header_above,
    is_figure_row,
    is_year_row,
    keyword_query,
    name_like_words,
    named_years,
    period_years,
    sentence_spans,
    spells_acronym,
    table_header,
    table_runs,
    table_spans,
    tokenize,
)

PIPE_TABLE = "Intro line\nCountry | Daily | Hotel\nFrance | 30 | 160\nSpain | 25 | 120\nAfter the table"
FIGURES = "Results by model\nInstructGPT 53.6 54.6 57.2\nGPT-3 40.1 41.0 (1.4)\nT5 30 n/a 12%\nConclusion."
YEARS = "Income statement\n2019 2018\nRevenue 100 90\nCosts 50 45\nProfit 50 45"


# -- tokens -------------------------------------------------------------------------------------
def test_tokenize_stems_and_drops_stopwords():
    assert tokenize(["The running dogs are barking"]) == [["run", "dog", "bark"]]


def test_the_longer_stopword_list_drops_question_words():
    question = "How many hotels does Paris have?"
    assert "how" in tokenize([question])[0]
    assert tokenize([question], "en_plus") == [["mani", "hotel", "pari"]]


def test_content_terms_skip_instruction_words_and_read_periods_as_years():
    terms = content_terms("Please give the hotel cap in FY2018, rounded to one decimal")
    assert terms == ["hotel", "cap", "2018", "one"]


@pytest.mark.parametrize("period, year", [
    ("FY2018", "2018"), ("FY18", "2018"), ("3Q19", "2019"), ("1H2020", "2020"),
    ("H2'21", "2021"), ("CY99", "1999"),
])
def test_period_years(period, year):
    assert period_years(f"revenue in {period} rose") == f"revenue in {year} rose"


def test_product_codes_and_bare_quarters_are_not_periods():
    assert period_years("the Q400 and H150 models in Q3 2019") == "the Q400 and H150 models in Q3 2019"


def test_keyword_query_keeps_the_words_a_search_needs():
    assert keyword_query("Please give me the warranty period of the solar panel?") == "warranty period solar panel"
    assert keyword_query("  what is it? ") == "what is it?"  # nothing would remain: the text itself


# -- sentences ----------------------------------------------------------------------------------
def test_sentence_spans_survive_wrapped_lines():
    text = "First sentence. Second one!\nA wrapped\nline continues here.\n\nThird para\nstarts Here"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "First sentence.", "Second one!", "A wrapped\nline continues here.", "Third para\nstarts Here"]


def test_sentence_spans_are_trimmed_and_skip_blank_text():
    assert sentence_spans("   ") == []
    text = "  Padded.  "
    assert [text[a:b] for a, b in sentence_spans(text)] == ["Padded."]


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def test_initials_and_abbreviations_do_not_end_a_sentence():
    assert _sentences("Nixon named William E. Simon as the first administrator. He served until 1974.") == [
        "Nixon named William E. Simon as the first administrator.", "He served until 1974."]
    assert _sentences("Practice focuses on review (i.e. the reviews). See Fig. 3 and Dr. Lindqvist's note.") == [
        "Practice focuses on review (i.e. the reviews).", "See Fig. 3 and Dr. Lindqvist's note."]
    assert _sentences("The U.S. Army grew. J. R. R. Tolkien wrote it.") == [
        "The U.S. Army grew.", "J. R. R. Tolkien wrote it."]


def test_a_sentence_still_ends_at_a_capital_letter_or_a_short_word_before_a_new_sentence():
    assert _sentences("It ended with World War I. The treaty followed.") == [
        "It ended with World War I.", "The treaty followed."]
    assert _sentences("Is it free? The answer is no. It costs 5 EUR. They moved to the U.S. The end.") == [
        "Is it free?", "The answer is no.", "It costs 5 EUR.", "They moved to the U.S.", "The end."]


# -- names, years and acronyms ------------------------------------------------------------------
def test_name_like_words_are_names_and_codes_not_formats_or_locators():
    question = ("What did France and the WS-300 do in the 1990s, the 15th, Q3 2019, FY2018 and Figure 7? "
                "Answer in USD as YYYY-MM-DD; return on assets (ROA)")
    assert name_like_words(question) == ["France", "WS", "300", "2019", "2018"]


def test_the_first_word_is_not_a_name_because_it_is_capitalised():
    assert name_like_words("Zanzibar is where?") == []
    assert name_like_words("Where is Zanzibar?") == ["Zanzibar"]


def test_a_bare_quarter_is_a_name_without_a_year():
    assert name_like_words("What happened in Q3?") == ["Q3"]


def test_named_years_skip_formats_and_locators():
    assert named_years("In the 2019 survey, format as YYYY, see page 2020") == ["2019"]


def test_defines_acronym_needs_the_spelled_out_words_before_it():
    assert defines_acronym("return on assets (ROA)", "ROA")
    assert defines_acronym("earnings before interest and taxes (EBIT)", "EBIT")
    assert not defines_acronym("the ROA ratio", "ROA")
    assert not defines_acronym("return on equity (ROA)", "ROA")


def test_spells_acronym_reads_capitalised_initials():
    assert spells_acronym("UMC", ["sermons of the United Methodist Church"])
    assert not spells_acronym("UMC", ["the united methodist church"])
    assert not spells_acronym("Umc", ["the United Methodist Church"])  # not an acronym


def test_fold_removes_case_and_accents():
    assert fold("Maizière Ñandú") == "maiziere nandu"


# -- tables -------------------------------------------------------------------------------------
def test_figure_rows():
    assert is_figure_row("InstructGPT 53.6 54.6 57.2")
    assert is_figure_row("T5 30 n/a 12%")
    assert not is_figure_row("We ran 3 trials in 2019 across many different sites")
    assert not is_figure_row("Only 53.6")


def test_year_rows_head_a_reports_columns():
    assert is_year_row("2019 2018")
    assert is_year_row("Revenue 2020 2019")
    assert not is_year_row("53.6 54.6")


def test_table_runs_find_pipe_tables_and_figure_tables():
    assert [(PIPE_TABLE[s:e], kind) for s, e, kind in table_runs(PIPE_TABLE)] == [
        ("Country | Daily | Hotel\nFrance | 30 | 160\nSpain | 25 | 120", "pipes")]
    (start, end), = figure_tables(FIGURES)
    assert FIGURES[start:end].splitlines()[0] == "InstructGPT 53.6 54.6 57.2"
    assert FIGURES[start:end].splitlines()[-1] == "T5 30 n/a 12%"


def test_two_figure_rows_are_not_a_table():
    assert figure_tables("Intro\nA 1.0 2.0\nB 3.0 4.0\nEnd") == []


def test_table_spans_give_each_table_its_header():
    (start, _, header), = table_spans(PIPE_TABLE)
    assert PIPE_TABLE[start:].startswith("France") and header == "Country | Daily | Hotel"
    (_, _, header), = table_spans(FIGURES)
    assert header == "Results by model"  # the line above the figures
    (start, _, header), = table_spans(YEARS)
    assert header == "Income statement 2019 2018" and YEARS[start:].startswith("Revenue")


def test_header_above_a_row_inside_a_table():
    assert header_above(PIPE_TABLE, PIPE_TABLE.find("Spain")) == "Country | Daily | Hotel"
    assert header_above(PIPE_TABLE, PIPE_TABLE.find("Country")) is None  # the header itself
    assert header_above(PIPE_TABLE, PIPE_TABLE.find("After")) is None
    assert header_above(YEARS, YEARS.find("Costs"), table_spans(YEARS)) == "Income statement 2019 2018"


def test_table_header_of_a_row():
    assert table_header(PIPE_TABLE, "Spain | 25 | 120") == "Country | Daily | Hotel"
    assert table_header(PIPE_TABLE, "After the table") is None
