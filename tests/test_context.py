"""Context lines: what each chunk is part of, embedded and indexed but never quoted."""

from __future__ import annotations

from ingest.context import chunk_context, clean_title, document_title, first_line_title, readable_name
from ingest.loaders.base import LoadedDocument, Section


def test_readable_name_turns_file_names_into_words_and_drops_ids():
    assert readable_name("reports/acme_AnnualReport-2019.pdf") == "acme Annual Report 2019"
    assert readable_name("fdac8d1e9ef56519371df7e6532df27d.pdf") == ""
    assert readable_name("12345.pdf") == ""
    assert readable_name("ws200-user-manual.pdf") == "ws200 user manual"


def test_clean_title_rejects_placeholders_and_word_processor_names():
    assert clean_title("Microsoft Word - Budget 2024.docx") == "Budget 2024"
    assert clean_title("Untitled") == ""
    assert clean_title("   ") == ""
    assert clean_title("Annual Report 2019") == "Annual Report 2019"


def test_document_title_prefers_metadata_then_heading_then_first_pdf_line():
    heading = LoadedDocument(sections=[Section("Intro text", None, ("Warranty policy",), 0)])
    assert document_title(heading) == "Warranty policy"
    assert document_title(LoadedDocument(sections=heading.sections, title="Returns")) == "Returns"
    pdf = LoadedDocument(sections=[Section("ACME Corp Annual Report 2019\n$ 1,234 5,678\n", 1)])
    assert first_line_title(pdf) == "ACME Corp Annual Report 2019"
    numbers = LoadedDocument(sections=[Section("2019 2018 2017\n", 1)])
    assert document_title(numbers) == ""


def test_chunk_context_does_not_repeat_itself_and_stays_short():
    assert chunk_context("acme annual report 2019", "Annual Report 2019", ("Cash flows",)) == \
        "acme annual report 2019 > Cash flows"
    assert chunk_context("", "Employee Handbook", ("Employee Handbook", "Travel")) == "Employee Handbook > Travel"
    assert chunk_context("manual", "WS-200 Weather Station", ()) == "manual | WS-200 Weather Station"
    assert len(chunk_context("a " * 40, "", ()).split()) == 24


def test_chunks_carry_context_for_retrieval_but_quote_only_their_text(kb_factory, corpus_copy):
    kb = kb_factory(chunk_context=True)
    assert kb.ingest([corpus_copy]).ok
    rows = [(text, meta) for _, text, meta in kb.manifest.iter_chunks() if meta["source"] == "employee-handbook.docx"]
    # the file name ("employee handbook") is already in the title, so it is said once
    assert rows and all(meta["context"].startswith("Halvard Employee Handbook") for _, meta in rows)
    assert all(meta["title"] == "Halvard Employee Handbook" for _, meta in rows)
    allowance = next(meta for text, meta in rows if "Germany | 28 EUR" in text)
    assert "Daily allowances" in allowance["context"]
    answer = kb.ask("What is the daily allowance for a business trip to Germany?")
    assert answer.citations and all(c.quote in answer.sources[c.n - 1].text for c in answer.citations)
    assert not any("Halvard Employee Handbook >" in c.quote for c in answer.citations)


def test_a_collection_keeps_the_context_setting_it_was_built_with(kb_factory, corpus_copy):
    from ragkit.errors import ConfigError
    import pytest

    kb = kb_factory("plain", chunk_context=False)
    assert kb.ingest([corpus_copy]).ok
    assert all(meta["context"] == "" for _, _, meta in kb.manifest.iter_chunks())
    other = kb_factory("plain", chunk_context=True)
    with pytest.raises(ConfigError, match="chunk_context=False"):
        other.ingest([corpus_copy])
