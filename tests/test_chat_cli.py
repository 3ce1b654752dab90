"""``ragkit chat`` driven through the Typer app with typed lines of input."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from conftest import CORPUS
from ragkit.cli import app
from ragkit.conversations import ThreadStore

runner = CliRunner()
DOCUMENTS = ("warranty-and-returns.docx", "support-faq.txt", "ws200-user-manual.pdf", "firmware-release-notes.md")


@pytest.fixture(scope="module")
def small_kb(tmp_path_factory, embedder):
    """Four sample documents, ingested once; each test chats in its own copy."""
    from ragkit import KnowledgeBase

    home = tmp_path_factory.mktemp("chat") / "kb"
    with KnowledgeBase(home, embedder=embedder) as kb:
        assert kb.ingest([CORPUS / name for name in DOCUMENTS]).ok
    return home


@pytest.fixture
def home(small_kb, tmp_path):
    return shutil.copytree(small_kb, tmp_path / "kb")


def chat(home, *lines: str, options: tuple[str, ...] = ()):
    return runner.invoke(app, ["chat", "--home", str(home), "--no-stream", *options], input="".join(f"{line}\n" for line in lines))


def test_a_conversation_with_follow_ups_citations_and_commands(home):
    result = chat(home, "How long is the warranty on the WS-200 sensor array?", "and how do I return it?",
                  "/sources", "/open 1", "/open 7", "/open x", "/threads", "/bogus", "/help", "/quit")
    out = result.output
    assert result.exit_code == 0, out
    assert "3 years" in out and "[1] warranty-and-returns.docx" in out
    assert "searched: how do I return the WS-200 sensor array?" in out
    assert "RMA number" in out
    assert "*[1]" in out  # /sources marks the cited passages
    assert "the last answer has no citation [7]" in out and "usage: /open N" in out
    assert "2 turns  How long is the warranty on the WS-200 sensor array?" in out
    assert "unknown command /bogus" in out and "/threads   the threads" in out
    with ThreadStore.for_home(home) as store:
        (thread,) = store.list_threads()
        assert [m.content for m in store.messages(thread.id)][::2] == [
            "How long is the warranty on the WS-200 sensor array?", "and how do I return it?"]
    assert f"continue with --thread {thread.id}" in out


def test_open_shows_the_whole_cited_passage(home):
    out = chat(home, "What does error code E42 mean?", "/open 1").output
    passage = out.split("you> ")[-2]  # what /open printed, before the last (empty) prompt
    assert "ws200-user-manual.pdf, page 4" in passage
    assert "Clean the rain gauge funnel every three months" in passage  # the passage, not only the quote
    assert "E42" in passage


def test_history_is_kept_across_runs_and_thread_resumes(home):
    first = chat(home, "What does error code E42 mean?")  # ends at end of input, like Ctrl-D
    assert first.exit_code == 0 and "anemometer" in first.output
    resumed = chat(home, "/sources", "And the other one?", options=("--thread", "last"))
    out = resumed.output
    assert resumed.exit_code == 0, out
    assert "you> What does error code E42 mean?" in out  # the end of the thread is shown again
    assert "ws200-user-manual.pdf, page 4" in out.split("searched:")[0]  # /sources of the stored answer
    assert "searched: What does error code E17 mean?" in out and "15 minutes" in out
    with ThreadStore.for_home(home) as store:
        (thread,) = store.list_threads()
        assert thread.messages == 4
    again = chat(home, "/new", "What is the MQTT port?", "/threads", options=("--thread", thread.id[:4]))
    assert again.exit_code == 0 and "new thread" in again.output
    with ThreadStore.for_home(home) as store:
        assert len(store.list_threads()) == 2


def test_bad_threads_are_usage_errors(home):
    missing = chat(home, "/quit", options=("--thread", "nope"))
    assert missing.exit_code == 2 and "no conversation thread 'nope'" in missing.output
    empty = chat(home, "/quit", options=("--thread", "last"))
    assert empty.exit_code == 2 and "no threads in collection" in empty.output


def test_agent_mode_with_a_tool_calling_model(home, llm):
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "search_documents", "arguments": {"query": "MQTT export port"}}]},
        {"content": "The MQTT export connects on port 1883 [1]."},
    ])
    result = chat(home, "What port does the MQTT export use?",
                  options=("--agent", "--base-url", llm.url, "--model", "tool-model"))
    assert result.exit_code == 0, result.output
    assert "port 1883 [1]" in result.output and "[1] firmware-release-notes.md" in result.output
    assert "agent" in result.output.splitlines()[0]
    llm.state.reject_tools = True
    fallback = chat(home, "What port does the MQTT export use?",
                    options=("--agent", "--base-url", llm.url, "--model", "tool-model"))
    assert fallback.exit_code == 0 and "cannot use tools" in fallback.output and "1883" in fallback.output


def test_streamed_answers_are_printed_as_they_come(home, llm):
    llm.state.tool_script.extend([{"content": "The MQTT export uses port 1883 by default [1]."},
                                  {"content": "Which firmware version added the MQTT export?"}])
    result = chat(home, "What is the MQTT port?", "and which version added it?",
                  options=("--stream", "--base-url", llm.url, "--model", "test-model"))
    assert result.exit_code == 0, result.output
    assert "ragkit> The MQTT export uses port 1883 by default [1]." in result.output
    assert "searched: Which firmware version added the MQTT export?" in result.output
    answer, condense, follow_up = (r["body"] for r in llm.chat_requests())
    assert answer.get("stream") and follow_up.get("stream") and not condense.get("stream")
    assert "Last message: and which version added it?" in condense["messages"][-1]["content"]
    assert "Question: Which firmware version added the MQTT export?" in follow_up["messages"][-1]["content"]
