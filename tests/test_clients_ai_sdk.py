"""The Vercel AI SDK example (examples/ai_sdk.mjs), run with Node against a real ``ragkit serve``
as a web developer runs it: ``ai`` and ``@ai-sdk/openai`` at the versions examples/package-lock.json
pins (installed by tests/node_helpers.py), ``createOpenAI`` with ragkit's base URL. The servers are
those of tests/test_examples.py: offline with API keys, and one whose chat model is the scripted
test server, which plays the model's tool calls.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT
from node_helpers import EXAMPLES, NODE, SHARED, example_copy, installed_node_modules, node_env
from test_examples import E42, SEARCH_E42, STATION_CALL, chat, citation, cite, offline  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(600)
EXAMPLE = EXAMPLES / "ai_sdk.mjs"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    return installed_node_modules()


def run(server, node_modules: Path, tmp_path: Path, store: bool = True) -> str:
    """``node examples/ai_sdk.mjs`` against ``server``; its stdout, after checking it exited 0."""
    script = example_copy(EXAMPLE, node_modules, tmp_path)
    env = node_env(RAGKIT_BASE_URL=server.base_url, RAGKIT_API_KEY=server.key)
    if store:
        env["RAGKIT_VECTOR_STORE_ID"] = server.store
    done = subprocess.run([NODE, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _sections(out: str) -> dict[str, str]:
    """The example's blank-line separated sections, by their first words: ``Q:`` (the Responses
    answer), ``Q (follow-up``, ``Q: Station`` or ``No chat model`` (the function tool), ``Q (chat``
    and ``embeddings``."""
    found = {}
    for section in out.split("\n\n")[1:]:
        key = next(k for k in ("Q (follow-up", "Q: Station", "No chat model", "Q (chat", "embeddings", "Q:")
                   if section.startswith(k))
        found[key] = section
    return found


def test_ai_sdk_offline_creates_its_store_and_answers_with_sources(offline, node_modules, tmp_path):
    out = run(offline, node_modules, tmp_path, store=False)
    assert "Creating vector store 'ragkit-examples' from 8 files" in out
    part = _sections(out)
    assert citation(part["Q:"], "ws200-user-manual.pdf p.1", "CR123A lithium battery")
    assert "sources: ws200-user-manual.pdf" in part["Q:"]
    # the earlier turn came back as item references: the follow-up was searched with its subject
    searched = re.search(r"\(searched as: (.*)\)", part["Q (follow-up"]).group(1)
    assert searched != "How long does it last?" and "WS-200" in searched
    assert citation(part["Q (follow-up"], "ws200-user-manual.pdf p.4", "battery lasts about two years")
    assert "skipping the function tool" in part["No chat model"]
    asked, extended = part["Q (chat"].split("Can I extend it?", 1)
    assert citation(asked, "warranty-and-returns.docx", "3 years")
    assert citation(extended, "warranty-and-returns.docx", "Halvard Care")
    assert re.match(r"embeddings: 2 texts, 384 dimensions\n\s+0\.\d+\s+Hold the SYNC", part["embeddings"])


def test_ai_sdk_with_a_chat_model_runs_the_function_between_searches(chat, llm, node_modules, tmp_path):
    """The model searches first, then calls the function: the SDK sends the search back as an
    item reference with the function's output, and the answer cites that search's passage."""
    llm.state.tool_script.extend([SEARCH_E42, STATION_CALL, cite("E42", E42)])
    out = run(chat, node_modules, tmp_path)
    part = _sections(out)
    assert "model test-model" in out and "sources: " in part["Q:"] and "(searched as: " in part["Q (follow-up"]
    function = part["Q: Station"]
    assert '-> station_status({"station_id":"OSL-7"})' in function and '"battery":"81%"' in function
    assert citation(function, "ws200-user-manual.pdf p.4", "E42")
    assert not llm.state.tool_script
    assert citation(part["Q (chat"], "warranty-and-returns.docx", "3 years")


def test_every_node_example_is_run_here_and_documented():
    page = (ROOT / "docs" / "clients.md").read_text()
    # every Node example has a test module that runs it
    tested = {"ai_sdk.mjs": "test_clients_ai_sdk.py", "openai_node.mjs": "test_clients_node.py",
              "openai_agents.mjs": "test_clients_agents_js.py", "langchain.mjs": "test_clients_langchain_js.py",
              "llamaindex_ts.mjs": "test_clients_llamaindex_ts.py", "mastra.mjs": "test_clients_mastra.py"}
    assert sorted(p.name for p in EXAMPLES.glob("*.mjs") if p != SHARED) == sorted(tested)
    for example, module in tested.items():
        assert f"examples/{example}" in page and example in (ROOT / "tests" / module).read_text()
    assert f"examples/{EXAMPLE.name}" in page and "examples/package.json" in page
