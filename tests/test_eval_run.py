"""End-to-end evaluation on a tiny corpus with known expected scores, BEIR, compare and bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.errors import GoldSetError
from ragkit.eval.gold import load_beir, load_jsonl
from ragkit.eval.runner import compare_runs, evaluate

runner = CliRunner()


@pytest.fixture
def tiny(tmp_path, kb_factory):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "volcano.txt").write_text("Mount Etna is an active volcano on the island of Sicily. It erupts often.")
    (docs / "river.txt").write_text("The Danube river flows through ten countries before reaching the Black Sea.")
    (docs / "bread.txt").write_text("Sourdough bread is leavened by wild yeast and lactic acid bacteria.")
    gold = tmp_path / "gold.jsonl"
    rows = [
        {"id": "q1", "question": "Which island is Mount Etna on?", "answers": ["Sicily"], "sources": ["volcano.txt"]},
        {"id": "q2", "question": "Through how many countries does the Danube flow?", "answers": ["ten countries"],
         "sources": [{"file": "river.txt"}]},
        {"id": "q3", "question": "What leavens sourdough bread?", "answers": ["wild yeast"], "sources": ["bread.txt"]},
        {"id": "q4", "question": "Who won the 1998 FIFA World Cup final?", "answerable": False},
    ]
    gold.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    kb = kb_factory()
    kb.ingest([docs])
    return kb, gold


def test_end_to_end_scores_on_a_tiny_corpus(tiny, tmp_path):
    kb, gold = tiny
    run = evaluate(kb, load_jsonl(gold), ks=[1, 3])
    s = run.summary
    assert (s["questions"], s["answerable"], s["unanswerable"]) == (4, 3, 1)
    # One document per topic, unambiguous questions: every gold document ranks first.
    assert s["retrieval"]["hit@1"] == 1.0 and s["retrieval"]["mrr@10"] == 1.0 and s["retrieval"]["ndcg@10"] == 1.0
    assert s["answer"]["contains_gold"] == 1.0
    assert s["citations"]["validity"] == 1.0 and s["citations"]["precision"] == 1.0
    assert s["refusal"]["accuracy"] == 1.0 and s["refusal"]["false_refusal_rate"] == 0.0
    assert s["latency_ms"]["total"]["p50"] > 0
    assert s["judge"] == {"skipped": "not requested"}
    run.write(tmp_path / "run")
    assert {p.name for p in (tmp_path / "run").iterdir()} == {
        "summary.json", "results.jsonl", "report.md", "metrics_at_k.svg"}
    assert "![hit@k and recall@k](metrics_at_k.svg)" in (tmp_path / "run" / "report.md").read_text()
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["meta"]["collection_fingerprint"] == kb.fingerprint()
    assert saved["meta"]["config"]["top_k"] == kb.settings.top_k
    assert len((tmp_path / "run" / "results.jsonl").read_text().splitlines()) == 4


def test_judge_without_a_model_is_skipped_cleanly(tiny):
    kb, gold = tiny
    run = evaluate(kb, load_jsonl(gold), judge=True)
    assert run.summary["judge"] == {"skipped": "no chat model configured"}


def test_judge_with_a_model_counts_parse_failures(tiny, llm):
    kb, gold = tiny
    kb.settings = kb.settings.model_copy(update={"generator": "openai", "base_url": llm.url, "model": "judge-model"})
    run = evaluate(kb, load_jsonl(gold), judge=True)
    judge = run.summary["judge"]
    # The test server answers with prose, not JSON: every verdict is a counted parse failure.
    assert judge["judged"] == 0 and judge["parse_failures"] >= 1 and judge["faithfulness"] is None


def test_compare_reports_deltas_and_flipped_questions(tiny, tmp_path):
    kb, gold = tiny
    evaluate(kb, load_jsonl(gold)).write(tmp_path / "a")
    kb.settings = kb.settings.model_copy(update={"min_coverage": 1.01})  # no quote can cover more: all refused
    evaluate(kb, load_jsonl(gold)).write(tmp_path / "b")
    comparison = compare_runs(tmp_path / "a", tmp_path / "b")
    deltas = {key: delta for key, _, _, delta in comparison.deltas}
    assert deltas["refusal.false_refusal_rate"] == 1.0
    assert deltas["answer.contains_gold"] == -1.0
    hits = [key for key, *_ in comparison.deltas if key.startswith("retrieval.hit@")]
    assert hits == sorted(hits, key=lambda key: int(key.rsplit("@", 1)[1]))  # hit@3 before hit@10
    assert sorted(q for q, direction, _ in comparison.flipped if direction == "broken") == ["q1", "q2", "q3"]
    result = runner.invoke(app, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "3 question(s) flipped" in result.output and "broken" in result.output


def test_malformed_lines_are_reported_with_line_numbers(tmp_path):
    gold = tmp_path / "g.jsonl"
    gold.write_text('{"id": "ok", "question": "fine?"}\n{not json}\n{"id": "x"}\n\n{"id": "ok", "question": "dup"}\n')
    loaded = load_jsonl(gold)
    assert [i.id for i in loaded.items] == ["ok"]
    assert any(":2: invalid JSON" in p for p in loaded.problems)
    assert any(":3: question" in p for p in loaded.problems)
    assert any(":5: duplicate id" in p for p in loaded.problems)


def test_empty_gold_set_is_an_error(tmp_path):
    gold = tmp_path / "empty.jsonl"
    gold.write_text("\n")
    with pytest.raises(GoldSetError, match="no usable questions"):
        load_jsonl(gold)
    result = runner.invoke(app, ["eval", str(gold), "--home", str(tmp_path / "kb")])
    assert result.exit_code == 1 and "no usable questions" in result.output


def test_gold_sources_matching_no_document_are_warned(tiny, tmp_path):
    kb, _ = tiny
    gold = tmp_path / "g.jsonl"
    gold.write_text(json.dumps({"id": "q", "question": "Which island is Etna on?", "sources": ["missing.pdf"]}) + "\n")
    run = evaluate(kb, load_jsonl(gold), answers=False)
    assert any("missing.pdf" in w and "matches no document" in w for w in run.warnings)


def _write_beir(folder):
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "d1", "title": "Etna", "text": "Mount Etna is an active volcano in Sicily."},
        {"_id": "d2", "title": "Danube", "text": "The Danube flows into the Black Sea."},
        {"_id": "d3", "title": "Sourdough", "text": "Sourdough uses wild yeast."},
    ]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(c) for c in corpus))
    queries = [{"_id": "q1", "text": "volcano in Sicily"}, {"_id": "q2", "text": "river Black Sea"},
               {"_id": "q3", "text": "unjudged query"}]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td3\t0\nq2\td2\t1\n")


def test_beir_folder_loading(tmp_path):
    _write_beir(tmp_path / "beir")
    beir = load_beir(tmp_path / "beir")
    assert [d[0] for d in beir.corpus] == ["d1", "d2", "d3"]
    items = {i.id: i for i in beir.gold.items}
    assert set(items) == {"q1", "q2"}  # q3 has no judgements; grade-0 docs are not relevant
    assert [(s.file, s.grade) for s in items["q1"].sources] == [("d1", 2.0)]
    with pytest.raises(GoldSetError, match="missing"):
        load_beir(tmp_path)


def test_beir_command_ingests_records_and_scores_retrieval(tmp_path, embedder):
    _write_beir(tmp_path / "beir")
    result = runner.invoke(app, ["eval", "beir", str(tmp_path / "beir"), "--home", str(tmp_path / "kb"),
                                 "--json", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)["summary"]
    assert summary["retrieval"]["hit@1"] == 1.0 and summary["retrieval"]["ndcg@10"] == 1.0
    assert json.loads(result.output)["meta"]["collection"] == "beir-beir"
    # Re-running is incremental: the records are unchanged, nothing is embedded again.
    from ragkit import KnowledgeBase

    kb = KnowledgeBase(tmp_path / "kb", collection="beir-beir")
    assert kb.status().chunks == 3
    kb.close()


def test_eval_command_writes_a_run(tiny, tmp_path):
    kb, gold = tiny
    out = tmp_path / "runs" / "first"
    result = runner.invoke(app, ["eval", str(gold), "--home", str(kb.home), "--k", "1,5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "retrieval.hit@5" in result.output
    assert "| 5 |" in (out / "report.md").read_text()
    bad = runner.invoke(app, ["eval", str(gold), "--home", str(kb.home), "--k", "x"])
    assert bad.exit_code == 2 and "--k must be" in bad.output


def test_prepare_xquad_from_shared_data(tmp_path):
    from conftest import shared_dir

    source = shared_dir("qa", "xquad-en")
    result = runner.invoke(app, ["eval", "prepare", "xquad", str(source), str(tmp_path / "x"),
                                 "--unanswerable-from", f"hotpotqa:{shared_dir('qa', 'hotpotqa-100')}",
                                 "--unanswerable", "5"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "x" / "docs").iterdir())) == 240
    items = load_jsonl(tmp_path / "x" / "gold.jsonl").items
    assert len(items) == 1190 + 5 and sum(1 for i in items if not i.answerable) == 5
    first = items[0]
    doc = (tmp_path / "x" / "docs" / first.sources[0].file).read_text()
    assert first.answers[0] in doc  # gold answers are spans of the gold document


def test_a_chat_model_eval_runs_concurrently_and_keeps_the_gold_order(tiny, llm):
    kb, gold = tiny
    chat = kb.view(generator="openai", base_url=llm.url, model="test-model", concurrency=4)
    llm.state.faults.append(("status", 429))  # retried by the client, honouring Retry-After
    run = evaluate(chat, load_jsonl(gold))
    assert [r.id for r in run.results] == [item.id for item in load_jsonl(gold).items]
    answered = [r for r in run.results if not r.refused]
    assert answered and all(r.generator == "openai" for r in answered)
    assert run.results[0].contains == 1.0  # Sicily, answered by the model for q1, not another question
