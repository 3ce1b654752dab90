"""Refusal signals: the kind of thing a question asks for, and names the documents never mention."""

from __future__ import annotations

import pytest

from ragkit.answerability import expected_kind, holds, holds_in_column, kind_words


@pytest.mark.parametrize("question, kind", [
    ("What is the price of the WS-200?", "price"),
    ("How much does the Halvard Care extended warranty cost?", "price"),
    ("How much does the sensor array weigh?", "weight"),
    ("What percentage of revenue came from Europe?", "percentage"),
    ("How long is the warranty on the WS-200 sensor array?", "duration"),
    ("When was Halvard Instruments founded and by whom?", "date"),
    ("How many employees does Halvard have?", "number"),
    ("What does error code E42 mean?", None),
    ("Who founded the company?", None),
    ("Who is Halvard's finance director?", "name"),
    ("Who approves expense claims?", None),
    ("What screen size does the Console C5 display have?", "number"),
    ("What is the support email?", "email"),
    ("Which phone number do I call for repairs?", "phone"),
    ("What is the website of the developer portal?", "website"),
    ("How fast are e-mails answered?", None),
    # a question that opens with a condition asks what its main clause asks
    ("When the battery is low, how do I charge the console?", None),
    ("When many people are arrested, what is a common tactic?", None),
    ("When did the warranty terms change?", "date"),
    # prices and phones talked about, not asked for
    ("How do the fees at the two schools compare?", None),
    ("Which component costs the most?", None),
    ("Is there a fee for returns?", "price"),
    ("How many seniors own a cell phone and a tablet?", "number"),
    ("What is the telephone no of the care home?", "phone"),
    ("What is the support phone?", "phone"),
    # a noun naming a span of time asks for one
    ("What is the return window?", "duration"),
    ("What is the notice period for resignation?", "duration"),
    ("During what period did the Normans rule?", None),
    ("What windows does the console have?", None),
])
def test_expected_kind(question, kind):
    assert expected_kind(question) == kind


def test_model_numbers_are_not_amounts():
    assert not holds("Thank you for choosing the Halvard WS-200 weather station.", "price")
    assert not holds("It uses one CR123A battery and firmware 4.2.0.", "number") or holds("one", "number")
    assert holds("Halvard Care extends the warranty by two years for 39 EUR.", "price")
    assert holds("A restocking fee of 10 percent applies.", "price")
    assert holds("WS-200 sensor array | 3 years | defects", "duration")
    assert not holds("The sensor array is rated IP65.", "date")
    assert holds("Founded in 2011 in Gothenburg.", "date")
    assert holds("anything at all", None)
    assert holds("API tokens expire 90 days after they are created.", "date")
    assert holds("Rapid warming began about 13,000 BP.", "date")  # years before present
    assert not holds("BP sold its stake in the field.", "date")  # the company, not an era


def test_when_is_answered_by_a_time_of_the_week_or_the_day():
    """"When is support open?" asks for opening hours: weekdays and clock times are its answer."""
    assert expected_kind("When is support open?") == "date"
    assert holds("Support is open Monday to Friday, 08:00 to 17:00 Central European Time.", "date")
    assert holds("The depot closes at 6 pm on weekdays.", "date") and holds("Deliveries arrive at noon.", "date")
    assert not holds("I am sure the depot is open.", "date")  # "am" as a word, not a time
    assert not holds("Firmware 3.10 fixes the display.", "date")  # a version, not a time


def test_contact_details_are_held_by_addresses_not_by_talk_about_them():
    assert holds("Call +46 31 555 0199 or write to support@halvard.example.", "email")
    assert not holds("We answer e-mails within two working days.", "email")
    assert holds("Call +46 31 555 0199 or write to support@halvard.example.", "phone")
    assert not holds("Version 4.2.0 shipped in 2026.", "phone")
    assert holds("Docs live at https://docs.halvard.example/api.", "website")
    assert not holds("See the website for details.", "website")


def test_a_sentence_with_an_address_answers_a_question_that_names_its_kind(halvard_kb):
    answer = halvard_kb.ask("What is the support email?")
    assert not answer.refused and "support@halvard.example" in answer.text
    assert not halvard_kb.ask("How fast are e-mails answered?").refused  # "e-mails" is "emails"


def test_a_span_of_time_answers_a_question_that_names_the_span(halvard_kb):
    """"Window" is never said: "returned within 30 days" is the window."""
    answer = halvard_kb.ask("What is the return window?")
    assert not answer.refused and "30 days" in answer.text
    # ... but only where the rest of the question is covered too
    assert halvard_kb.ask("What is the grace period for late invoice payments?").refused
    assert halvard_kb.ask("What is the cooling-off period for subscriptions?").refused


