"""The official JavaScript SDK (openai-node) against a real ``ragkit serve``: examples/openai_node.mjs
run with Node as a user runs it, offline with API keys, and with the scripted test chat model
(tests/openai_server.py) for the function tool round trip. The ``openai`` npm package is the one
examples/package-lock.json pins, installed by tests/node_helpers.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT
from node_helpers import EXAMPLES, NODE, PINNED, example_copy, installed_node_modules, node_env
from server_helpers import Server, chat_model_server, create_key
from test_examples import E42, MODEL, SEARCH_E42, STATION_CALL, cite, citation

pytestmark = pytest.mark.timeout(600)
SCRIPT = EXAMPLES / "openai_node.mjs"
OPENAI_NODE = json.loads(PINNED[0].read_text())["dependencies"]["openai"]  # the version tested


@pytest.fixture(scope="module")
def node_script(tmp_path_factory):
    """The example, in a copy of the repository's layout beside the pinned packages."""
    return example_copy(SCRIPT, installed_node_modules(), tmp_path_factory.mktemp("node-example"))


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """An offline ``ragkit serve`` that wants API keys."""
    home = tmp_path_factory.mktemp("node-offline") / "home"
    home.mkdir(parents=True)
    key = create_key(home, "node", "--scope", "write")
    server = Server(home).start()
    server.key = key  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chat(tmp_path_factory, openai_server):
    """``ragkit serve`` (no auth) with the test chat model."""
    server = chat_model_server(tmp_path_factory.mktemp("node-chat") / "home", openai_server.url, MODEL)
    server.key = "none"  # type: ignore[attr-defined]
    yield server
    server.stop()


def run(script: Path, server: Server) -> str:
    env = node_env(RAGKIT_BASE_URL=server.base_url, RAGKIT_API_KEY=server.key)  # type: ignore[attr-defined]
    done = subprocess.run([NODE, str(script)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=400)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _parts(out: str) -> dict[str, str]:
    """The script's output by section: the text after each ``Q (...)`` heading."""
    pieces = re.split(r"\nQ \(([^)]*)\): ", out)
    return {"start": pieces[0], **dict(zip(pieces[1::2], pieces[2::2], strict=True))}


def test_openai_node_offline_with_a_key(node_script, offline):
    out = run(node_script, offline)
    parts = _parts(out)
    assert re.search(r"ws200-user-manual\.pdf completed attributes=\{\"kind\":\"manual\",\"year\":2024\}", out)
    hits = re.findall(r"^  (\d\.\d{3}) (\S+) p\.\d+: ", parts["start"], re.M)
    assert hits and all(name == "ws200-user-manual.pdf" and float(score) >= 0.2 for score, name in hits)
    assert citation(parts["start"], "warranty-and-returns.docx", "3 years")  # responses.create
    assert citation(parts["streamed, previous_response_id"], "warranty-and-returns.docx", "two years")
    assert citation(parts["chat completions, streamed"], "warranty-and-returns.docx", "3 years")
    assert citation(parts["Assistants run, streamed"], "ws200-user-manual.pdf p.1", "CR123A")
    assert "embeddings: 2 texts, 384 dimensions" in out
    assert "missing store: NotFoundError 404: No vector store found with id 'vs_does_not_exist'." in out
    assert "No chat model behind ragkit: skipping the function tool round trip" in out
    assert re.search(r"deleted vs_\w+ and its files", out)


def test_openai_node_function_round_trip_streamed_with_a_chat_model(node_script, chat, llm):
    """The second streamed response answers after the function's output: the answer comes as
    a message item built up from its events by ``responses.stream``."""
    llm.state.tool_script.extend([STATION_CALL, SEARCH_E42, cite("E42", E42)])
    out = run(node_script, chat)
    parts = _parts(out)
    assert citation(parts["chat completions, streamed"], "warranty-and-returns.docx", "3 years")
    function = parts["function tool, streamed"]
    assert '-> station_status({"station_id": "OSL-7"})' in function
    assert re.search(r"OSL-7 reports E42: .*\"battery\": ?\"81%\"", function)  # the function's output, used
    assert citation(function, "ws200-user-manual.pdf p.4", "E42")
    assert not llm.state.tool_script


def test_the_node_example_is_documented():
    page = (ROOT / "docs" / "clients.md").read_text()
    assert "examples/openai_node.mjs" in page and f"openai@{OPENAI_NODE}" in page
    assert f"openai@{OPENAI_NODE}" in SCRIPT.read_text()  # the version a user installs is the tested one
