"""LangChain.js (examples/langchain.mjs), run with Node against a real ``ragkit serve`` as its
users run it: ``@langchain/openai`` at the version examples/package-lock.json pins (installed by
tests/node_helpers.py), ``ChatOpenAI`` and ``OpenAIEmbeddings`` with ``configuration: { baseURL }``.
The servers are those of tests/test_examples.py: offline with API keys, and one whose chat model
is the scripted test server, which plays the model's tool calls.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT
from node_helpers import EXAMPLES, PINNED, questions, run_example
from test_examples import E42, SEARCH_E42, STATION_CALL, chat, citation, cite, offline  # noqa: F401

pytestmark = pytest.mark.timeout(600)
EXAMPLE = EXAMPLES / "langchain.mjs"
VERSION = json.loads(PINNED[0].read_text())["dependencies"]["@langchain/openai"]


def test_langchain_js_offline_chat_completions_responses_and_embeddings(offline, tmp_path):
    out = run_example(EXAMPLE, offline, tmp_path)
    (_, chat), (_, follow), (_, responses), (_, lasts) = questions(out)
    assert citation(chat, "ws200-user-manual.pdf p.4", "E42 means the anemometer cable is disconnected")
    assert citation(follow, "ws200-user-manual.pdf p.4", "E42")  # the history made the follow-up standalone
    assert "skipping bindTools" in follow
    assert citation(responses, "ws200-user-manual.pdf p.1", "CR123A lithium battery")
    searched = re.search(r"\(searched \[\"(.*)\"\]\)", lasts).group(1)
    assert searched != "How long does it last?" and "WS-200" in searched  # previous_response_id
    assert citation(lasts, "ws200-user-manual.pdf p.4", "battery lasts about two years")
    assert re.search(r"embeddings: 2 texts, 384 dimensions\n\s+0\.\d+\s+Hold the SYNC", out)


def test_langchain_js_bind_tools_with_a_chat_model(chat, llm, tmp_path):  # noqa: F811
    """Only the bindTools request offers tools: the others are answered over the store by the
    test model's deterministic answer."""
    llm.state.tool_script.extend([STATION_CALL, SEARCH_E42, cite("E42", E42)])
    out = run_example(EXAMPLE, chat, tmp_path)
    assert not llm.state.tool_script
    part = dict(questions(out))
    assert citation(part["chat completions"], "ws200-user-manual.pdf p.4", "E42")
    function = part["bindTools"]
    assert '-> station_status({"station_id":"OSL-7"})' in function
    assert re.search(r'A: OSL-7 reports E42: .*"battery":"81%"', function)  # the ToolMessage, used
    assert citation(function, "ws200-user-manual.pdf p.4", "E42")
    offered = [{t["function"]["name"] for t in r["body"].get("tools") or []} for r in llm.chat_requests()]
    assert {"file_search", "station_status"} in offered
    assert re.search(r"\[\d+\] \S+( p\.\d+)?: ", part["Responses, file_search"])


def test_the_langchain_js_example_is_documented():
    page = (ROOT / "docs" / "clients.md").read_text()
    assert "examples/langchain.mjs" in page and f"@langchain/openai@{VERSION}" in page
    assert f"@langchain/openai@{VERSION}" in EXAMPLE.read_text()  # the version a user installs is the tested one