def test_a_name_must_be_one_the_question_does_not_already_say():
    question = "Who is Halvard's finance director?"
    assert not holds("Late claims need approval from Halvard's finance director.", "name", question)
    assert not holds("EUR 5,000 or more needs a second signature.", "name", question)
    assert holds("The finance director, Maria Lindqvist, signs off claims.", "name", question)
    assert not holds("Maria signs off claims.", "name", question)  # the first word of a sentence


def test_format_placeholders_and_page_numbers_are_not_names():
    from ragkit.text import name_like_words

    assert name_like_words("Format the date on page 14 as YYYY-MM-DD. Which are the top2 items?") == []
    assert name_like_words("What does Figure 7 show about WS-300?") == ["WS", "300"]


def test_extractive_refuses_on_topic_sentences_without_the_asked_for_kind(halvard_kb):
    answer = halvard_kb.ask("What is the price of the WS-200 weather station?")
    assert answer.refused
    assert not halvard_kb.ask("How much does the Halvard Care extended warranty cost?").refused


def test_the_asked_for_kind_must_be_in_the_sentence_that_answers(halvard_kb):
    """The finance director is mentioned, never named; a second quoted sentence that names the
    founder must not make "Who is ..." answerable."""
    answer = halvard_kb.ask("Who is Halvard's finance director?")
    assert answer.refused and "name" in " ".join(answer.warnings)
    assert not halvard_kb.ask("When was Halvard Instruments founded and by whom?").refused


def test_a_name_the_collection_never_mentions_is_refused_with_the_reason(halvard_kb):
    answer = halvard_kb.ask("What is the hotel cap per night for a business trip to France?")
    assert answer.refused
    assert any("France" in w for w in answer.warnings)
    # the same question about a country the documents cover is answered, with the table header
    germany = halvard_kb.ask("What is the hotel cap per night for a business trip to Germany?")
    assert not germany.refused and "150 EUR" in germany.text
    assert "Country | Daily allowance | Hotel cap per night" in germany.text
    # a name known only as the start of a longer token still counts as known ("UN" in "UN3091")
    assert not halvard_kb.ask("Under which UN number are the batteries shipped?").refused


def test_a_chat_model_is_not_refused_for_unknown_names(halvard_kb):
    assert halvard_kb.lexical_index().unknown_names("Is the WS-200 sold in France?") == ["France"]
    assert halvard_kb.lexical_index().unknown_names("Is the WS-200 sold in Sweden?") == []


def test_misspelt_and_run_together_names_are_not_unknown(halvard_kb):
    index = halvard_kb.lexical_index()
    assert index.unknown_names("Does the warranty cover Swedenn?") == []  # one edit from "Sweden"
    assert index.unknown_names("Is the Halvardcloud API versioned?") == []  # "Halvard" + "cloud"
    assert index.unknown_names("Is the WS-200 sold in Brazil?") == ["Brazil"]


def test_acronyms_ordinals_and_accents_are_not_unknown_names():
    from ragkit.text import fold, name_like_words

    from ragkit.text import spells_acronym

    assert name_like_words("When did the UMC call on members in the 15th century and the 80s?") == ["UMC"]
    assert spells_acronym("UMC", ["Members of the United Methodist Church voted."])
    assert not spells_acronym("AA", ["It uses one CR123A lithium battery."])
    assert name_like_words("What role does Thomas de Maizière serve?") == ["Thomas", "Maizière"]
    assert fold("Maizière") == "maiziere"


def test_named_years_leave_out_decades_formats_and_locators():
    from ragkit.text import named_years

    assert named_years("How many adults in the April 25 - May 1, 2019 survey said so?") == ["2019"]
    assert named_years("Who played Doctor Who on stage in the 70's? Answer as YYYY.") == []
    assert named_years("What does page 2019 say, and what changed between 1999 and 2004?") == ["1999", "2004"]


def test_a_fiscal_period_is_its_year_and_product_codes_stay_codes():
    from ragkit.text import content_terms, name_like_words, named_years, period_years

    assert period_years("FY2018 FY18 fy'19 3Q19 1H2020 Q3'21 CY2020") == "2018 2018 2019 2019 2020 2021 2020"
    assert period_years("the Q400 aircraft, the H150 pump, H2O, Q3 results") == \
        "the Q400 aircraft, the H150 pump, H2O, Q3 results"
    question = "What is the FY2018 capital expenditure amount (in USD millions) for 3M?"
    assert named_years(question) == ["2018"] and "FY2018" not in name_like_words(question)
    assert "2018" in content_terms(question) and "fy2018" not in content_terms(question)
    assert name_like_words("What was revenue in Q3 of FY19?") == ["2019"]  # a quarter of a named year
    assert "Q3" in name_like_words("What is the price of the Audi Q3?")  # no year: a name, checked


