"""``ragkit ask --batch``: concurrent answers in input order, 429s retried, bad input named."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ragkit.cli import app

runner = CliRunner()
QUESTIONS = [
    "What does error code E42 mean?",
    "How long is the warranty on the WS-200 sensor array?",
    "On which port does the MQTT export connect by default?",
    "What is the daily allowance for a business trip to Germany?",
    "Within how many days must expense claims be submitted?",
    "What is the capital of Australia?",
]


def test_batch_answers_concurrently_in_input_order_through_rate_limits(tmp_path, halvard_kb, llm, monkeypatch):
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"id": f"q{i}", "question": q}) + "\n" for i, q in enumerate(QUESTIONS)))
    llm.state.faults.extend([("status", 429), ("status", 429)])
    monkeypatch.setenv("RAGKIT_MAX_RETRIES", "3")
    result = runner.invoke(app, ["ask", "--batch", str(questions), "--home", str(halvard_kb.home),
                                 "--base-url", llm.url, "--model", "test-model", "--generator", "openai",
                                 "--concurrency", "4"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [r["id"] for r in rows] == [f"q{i}" for i in range(len(QUESTIONS))]
    assert [r["question"] for r in rows] == QUESTIONS
    assert all(r["generator"] == "openai" for r in rows if not r["refused"])
    assert "anemometer" in rows[0]["answer"]
    assert len(llm.chat_requests()) >= 2 + sum(1 for r in rows if not r["refused"])  # the 429s were retried


def test_batch_names_the_bad_line(tmp_path, halvard_kb):
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"question": "What does error code E42 mean?"}\n{"id": 2}\n')
    result = runner.invoke(app, ["ask", "--batch", str(questions), "--home", str(halvard_kb.home)])
    assert result.exit_code == 2 and "questions.jsonl:2" in result.output


def test_ask_many_keeps_order_and_isolates_failures(halvard_kb):
    answers = halvard_kb.ask_many(["What does error code E42 mean?", "  ", "What is the MQTT port?"], concurrency=3)
    assert "anemometer" in answers[0].text
    assert isinstance(answers[1], Exception) and "empty" in str(answers[1])
    assert "1883" in answers[2].text
