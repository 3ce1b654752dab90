"""The Python API's side of conversations: kb.chat() starts a thread, kb.ask(thread=) continues it,
and `ragkit ask --agent` answers (falling back with a notice when no chat model can use tools)."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from conftest import CORPUS
from ragkit.cli import app


def test_ask_with_a_thread_continues_the_conversation(tmp_path, kb_factory):
    docs = tmp_path / "docs"
    shutil.copytree(CORPUS, docs)
    kb = kb_factory()
    assert kb.ingest([docs]).ok
    with kb.chat() as session:
        first = session.ask("How long is the warranty on the WS-200 sensor array?")
        thread = first.thread_id
    follow_up = kb.ask("and how do I return it?", thread=thread)
    assert "WS-200" in follow_up.question  # searched as a standalone question
    assert "RMA" in follow_up.text
    with kb.chat(thread) as session:
        assert len(session.store.messages(thread)) == 4


def test_ask_agent_without_a_chat_model_falls_back_with_a_notice(halvard_kb):
    result = CliRunner().invoke(app, ["ask", "What does error code E42 mean?", "--agent", "--home",
                                      str(halvard_kb.home), "--no-stream"])
    assert result.exit_code == 0, result.output
    assert "anemometer" in result.output
