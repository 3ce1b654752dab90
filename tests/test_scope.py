"""Documents a question names (ragkit/query/scope.py): the pure rules, then retrieval over a folder
of lookalike annual reports where only the document tells the right page from the wrong one."""

from __future__ import annotations

from ragkit import KnowledgeBase
from ragkit.query.scope import infer_scope

LABELS = {f"/{company.lower()}-{year}": f"{company} annual report {year}"
          for company in ("Acme", "Globex", "Initech", "Hooli") for year in (2018, 2019)} | {"/charter": "Board charter"}


def test_a_year_and_a_company_name_one_report():
    scope = infer_scope("What was Acme's operating cash flow in 2019?", LABELS)
    assert scope is not None and scope.paths == ("/acme-2019",)
    assert "2019" in scope.because and "Acme" in scope.because


def test_a_fiscal_year_names_its_year():
    assert infer_scope("What was Acme's FY2019 operating cash flow?", LABELS).paths == ("/acme-2019",)
    assert infer_scope("What was Globex revenue in FY18?", LABELS).paths == ("/globex-2018",)


def test_two_names_widen_and_undated_documents_stay_for_a_year_alone():
    assert infer_scope("Compare Acme and Globex revenue in 2018", LABELS).paths == ("/acme-2018", "/globex-2018")
    assert "/charter" in infer_scope("What did the 2019 reports say about risk?", LABELS).paths


def test_nothing_is_inferred_without_an_explicit_year_that_labels_carry():
    assert infer_scope("What was Acme's operating cash flow?", LABELS) is None  # a name alone
    assert infer_scope("What happened in 2007?", LABELS) is None  # no label has that year
    assert infer_scope("What is the total revenue?", LABELS) is None
    undated = {"/manual": "WS-200 user manual", "/warranty": "Warranty and returns"}
    assert infer_scope("How long is the WS-200 warranty in 2019?", undated) is None


def _report(company: str, year: int, cash: int) -> str:
    return (f"# Annual report\n\nThis report covers the financial year. Revenue grew and margins held.\n\n"
            f"## Cash flow statement\n\nNet cash from operating activities was {cash} million EUR, "
            f"driven by working capital.\n\n## Outlook\n\nThe board expects steady demand.\n")


def test_retrieval_searches_only_the_named_report_and_says_so(tmp_path):
    docs = tmp_path / "reports"
    docs.mkdir()
    cash = {}
    for i, (company, year) in enumerate((c, y) for c in ("Acme", "Globex", "Initech", "Hooli") for y in (2018, 2019)):
        cash[(company, year)] = 100 + 7 * i
        (docs / f"{company.lower()}-annual-report-{year}.md").write_text(_report(company, year, cash[(company, year)]))
    with KnowledgeBase(tmp_path / "kb", infer_scope=True) as kb:
        kb.ingest([docs])
        question = "What was Acme's net cash from operating activities in 2019?"
        result = kb.search(question, k=3)
        assert result.scope and "2019" in result.scope and "Acme" in result.scope
        assert {hit.source for hit in result.hits} == {"acme-annual-report-2019.md"}
        answer = kb.ask(question)
        assert str(cash[("Acme", 2019)]) in answer.text
        assert any("searched only the documents the question names" in w for w in answer.warnings)
        assert kb.search("What was the net cash from operating activities?").scope is None
        # A filter the caller gives wins over anything inferred.
        from ragkit.models import Filters
        filtered = kb.search(question, filters=Filters(sources=("hooli-*",)))
        assert filtered.scope is None and {h.source for h in filtered.hits} <= {"hooli-annual-report-2018.md",
                                                                                 "hooli-annual-report-2019.md"}
    with KnowledgeBase(tmp_path / "kb") as kb:  # off by default
        assert kb.search("What was Acme's net cash from operating activities in 2019?").scope is None
