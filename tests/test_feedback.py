"""Ratings from the web page and their export as gold questions (real SQLite and PostgreSQL, real CLI).

The export must be exactly what ``ragkit eval`` reads: each file written here is loaded back with
the evaluator's own loader, and the CLI run's output is run by ``ragkit eval``.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import CORPUS
from server_helpers import ragkit
from state_backends import home_on_each_backend, state_url  # noqa: F401 - fixtures

from ragkit.eval.gold import load_jsonl
from ragkit.generators.extractive import PREFIX
from ragkit.server.config import ServerConfig
from ragkit.feedback import FeedbackStore, Rating, export, plain_answer

ANSWER = f"{PREFIX} The WS-200 sensor array has a 3 years warranty [1]. It covers defects [1, 2]."
CITED = [{"filename": "warranty-and-returns.docx", "page": None}, {"filename": "ws200-user-manual.pdf", "page": 2}]


def rate(store: FeedbackStore, question: str, rating: str, **extra) -> None:
    body = {"vector_store_id": "vs_1", "question": question, "answer": ANSWER, "rating": rating,
            "citations": CITED} | extra
    store.add(Rating.model_validate(body), "key_1", "tester")


@pytest.fixture
def store(home_on_each_backend) -> FeedbackStore:
    return FeedbackStore(ServerConfig(home=home_on_each_backend).server_dir)


def test_the_answer_without_markers_or_preface_is_the_gold_answer():
    assert plain_answer(ANSWER) == "The WS-200 sensor array has a 3 years warranty. It covers defects."
    assert plain_answer("Plain [3] text") == "Plain text"


def test_each_kind_of_rating_becomes_its_gold_question(store):
    rate(store, "How long is the WS-200 warranty?", "up")
    rate(store, "Is there a WS-900?", "up", answer="Not found in the documents.", refused=True, citations=[])
    rate(store, "What port does MQTT use?", "down", correction="8883", source_file="cloud-api-guide.md")
    rate(store, "Who founded Halvard?", "down", not_answerable=True)
    rate(store, "What colour is the case?", "down")  # says it is wrong, not what is right
    rate(store, "Which page shows the mast bracket?", "down", source_file="ws200-user-manual.pdf", source_page=2)
    items, skipped = export(store)
    by_question = {item.question: item for item in items}
    assert skipped == 1 and len(items) == 5
    up = by_question["How long is the WS-200 warranty?"]
    assert up.answers == [plain_answer(ANSWER)] and up.answerable
    assert [s.unit for s in up.sources] == ["warranty-and-returns.docx", "ws200-user-manual.pdf#p2"]
    refused = by_question["Is there a WS-900?"]
    assert not refused.answerable and refused.answers == [] and refused.sources == []
    corrected = by_question["What port does MQTT use?"]
    assert corrected.answers == ["8883"] and [s.unit for s in corrected.sources] == ["cloud-api-guide.md"]
    assert not by_question["Who founded Halvard?"].answerable
    source_only = by_question["Which page shows the mast bracket?"]
    assert source_only.answers == [] and [s.unit for s in source_only.sources] == ["ws200-user-manual.pdf#p2"]


def test_the_latest_rating_of_a_question_wins(store):
    rate(store, "How long is the WS-200 warranty?", "up")
    rate(store, "how long is the  WS-200 warranty?", "down", correction="Three years")
    items, _ = export(store)
    assert [(i.question, i.answers) for i in items] == [("how long is the  WS-200 warranty?", ["Three years"])]


def test_ratings_can_be_exported_per_vector_store(store):
    rate(store, "Question one?", "up")
    rate(store, "Question two?", "up", vector_store_id="vs_2")
    assert [i.question for i in export(store, "vs_2")[0]] == ["Question two?"]
    assert len(export(store)[0]) == 2


def test_bad_ratings_name_the_field():
    with pytest.raises(ValueError, match="rating"):
        Rating.model_validate({"question": "q", "answer": "a", "rating": "meh"})
    with pytest.raises(ValueError, match="question"):
        Rating.model_validate({"question": "", "answer": "a", "rating": "up"})
    with pytest.raises(ValueError, match="source_page"):
        Rating.model_validate({"question": "q", "answer": "a", "rating": "down", "source_page": 0})
    with pytest.raises(ValueError, match="surprise"):
        Rating.model_validate({"question": "q", "answer": "a", "rating": "up", "surprise": 1})


def test_cli_export_writes_gold_that_eval_runs(tmp_path):
    home = tmp_path / "home"
    store = FeedbackStore(ServerConfig(home=home).server_dir)
    rate(store, "How long is the warranty on the WS-200 sensor array?", "up")
    rate(store, "What is the price of the WS-900 in France?", "down", not_answerable=True)
    rate(store, "What colour is the case?", "down")
    out = tmp_path / "gold.jsonl"
    done = ragkit("feedback", "export", "--out", str(out), home=home)
    assert "wrote 2 gold question(s)" in done.stdout and "(1 unanswerable)" in done.stdout
    assert "skipped 1 thumbs down" in done.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {tuple(sorted(line)) for line in lines} == {("answerable", "answers", "id", "question", "sources")}
    assert len(load_jsonl(out).items) == 2 and not load_jsonl(out).problems

    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("warranty-and-returns.docx", "ws200-user-manual.pdf"):
        shutil.copy(CORPUS / name, docs / name)
    run = ragkit("eval", str(out), "--ingest", str(docs), "--out", str(tmp_path / "run"), home=tmp_path / "eval")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())["summary"]
    assert summary["questions"] == 2 and summary["unanswerable"] == 1, run.stdout
    assert summary["retrieval"]["hit@5"] == 1.0  # the approved answer's cited files are found
    assert summary["refusal"]["accuracy"] == 1.0 and summary["answer"]["f1"] > 0


def test_cli_export_without_ratings_fails_clearly(tmp_path):
    done = ragkit("feedback", "export", "--out", str(tmp_path / "gold.jsonl"), home=tmp_path / "home", check=False)
    assert done.returncode == 1 and "no rated questions to export" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "gold.jsonl").exists()
