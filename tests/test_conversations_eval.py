"""The follow-up quality gate: on the sample corpus, follow-ups as ragkit rewrites them (offline)
retrieve at least 90% as well as the same questions written out in full."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT
from ragkit.conversations import ThreadStore
from ragkit.errors import GoldSetError
from ragkit.eval.conversations import evaluate_conversations, load_conversations, main

CONVERSATIONS = ROOT / "corpora" / "halvard.conversations.jsonl"


def test_follow_ups_retrieve_nearly_as_well_as_full_questions(halvard_kb, tmp_path, capsys):
    conversations = load_conversations(CONVERSATIONS)
    assert len(conversations) >= 20 and all(2 <= len(c.turns) <= 4 for c in conversations)
    with ThreadStore(tmp_path / "threads.sqlite") as store:
        report = evaluate_conversations(halvard_kb, conversations, k=5, store=store, echo=True)
        assert len(store.list_threads()) == len(conversations)  # each conversation played as one thread
    summary = report.summary()
    print(json.dumps(summary, indent=2))
    assert summary["follow_ups"] == sum(len(c.turns) - 1 for c in conversations)
    assert report.ratio >= 0.9, report.render()
    # the rewriting is what closes the gap: follow-ups searched as typed do clearly worse
    assert summary["raw_mrr"] < summary["rewritten_mrr"] - 0.1
    assert summary["rewritten_changed"] >= 0.8 * summary["follow_ups"]
    assert "ratio (rewritten / full)" in capsys.readouterr().out


def test_malformed_conversation_files_are_reported(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "x", "turns": [{"question": "q", "standalone": "q", "sources": []}]}\n')
    with pytest.raises(GoldSetError, match="bad.jsonl:1"):
        load_conversations(path)
    path.write_text("\n")
    with pytest.raises(GoldSetError, match="no conversations"):
        load_conversations(path)


def test_the_module_prints_the_figures(halvard_kb, tmp_path, capsys):
    one = tmp_path / "one.jsonl"
    one.write_text(CONVERSATIONS.read_text(encoding="utf-8").splitlines()[2] + "\n", encoding="utf-8")
    assert main([str(one), "--home", str(halvard_kb.home), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["summary"]["conversations"] == 1 and printed["turns"][1]["rewritten"] == "What does error code E17 mean?"
    assert not (halvard_kb.home / "conversations.sqlite").exists()


def test_the_chat_model_can_condense_and_its_fallbacks_are_counted(halvard_kb, llm, tmp_path, capsys):
    one = tmp_path / "one.jsonl"
    one.write_text(CONVERSATIONS.read_text(encoding="utf-8").splitlines()[2] + "\n", encoding="utf-8")
    llm.state.tool_script.append({"content": "Standalone question: What does error code E17 mean?"})
    llm.state.faults.extend([("delay", 0), ("status", 400)])  # the second condense fails
    assert main([str(one), "--home", str(halvard_kb.home), "--base-url", llm.url, "--model", "condenser",
                 "--generator", "extractive", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    first, second, third = printed["turns"]
    assert second["rewritten"] == "What does error code E17 mean?" and second["method"] == "model"
    assert third["method"] != "model" and "offline rewrite" in third["notices"][0]
    assert printed["summary"]["condensed_by_model"] == 1 and printed["summary"]["condense_fallbacks"] == 1
    # only the follow-ups went to the model: the answers were extractive
    assert [r["body"]["model"] for r in llm.chat_requests()] == ["condenser", "condenser"]
