"""Mastra (examples/mastra.mjs), run with Node against a real ``ragkit serve`` as its users run it:
``@mastra/core`` and ``@ai-sdk/openai`` at the versions examples/package-lock.json pins (installed by
tests/node_helpers.py), an ``Agent`` whose model is ``createOpenAI({ baseURL })``'s. The servers are
those of tests/test_examples.py: offline with API keys, and one whose chat model is the scripted
test server, which plays the model's tool calls.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT
from node_helpers import EXAMPLES, PINNED, questions, run_example
from test_examples import E42, SEARCH_E42, STATION_CALL, chat, citation, cite, offline  # noqa: F401

pytestmark = pytest.mark.timeout(600)
EXAMPLE = EXAMPLES / "mastra.mjs"
VERSION = json.loads(PINNED[0].read_text())["dependencies"]["@mastra/core"]


def test_mastra_offline_generate_and_a_streamed_follow_up(offline, tmp_path):
    out = run_example(EXAMPLE, offline, tmp_path, timeout=120)
    (how, first), (_, follow) = questions(out)
    assert how == "generate" and re.search(r"\(searched \[.*\], [1-9]\d* results\)", first)
    assert citation(first, "ws200-user-manual.pdf p.1", "CR123A lithium battery")
    assert "sources: ws200-user-manual.pdf" in first
    # the earlier turn went back as item references: the follow-up was searched with its subject
    searched = re.search(r"\(searched as: (.*)\)", follow).group(1)
    assert searched != "How long does it last?" and "WS-200" in searched
    assert citation(follow, "ws200-user-manual.pdf p.4", "battery lasts about two years")
    assert "skipping the function tool and structured output" in follow


def test_mastra_with_a_chat_model_runs_the_tool_streamed_or_not_and_answers_as_json(chat, llm, tmp_path):  # noqa: F811
    llm.state.tool_script.extend([STATION_CALL, SEARCH_E42, cite("E42", E42),  # agent.generate
                                  STATION_CALL, SEARCH_E42, cite("E42", E42)])  # agent.stream
    out = run_example(EXAMPLE, chat, tmp_path, timeout=120)
    assert not llm.state.tool_script
    part = dict(questions(out))
    assert "model test-model" in out and "sources: " in part["generate"]
    assert "(searched as: " in part["stream, follow-up"]
    for how in ("generate, tool", "stream, tool"):
        answer = part[how]
        assert '-> station_status({"station_id":"OSL-7"})' in answer
        assert re.search(r'A: OSL-7 reports E42: .*"battery":"81%"', answer)  # the function's output, used
        assert citation(answer, "ws200-user-manual.pdf p.4", "E42")
    report = json.loads(part["structuredOutput"].split("A: ", 1)[1])
    assert set(report) == {"error_code", "meaning"} and "E42" in report["meaning"]
    asked = llm.chat_requests()[-1]["body"]  # the JSON shape reached the model
    assert asked["response_format"]["type"] == "json_schema"


def test_the_mastra_example_is_documented():
    page = (ROOT / "docs" / "clients.md").read_text()
    assert "examples/mastra.mjs" in page and f"@mastra/core@{VERSION}" in page
    assert f"@mastra/core@{VERSION}" in EXAMPLE.read_text()  # the version a user installs is the tested one
