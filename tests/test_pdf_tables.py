"""Tables of figures in PDFs (ingest/loaders/pdf_tables.py, ragkit.text.figure_tables): a table
that fits in a chunk stays in one chunk with its header line, and the chunks of a longer table
are retrieved with that header."""

from __future__ import annotations

import pytest
from factories import make_pdf
from ingest.loaders import load_file
from ingest.loaders.pdf_tables import separate_tables
from ingest.split import SplitConfig, split_document
from ragkit.text import figure_tables, header_above, is_figure_row

PROSE = ("The survey was run in the spring in four regions. Each region reported its results to the "
         "central office, which checked them against the previous year before publishing them. ") * 3


def _chunks(path, size=120):
    doc = load_file(path)
    return doc, split_document(doc, source=path.name, path=str(path), file_sha256="x" * 64,
                               config=SplitConfig(size, 20))


def test_rows_of_figures_are_told_from_prose():
    assert is_figure_row("InstructGPT 53.6(-) 54.6(-) 57.2(-) 60.1(-)")
    assert is_figure_row("Germany 28 150 12%")
    assert is_figure_row("GPT-4 - - 57.8 - - 59.3")
    assert not is_figure_row("The WS-200 weather station has three sensors and one display.")
    assert not is_figure_row("Table 3: Overall results of 5 methods")
    text = "Intro.\nRegion Q1 Q2 Q3\nNorth 12 14 15\nSouth 9 11 10\nEast 7 8 9\nThe end, 2019 and 2020."
    (start, end), = figure_tables(text)
    assert text[start:end] == "North 12 14 15\nSouth 9 11 10\nEast 7 8 9"
    assert header_above(text, text.index("South")) == "Region Q1 Q2 Q3"
    assert header_above(text, text.index("The end")) is None
    assert figure_tables("North 12 14 15\nSouth 9 11 10") == []  # two rows are not yet a table


def test_a_table_is_set_apart_with_its_header_line():
    text = "Intro line.\nRegion Q1 Q2\nNorth 12 14\nSouth 9 11\nEast 7 8\nClosing line."
    assert separate_tables(text) == "Intro line.\n\nRegion Q1 Q2\nNorth 12 14\nSouth 9 11\nEast 7 8\n\nClosing line."
    assert separate_tables("No table here.\nJust text.") == "No table here.\nJust text."


def test_a_short_table_stays_in_one_chunk_and_a_long_one_repeats_its_header(tmp_path):
    short = [f"Region{i} {10 + i} {20 + i} {30 + i}" for i in range(6)]
    long = [f"Site{i} {100 + i} {200 + i} {300 + i} {400 + i}" for i in range(70)]
    path = make_pdf(tmp_path / "report.pdf", [
        PROSE + "\nRegion Q1 Q2 Q3\n" + "\n".join(short) + "\n" + PROSE,
        "Sites by quarter:\nSite Jan Feb Mar Apr\n" + "\n".join(long),
    ])
    doc, chunks = _chunks(path)
    for chunk in chunks:
        assert chunk.text == doc.texts[chunk.page][chunk.start:chunk.end]
    holding = [c for c in chunks if "Region0" in c.text]
    assert len(holding) == 1 and all(row in holding[0].text for row in short)
    assert "Region Q1 Q2 Q3" in holding[0].text
    later = [c for c in chunks if c.page == 2 and is_figure_row(c.text.splitlines()[0]) and "Jan" not in c.text]
    assert len(later) >= 2
    for chunk in later:
        assert chunk.context.endswith("Site Jan Feb Mar Apr")
        for line in chunk.text.splitlines():
            assert is_figure_row(line)  # rows are never cut


@pytest.mark.slow
def test_a_results_table_of_a_real_paper_is_kept_with_its_header():
    """Table 3 of an MMLongBench paper (page 9): one paragraph headed by its column line."""
    from conftest import shared_dir
    from ingest.loaders import LoadOptions, load_file

    path = shared_dir("pdf-qa", "mmlongbench-doc-dev", "docs", "2303.08559v2.pdf")
    doc = load_file(path, LoadOptions(ocr=False))
    page = doc.texts[9]
    blocks = figure_tables(page)
    assert blocks, "the results table of page 9 is found"
    start, end = blocks[0]
    assert page[start:end].startswith("LLMCODEX 53.8(0.5)")
    assert header_above(page, page.index("InstructGPT 53.6")) == \
        "5-shot 10-shot 20-shot 20-shot 50-shot 100-shot 5-shot 10-shot 20-shot"
    paragraph_start = page.rfind("\n\n", 0, start)
    assert page[paragraph_start:start].strip() == "5-shot 10-shot 20-shot 20-shot 50-shot 100-shot 5-shot 10-shot 20-shot"


def test_table_spans_name_each_tables_rows_and_header_once():
    from ragkit.text import table_spans

    text = ("Intro.\nA | B\n1 | 2\n3 | 4\nMiddle text.\n\nRegion Q1 Q2\nNorth 1 2\nSouth 3 4\nEast 5 6\nEnd.")
    spans = table_spans(text)
    assert [(text[s:e], header) for s, e, header in spans] == [
        ("1 | 2\n3 | 4", "A | B"), ("North 1 2\nSouth 3 4\nEast 5 6", "Region Q1 Q2")]
    for start, _end, header in spans:
        assert header_above(text, start, spans) == header == header_above(text, start)
    assert header_above(text, text.index("A | B"), spans) is None  # the header row itself
    assert header_above(text, text.index("End."), spans) is None


def test_a_row_of_years_under_a_title_is_the_tables_header():
    from ragkit.text import is_year_row, table_spans

    assert is_year_row("2019 2018") and is_year_row("EUR million (2020) (2019)")
    assert not is_year_row("Revenue 2019 120") and not is_year_row("North 12 14")
    text = "Income statement (EUR million)\n2019 2018\nRevenue 120 110\nCosts 80 75\nProfit 40 35\nEnd."
    [(start, end, header)] = table_spans(text)
    assert text[start:end] == "Revenue 120 110\nCosts 80 75\nProfit 40 35"
    assert header == "Income statement (EUR million) 2019 2018"
    assert header_above(text, text.index("Costs")) == header
    # without a title line, the years alone are the header
    assert header_above(text[text.index("2019"):], text[text.index("2019"):].index("Profit")) == "2019 2018"