def test_units_and_acronyms_the_question_defines_are_not_names():
    from ragkit.text import defines_acronym, name_like_words

    assert name_like_words("What is the capex (in USD millions) for 3M?") == ["3M"]
    question = "What is the FY2017 return on assets (ROA) for Coca Cola? ROA is net income / total assets."
    assert name_like_words(question) == ["2017", "Coca", "Cola"]
    assert defines_acronym("earnings before interest and taxes (EBIT)", "EBIT")
    assert not defines_acronym("What is the ROA of Acme?", "ROA")  # used, not defined: still checked
    assert name_like_words("What is the ROA of Acme?") == ["ROA", "Acme"]
    assert name_like_words("What is the turbine entry temperature, in degrees Celsius?") == []


def test_a_question_about_a_fiscal_year_is_answered_from_the_report_that_says_the_year(kb_factory, tmp_path):
    folder = tmp_path / "filings"
    folder.mkdir()
    for year in (2017, 2018, 2019):
        (folder / f"acme-10k-{year}.txt").write_text(
            f"Acme annual report {year}.\n\nCapital expenditures in fiscal {year} were {year - 1900} million USD.\n")
    kb = kb_factory("fiscal")
    kb.ingest([folder])
    answer = kb.ask("What was Acme's FY2018 capital expenditure (in USD millions)?")
    assert not answer.refused, answer.warnings  # neither "FY2018" nor "USD" is a name the filings lack
    assert "118 million" in answer.text
    assert kb.ask("What was Acme's FY2022 capital expenditure?").refused  # a year no filing mentions


def test_a_year_the_matching_documents_never_mention_is_refused(kb_factory, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    for year in range(2006, 2018):  # more matching reports than the check reads (MATCHING_DEPTH)
        (folder / f"acme-annual-report-{year}.txt").write_text(
            f"Acme annual report {year}.\n\nIn {year} Acme's revenue was {year - 1990} million EUR.\n")
    for week in range(15):  # 2021 is common in the collection, but only on menus
        (folder / f"menu-{week:02d}.txt").write_text(f"Cafeteria menu, week {week} of 2021.\n\nSoup and a salad bar.\n")
    kb = kb_factory("years")
    kb.ingest([folder])
    assert not kb.ask("What was Acme's revenue in 2012?").refused
    answer = kb.ask("What was Acme's revenue in 2021?")  # the reports that match never say 2021
    assert answer.refused, answer.text
    assert any("never mention 2021" in w for w in answer.warnings), answer.warnings
    # a year in the file name counts: the report is about that year even if no sentence says so
    (folder / "initech-results-2022.txt").write_text("Initech results.\n\nInitech's revenue was 40 million EUR.\n")
    kb.ingest([folder])
    assert not kb.ask("What was Initech's revenue in 2022?").refused


@pytest.mark.parametrize("sentence", [
    "At the end of World War I, the Rhineland was subject to the Treaty of Versailles.",
    "The harbour was closed during the siege.",
    "Immunodeficiency occurs when the immune system is less active than normal.",
])
def test_a_time_told_by_an_event_or_a_condition_answers_when(sentence):
    assert expected_kind("When was the Rhineland subject to the Treaty of Versailles?") == "date"
    assert holds(sentence, "date")


def test_a_sentence_without_any_time_does_not_answer_when():
    assert not holds("The Rhineland was subject to the Treaty of Versailles.", "date")
    assert not holds("Immunodeficiency is common when untreated.", "date")


@pytest.mark.parametrize("row, header, kind, expected", [
    ("Zephyr probe | 129 | 14", "Item | Price | Stock", "price", True),
    ("Zephyr probe | 129 | 14", "Item | Unit cost (EUR) | Stock", "price", True),
    ("Zephyr probe | 1.2 | 14", "Item | Weight (kg) | Stock", "weight", True),
    ("Nordics | 41 | 2019", "Region | Share % | Year", "percentage", True),
    ("Zephyr probe | n/a | 14", "Item | Price | Stock", "price", False),  # no number under Price
    ("Zephyr probe | 14 | B3", "Item | Stock | Shelf", "price", False),  # numbers, but no price column
    ("Zephyr probe | WS-200 | 14", "Item | Price | Stock", "price", False),  # a product code is no amount
    ("Zephyr probe | 129", "Item | Price | Stock", "price", False),  # cells do not line up
    ("Zephyr probe | 129 | 14", "Item | Price | Stock", "date", False),  # only amounts are read by column
    ("The probe costs 129.", "Item | Price", "price", False),  # not a row
])
def test_a_table_row_holds_a_kind_under_a_column_that_names_it(row, header, kind, expected):
    assert holds_in_column(row, header, kind) is expected


def test_a_row_under_a_price_column_covers_the_questions_own_word_for_price():
    header, row = "Item | Price | Stock", "Solar panel | 149 | 20"
    assert kind_words(row, "How much does the solar panel cost?", header) == "cost"
    assert kind_words(row, "What fees apply to the solar panel?", header) == "fees"
    assert kind_words(row, "How much does the solar panel cost?") == ""  # no header: not read by column
    assert kind_words("Solar panel | 14 | 20", "How much does the solar panel cost?", "Item | Stock | Shelf") == ""
