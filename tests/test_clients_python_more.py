"""More Python clients people point at an OpenAI-compatible server, against a real ``ragkit serve``:
the ``llm`` command-line tool on chat completions (the store from ``--default-vector-store``, its
JSON mode, ``llm embed``), and instructor's structured outputs over a store, in each mode it has
for the OpenAI client. examples/llm_cli.py and examples/dspy_client.py (tests/test_examples.py)
cover the rest: llm on the Responses API with ``file_search``, DSPy over a store.

Two servers: an offline one started with ``--default-vector-store``, and one whose chat model is the
scripted OpenAI-compatible test server (tests/openai_server.py). Each library is skipped when it
is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import openai
import pytest
from conftest import CORPUS
from pydantic import BaseModel
from server_helpers import NO_LLM_PLUGINS, Server, chat_model_server, upload_batch

pytestmark = pytest.mark.timeout(300)
MODEL = "test-model"
FILES = ["ws200-user-manual.pdf", "warranty-and-returns.docx"]
E42 = "What does error code E42 mean?"
needs_llm = pytest.mark.skipif(importlib.util.find_spec("llm") is None,
                               reason="llm is not installed: pip install -e '.[examples]'")
needs_instructor = pytest.mark.skipif(importlib.util.find_spec("instructor") is None,
                                      reason="instructor is not installed: pip install --no-deps instructor "
                                             "docstring-parser (docs/clients.md)")


def _store(client) -> str:
    vs = client.vector_stores.create(name="manuals")
    assert upload_batch(client, vs.id, [CORPUS / name for name in FILES]).file_counts.completed == len(FILES)
    return vs.id


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """Offline, restarted with its store as ``--default-vector-store``, for clients that cannot name one."""
    home = tmp_path_factory.mktemp("more-offline") / "home"
    first = Server(home, "--no-auth").start()
    try:
        store = _store(first.client())
    finally:
        first.stop()
    server = Server(home, "--no-auth", "--default-vector-store", store).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chat(tmp_path_factory, openai_server):
    server = chat_model_server(tmp_path_factory.mktemp("more-chat") / "home", openai_server.url, MODEL)
    server.store = _store(server.client())  # type: ignore[attr-defined]
    yield server
    server.stop()


# -- llm ------------------------------------------------------------------------------------------

def _llm(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llm", *args], capture_output=True, text=True, timeout=240,
                          env={**os.environ, "LLM_USER_PATH": str(home), **NO_LLM_PLUGINS, **(env or {})})


@needs_llm
def test_llm_on_chat_completions_answers_over_the_default_store(offline, tmp_path):
    (tmp_path / "extra-openai-models.yaml").write_text(
        f"- model_id: ragkit-chat\n  model_name: ragkit-extractive\n  api_base: {offline.base_url}\n")
    streamed = _llm(tmp_path, "-m", "ragkit-chat", E42)
    assert streamed.returncode == 0, streamed.stderr
    assert "Error code E42 means the anemometer cable is disconnected. [1]" in streamed.stdout
    follow_up = _llm(tmp_path, "-c", "How do I fix it?")
    assert follow_up.returncode == 0 and "E42" in follow_up.stdout  # the history went along, made standalone
    whole = _llm(tmp_path, "-m", "ragkit-chat", "--no-stream", "How long is the warranty on the WS-200 sensor array?")
    assert whole.returncode == 0 and "3 years" in whole.stdout
    # llm's JSON mode asks for structured output: offline a 400 that says a chat model is needed
    shaped = _llm(tmp_path, "-m", "ragkit-chat", "-o", "json_object", "1", E42 + " Answer in JSON.")
    assert shaped.returncode == 1
    assert "response_format" in shaped.stderr and "needs a chat model" in shaped.stderr


@needs_llm
def test_llm_embed_reaches_ragkit_only_under_openais_names_and_is_told_the_model(offline, tmp_path):
    done = _llm(tmp_path, "embed", "-m", "3-small", "-c", "warranty period",
                env={"OPENAI_BASE_URL": offline.base_url, "OPENAI_API_KEY": "none"})
    assert done.returncode != 0
    assert "The model 'text-embedding-3-small' does not exist. The embedding model is 'ragkit-embedding'" in done.stderr


# -- instructor -----------------------------------------------------------------------------------
class ErrorCode(BaseModel):
    code: str
    meaning: str
    minutes_to_fix: int


def _instructor(server: Server, mode: str):
    import instructor

    return instructor.from_openai(server.client(), mode=getattr(instructor.Mode, mode))


def _fill(arguments: dict):
    """A scripted call of ErrorCode whose meaning comes from the passages the model was given."""
    def reply(body: dict) -> dict:
        seen = "anemometer cable is disconnected" in json.dumps(body["messages"])
        meaning = "the anemometer cable is disconnected" if seen else "unknown"
        return {"tool_calls": [{"name": body["tool_choice"]["function"]["name"],
                                "arguments": {"code": "E42", "meaning": meaning, **arguments}}]}
    return reply


@needs_instructor
def test_instructor_tools_mode_fills_the_shape_in_from_the_documents(chat, llm):
    """instructor's default mode names its function in tool_choice: ragkit searches the question
    first. After a validation error instructor sends its call back without ``ragkit.searches``;
    the server kept them under the call, so that search is run again in place (the question is
    not searched anew)."""
    llm.state.tool_script.extend([_fill({"minutes_to_fix": "ten"}), _fill({"minutes_to_fix": 10})])
    found = _instructor(chat, "TOOLS").chat.completions.create(
        model=MODEL, response_model=ErrorCode, max_retries=2, messages=[{"role": "user", "content": E42}],
        extra_body={"vector_store_ids": [chat.store]})  # type: ignore[attr-defined]
    assert found.model_dump() == {"code": "E42", "meaning": "the anemometer cable is disconnected", "minutes_to_fix": 10}
    first, reask = [r["body"]["messages"] for r in llm.chat_requests()]
    assert [m["role"] for m in first] == ["system", "user", "assistant", "tool"]
    assert [m["role"] for m in reask] == ["system", "user", "assistant", "tool", "tool"]
    assert [call["function"]["name"] for call in reask[2]["tool_calls"]] == ["file_search", "ErrorCode"]
    assert "anemometer cable is disconnected" in reask[3]["content"] and "minutes_to_fix" in reask[4]["content"]


@needs_instructor
def test_instructor_streams_a_partial_shape(chat, llm):
    llm.state.tool_script.append(_fill({"minutes_to_fix": 10}))
    parts = list(_instructor(chat, "TOOLS").chat.completions.create_partial(
        model=MODEL, response_model=ErrorCode, messages=[{"role": "user", "content": E42}],
        extra_body={"vector_store_ids": [chat.store]}))  # type: ignore[attr-defined]
    assert parts[-1].meaning == "the anemometer cable is disconnected" and parts[-1].minutes_to_fix == 10


@needs_instructor
@pytest.mark.parametrize("mode", ["JSON", "JSON_SCHEMA"])
def test_instructor_json_modes_fill_the_shape_in_from_the_documents(chat, llm, mode):
    """JSON mode (``json_object``, the schema in a system message) and JSON_SCHEMA mode
    (``json_schema``): the chat model gets the passages and the format, and answers in it."""
    if mode == "JSON":  # the test model cannot read a schema from the system message: it is told what to say
        llm.state.tool_script.append({"content": json.dumps({"code": "E42", "meaning": "the anemometer cable is "
                                                             "disconnected", "minutes_to_fix": 10})})
    found = _instructor(chat, mode).chat.completions.create(
        model=MODEL, response_model=ErrorCode, max_retries=1, messages=[{"role": "user", "content": E42}],
        extra_body={"vector_store_ids": [chat.store]})  # type: ignore[attr-defined]
    assert "anemometer cable is disconnected" in found.meaning
    [sent] = [r["body"] for r in llm.chat_requests()]
    assert sent["response_format"]["type"] == {"JSON": "json_object", "JSON_SCHEMA": "json_schema"}[mode]
    system, user = sent["messages"]
    shape = system["content"] if mode == "JSON" else json.dumps(sent["response_format"])  # where each mode puts it
    assert "minutes_to_fix" in shape and "anemometer cable" in user["content"]


@needs_instructor
def test_instructor_responses_tools_mode_fills_the_shape_in(chat, llm):
    """RESPONSES_TOOLS names its function in tool_choice and sends ``text.format`` beside it: the
    model gets both and its call's arguments are the shape."""
    llm.state.tool_script.append(_fill({"minutes_to_fix": 10}))
    found = _instructor(chat, "RESPONSES_TOOLS").chat.completions.create(
        model=MODEL, response_model=ErrorCode, max_retries=1, messages=[{"role": "user", "content": E42}])
    assert found.code == "E42" and found.minutes_to_fix == 10
    [sent] = [r["body"] for r in llm.chat_requests()]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "ErrorCode"}}
    assert sent["response_format"]["type"] == "json_schema"


@needs_instructor
def test_instructor_offline_is_told_a_chat_model_is_needed(offline):
    from instructor.core import InstructorRetryException

    with pytest.raises(InstructorRetryException) as caught:
        _instructor(offline, "TOOLS").chat.completions.create(
            model="ragkit-extractive", response_model=ErrorCode, max_retries=1,
            messages=[{"role": "user", "content": E42}])
    error = caught.value.__cause__  # instructor raises from the last error
    assert isinstance(error, openai.BadRequestError) and error.param == "tools"
    assert "need a chat model" in error.message
