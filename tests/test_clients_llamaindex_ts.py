"""LlamaIndex.TS (examples/llamaindex_ts.mjs), run with Node against a real ``ragkit serve`` as its
users run it: ``llamaindex``, ``@llamaindex/openai`` and ``@llamaindex/workflow`` at the versions
examples/package-lock.json pins (installed by tests/node_helpers.py), the ``OpenAI`` and
``OpenAIResponses`` LLMs with ``baseURL``. The servers are those of tests/test_examples.py: offline
with API keys, and one whose chat model is the scripted test server, which plays the model's tool
calls.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT
from node_helpers import EXAMPLES, PINNED, questions, run_example
from test_examples import E42, SEARCH_E42, STATION_CALL, chat, citation, cite, offline  # noqa: F401

pytestmark = pytest.mark.timeout(600)
EXAMPLE = EXAMPLES / "llamaindex_ts.mjs"
PACKAGES = ("llamaindex", "@llamaindex/openai", "@llamaindex/workflow")
VERSIONS = {name: json.loads(PINNED[0].read_text())["dependencies"][name] for name in PACKAGES}
#: the model restating the agent's answer through LlamaIndex's structured-output function
FORMAT = {"tool_calls": [{"name": "format_output",
                          "arguments": {"error_code": "E42", "meaning": "the anemometer cable is disconnected"}}]}


def test_llamaindex_ts_offline_chat_responses_agents_and_embeddings(offline, tmp_path):
    out = run_example(EXAMPLE, offline, tmp_path, timeout=120)
    part = questions(out)
    assert [how for how, _ in part] == [
        "chat completions", "chat completions, streamed follow-up", "Responses, file_search",
        "Responses, streamed, previous_response_id", "agent, chat completions", "agent, Responses, streamed"]
    (_, chat_), (_, follow), (_, battery), (_, lasts), (_, run), (_, streamed) = part
    assert citation(chat_, "ws200-user-manual.pdf p.4", "E42 means the anemometer cable is disconnected")
    assert citation(follow, "ws200-user-manual.pdf p.4", "E42")  # the history made the follow-up standalone
    assert citation(battery, "ws200-user-manual.pdf p.1", "CR123A lithium battery")
    searched = re.search(r"\(searched as: (.*)\)", lasts).group(1)
    assert searched != "How long does it last?" and "WS-200" in searched  # previous_response_id
    assert citation(lasts, "ws200-user-manual.pdf p.4", "battery lasts about two years")
    assert "the agents have no function tool" in lasts
    assert re.search(r"A: .*E42 means the anemometer cable is disconnected\. \[1\]\n", run)
    # the streamed answer once: LlamaIndex's repeated last delta is kept out by the example's LLM
    assert streamed.count("Error code E42 means") == 2  # the answer and its citation's quote
    assert citation(streamed, "ws200-user-manual.pdf p.4", "E42 means the anemometer cable is disconnected")
    assert re.search(r"embeddings: 2 texts, 384 dimensions\n\s+0\.\d+\s+Hold the SYNC", out)


def test_llamaindex_ts_agents_call_the_function_and_restate_the_answer_as_json(chat, llm, tmp_path):  # noqa: F811
    """Only the agents' requests offer tools: the others are answered over the store by the test
    model's deterministic answer. The chat completions agent's ``responseFormat`` sends its answer
    alone (no question) with LlamaIndex's ``format_output`` function, which the model calls."""
    llm.state.tool_script.extend([STATION_CALL, SEARCH_E42, cite("E42", E42), FORMAT,  # run(), chat completions
                                  STATION_CALL, SEARCH_E42, cite("E42", E42)])  # runStream(), Responses
    out = run_example(EXAMPLE, chat, tmp_path, timeout=120)
    assert not llm.state.tool_script
    part = dict(questions(out))
    assert citation(part["chat completions"], "ws200-user-manual.pdf p.4", "E42")
    run, streamed = part["agent, chat completions"], part["agent, Responses, streamed"]
    for answer in (run, streamed):
        assert '-> station_status({"station_id":"OSL-7"})' in answer
        assert re.search(r"A: OSL-7 reports E42: .*\[1\]\. Station status: \{\n station_id: OSL-7", answer)
        assert answer.count("OSL-7 reports E42") == 1
    assert 'as JSON: {"error_code":"E42","meaning":"the anemometer cable is disconnected"}' in run
    assert citation(streamed, "ws200-user-manual.pdf p.4", "E42")
    restate = next(r["body"] for r in llm.chat_requests()
                   if "format_output" in {t["function"]["name"] for t in r["body"].get("tools") or []})
    assert [m["role"] for m in restate["messages"] if m["role"] != "system"] == ["assistant"]
    assert {t["function"]["name"] for t in restate["tools"]} == {"file_search", "format_output"}


def test_the_llamaindex_ts_example_is_documented():
    page = (ROOT / "docs" / "clients.md").read_text()
    assert "examples/llamaindex_ts.mjs" in page
    for name, version in VERSIONS.items():
        assert f"{name}@{version}" in page and f"{name}@{version}" in EXAMPLE.read_text()
