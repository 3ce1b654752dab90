"""The OpenAI Agents SDK for JavaScript (examples/openai_agents.mjs), run with Node against a real
``ragkit serve`` as its users run it: ``@openai/agents`` at the version examples/package-lock.json
pins (installed by tests/node_helpers.py), ``setDefaultOpenAIClient(new OpenAI({ baseURL }))``.
The servers are those of tests/test_examples.py: offline with API keys, and one whose chat model
is the scripted test server, which plays the model's tool calls.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT
from node_helpers import EXAMPLES, PINNED, questions, run_example
from test_examples import E42, SEARCH_E42, SEARCH_RESET, STATION_CALL, chat, citation, cite, offline  # noqa: F401

pytestmark = pytest.mark.timeout(600)
EXAMPLE = EXAMPLES / "openai_agents.mjs"
VERSION = json.loads(PINNED[0].read_text())["dependencies"]["@openai/agents"]


def _search(query: str) -> dict:
    return {"tool_calls": [{"name": "file_search", "arguments": {"query": query}}]}


def test_agents_js_offline_file_search_follow_ups_and_conversation_memory(offline, tmp_path):
    out = run_example(EXAMPLE, offline, tmp_path)
    assert "No chat model behind ragkit" in out
    (_, first), (_, follow), (_, battery), (_, lasts), (_, chat), (_, streamed) = questions(out)
    assert citation(first, "ws200-user-manual.pdf p.4", "E42 means the anemometer cable is disconnected")
    # previousResponseId: the follow-up was searched made standalone from the earlier turn
    searched = re.search(r"\(searched \[\"(.*)\"\]\)", follow).group(1)
    assert searched != "How do I fix it?" and "E42" in searched
    assert citation(follow, "ws200-user-manual.pdf p.4", "E42")
    # OpenAIConversationsSession: the turns are kept in a conversation and sent back
    assert citation(battery, "ws200-user-manual.pdf p.1", "CR123A lithium battery")
    assert "WS-200" in re.search(r"\(searched \[\"(.*)\"\]\)", lasts).group(1)
    assert citation(lasts, "ws200-user-manual.pdf p.4", "battery lasts about two years")
    assert re.search(r"\(conversation conv_\w+ holds 6 items\)", lasts)
    assert citation(chat, "ws200-user-manual.pdf p.4", "E42 means the anemometer cable is disconnected")
    assert citation(streamed, "ws200-user-manual.pdf p.4", "hold the SYNC button")


def test_agents_js_with_a_chat_model_runs_the_function_and_remembers(chat, llm, tmp_path):  # noqa: F811
    llm.state.tool_script.extend([
        STATION_CALL, SEARCH_E42, cite("E42", E42),  # run() on the Responses API
        _search("fix error code E42"), cite("E42", "Reconnect the anemometer cable"),  # previousResponseId, streamed
        _search("WS-200 battery"), cite("CR123A", "It uses one CR123A lithium battery"),  # the session's turns
        _search("WS-200 battery life"), cite("two years", "The battery lasts about two years"),
        STATION_CALL, SEARCH_E42, cite("E42", E42),  # OpenAIChatCompletionsModel
        SEARCH_RESET, cite("SYNC", "Hold the SYNC button for 10 seconds")])  # streamed
    out = run_example(EXAMPLE, chat, tmp_path)
    assert not llm.state.tool_script
    (_, first), (_, follow), (_, battery), (_, lasts), (_, over_chat), (_, streamed) = questions(out)
    assert '-> station_status({"station_id": "OSL-7"})' in first and '"battery":"81%"' in first
    assert re.search(r'A: OSL-7 reports E42: .*"battery":"81%"', first)  # the function's output, used
    assert citation(first, "ws200-user-manual.pdf p.4", "E42")
    assert "A: Reconnect the anemometer cable [1]" in follow and citation(follow, "ws200-user-manual.pdf p.4", "E42")
    assert citation(battery, "ws200-user-manual.pdf p.1", "CR123A")
    assert citation(lasts, "ws200-user-manual.pdf p.4", "two years")
    # the second turn of the session was sent with the first, read back from the conversation
    asked = next(r["body"]["messages"] for r in llm.chat_requests()
                 if any("How long does it last?" in str(m.get("content")) for m in r["body"]["messages"]))
    assert any("It uses one CR123A lithium battery" in str(m.get("content")) for m in asked)
    assert "-> station_status" in over_chat and citation(over_chat, "ws200-user-manual.pdf p.4", "E42")
    assert citation(streamed, "ws200-user-manual.pdf p.4", "SYNC")
    offered = [{t["function"]["name"] for t in r["body"].get("tools") or []} for r in llm.chat_requests()]
    assert offered[0] == {"file_search", "station_status"}


def test_the_agents_js_example_is_documented():
    page = (ROOT / "docs" / "clients.md").read_text()
    assert "examples/openai_agents.mjs" in page and f"@openai/agents@{VERSION}" in page
    assert f"@openai/agents@{VERSION}" in EXAMPLE.read_text()  # the version a user installs is the tested one
