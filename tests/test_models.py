"""The records that cross the seams (ragkit/models.py): what each one derives from its fields.

Records are built by one layer and read by another, so these tests pin what the readers rely
on: the text a chunk is embedded and indexed as, what Chroma stores beside it, how a CLI filter
parses, how a surface turns settings into a search request, and what an answer reports.
"""

from __future__ import annotations

import pytest

from ragkit.config import load_settings
from ragkit.errors import UsageError
from ragkit.models import (
    Answer,
    Chunk,
    Citation,
    FileResult,
    Filters,
    IngestReport,
    SearchHit,
    SearchRequest,
    contextual_text,
    source_matches,
)


def _chunk(**changes) -> Chunk:
    fields = dict(id="c1", text="The hotel cap is 160 euros.", source="policies/Travel.PDF",
                  path="/d/policies/Travel.PDF", file_sha256="abc", page=3, section="Hotels", start=10, end=37, index=2, n_tokens=8,
                  context="Travel policy > Hotels", title="Travel policy")
    return Chunk(**{**fields, **changes})


def _hit(n: int) -> SearchHit:
    return SearchHit(rank=n, chunk_id=f"c{n}", text=f"text {n}", source=f"doc{n}.md", path=f"/d/doc{n}.md",
                     page=None, section="", start=0, end=6, score=1.0 / n)


@pytest.fixture(autouse=True)
def empty_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray ragkit.toml in settings


def test_contextual_text_puts_the_context_line_first():
    assert contextual_text("body", "Doc > Section") == "Doc > Section\nbody"
    assert contextual_text("body", "") == "body"


def test_source_matches_the_relative_path_or_the_file_name():
    assert source_matches("reports/2019/annual.pdf", ["reports/*"])
    assert source_matches("reports/2019/annual.pdf", ["annual.*"])
    assert not source_matches("reports/2019/annual.pdf", ["*.docx", "budget*"])
    assert not source_matches("reports/2019/annual.pdf", [])


def test_a_chunk_is_embedded_with_its_context_but_quotes_only_its_text():
    chunk = _chunk()
    assert chunk.embed_text == "Travel policy > Hotels\nThe hotel cap is 160 euros."
    assert chunk.end - chunk.start == len(chunk.text)


def test_chunk_file_type_is_the_lowercased_extension():
    assert _chunk().file_type == "pdf"
    assert _chunk(source="README").file_type == ""


def test_chunk_metadata_is_what_the_store_and_filters_read():
    meta = _chunk().metadata()
    assert meta["file_type"] == "pdf" and meta["page"] == 3 and meta["chunk_index"] == 2
    assert meta["context"] == "Travel policy > Hotels" and meta["title"] == "Travel policy"
    assert meta["ocr"] is None  # Chroma drops None: only OCRed chunks carry the flag
    assert _chunk(ocr=True).metadata()["ocr"] is True


def test_an_ingest_report_counts_statuses_and_sums_loader_stats():
    report = IngestReport("docs", files=[
        FileResult("/d/a.pdf", "a.pdf", "added", chunks=4, stats={"ocr_pages": 2, "furniture_lines": 5}),
        FileResult("/d/b.pdf", "b.pdf", "added", stats={"ocr_pages": 1}),
        FileResult("/d/c.txt", "c.txt", "unchanged"),
    ], chunks_added=4, seconds=1.23456)

    assert report.ok
    summary = report.summary()
    assert (summary["added"], summary["unchanged"], summary["failed"]) == (2, 1, 0)
    assert (summary["ocr_pages"], summary["furniture_lines"], summary["seconds"]) == (3, 5, 1.235)
    payload = report.to_dict()
    assert payload["collection"] == "docs" and payload["files"][0]["chunks"] == 4

    report.files.append(FileResult("/d/d.pdf", "d.pdf", "failed", reason="encrypted"))
    assert not report.ok and report.count("failed") == 1


def test_filters_parse_cli_expressions():
    filters = Filters.parse(["source=reports/*", "type=PDF, .docx", "page=2-5"])
    assert filters == Filters(("reports/*",), ("pdf", "docx"), 2, 5)
    assert filters.active
    assert (Filters.parse(["page=3"]).page_min, Filters.parse(["page=3"]).page_max) == (3, 3)
    assert (Filters.parse(["page=4-"]).page_min, Filters.parse(["page=4-"]).page_max) == (4, None)
    assert not Filters().active
    assert Filters(paths=()).active  # an empty allow-list still filters (to nothing)


@pytest.mark.parametrize("expression, says", [
    ("source", "must look like"),
    ("page=", "must look like"),
    ("page=two", "page must be N or N-M"),
    ("colour=red", "unknown filter key 'colour'"),
    ("page=5-2", "runs backwards; write page=2-5"),
])
def test_bad_filters_are_usage_errors(expression, says):
    with pytest.raises(UsageError, match=says):
        Filters.parse([expression])


def test_a_search_request_takes_the_settings_and_per_call_overrides():
    settings = load_settings(top_k=7, mode="bm25", fusion="rrf", alpha=0.3, reranker="proximity", mmr=True)

    request = SearchRequest.from_settings(settings, "hotel cap", k=3, alpha=None)

    assert request.query == "hotel cap" and request.k == 3  # override
    assert request.alpha == 0.3  # None means: the setting
    assert (request.mode, request.fusion, request.rerank, request.mmr) == ("bm25", "rrf", True, True)
    assert not SearchRequest.from_settings(load_settings(), "q").rerank


def test_the_candidate_pool_is_at_least_fifty_and_four_times_k():
    assert SearchRequest("q", k=5).pool == 50
    assert SearchRequest("q", k=30).pool == 120
    assert SearchRequest("q", k=30, candidates=10).pool == 10


def test_an_answer_separates_its_preamble_and_lists_what_it_cites():
    sources = [_hit(1), _hit(2), _hit(3)]
    citation = Citation(n=2, source="doc2.md", page=None, chunk_id="c2", quote="text 2", quote_start=0, quote_end=6)
    answer = Answer(question="q", text="Extractive answer:\nThe cap is 160 [2].", citations=[citation],
                    sources=sources, refused=False, generator="extractive", preamble="Extractive answer:",
                    timings={"total": 0.1234567891})

    assert answer.body == "The cap is 160 [2]."
    assert answer.cited_sources == [sources[1]]
    payload = answer.to_dict()
    assert payload["answer"] == answer.text and payload["citations"][0]["chunk_id"] == "c2"
    assert payload["timings"] == {"total": 0.123457}
    assert len(payload["sources"]) == 3


def test_an_answer_without_preamble_is_its_own_body():
    answer = Answer(question="q", text="Plain.", citations=[], sources=[], refused=True, generator="openai")
    assert answer.body == "Plain." and answer.cited_sources == []
