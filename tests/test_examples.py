"""The runnable client examples (examples/*.py), each run as a subprocess against a real
``ragkit serve``, as a user runs them: the stock ``openai`` SDK, the OpenAI Agents SDK, LangChain,
LlamaIndex, Pydantic AI, Haystack, DSPy and the ``llm`` command-line tool.

Two servers: an offline one with API keys (the extractive answerer; function tools are not
available) and one whose chat model is the scripted OpenAI-compatible test server
(tests/openai_server.py), which plays the model's tool calls. Both hold the sample corpus in a
store that the examples get as ``RAGKIT_VECTOR_STORE_ID``. Each test checks what the example
prints: a citation to the right file and page, the function's result in the answer.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT
from server_helpers import NO_LLM_PLUGINS, SOURCE, Server, chat_model_server, create_key, upload_batch

pytestmark = pytest.mark.timeout(300)
EXAMPLES = ROOT / "examples"
MODEL = "test-model"
CLIENT_LIBRARIES = ("agents", "langchain_openai", "llama_index.llms.openai_like", "llama_index.embeddings.openai",
                    "pydantic_ai", "haystack.components.agents", "dspy", "llm")


def _missing(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:
        return True


needs = {name: pytest.mark.skipif(_missing(name), reason=f"{name} is not installed: pip install -e '.[examples]'")
         for name in CLIENT_LIBRARIES}
#: DSPy is not in the examples extra: its LiteLLM brings boto3, whose botocore downgrades python-dateutil
needs["dspy"] = pytest.mark.skipif(_missing("dspy"), reason="dspy is not installed: pip install dspy")


def _corpus_store(client) -> str:
    store = client.vector_stores.create(name="halvard")
    files = sorted(p for p in CORPUS.iterdir() if p.is_file())
    batch = upload_batch(client, store.id, files)
    assert batch.file_counts.completed == len(files), batch.file_counts
    return store.id


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """An offline ``ragkit serve`` with keys, and the corpus store."""
    home = tmp_path_factory.mktemp("examples-offline") / "home"
    home.mkdir(parents=True)
    key = create_key(home, "examples", "--scope", "write")
    server = Server(home).start()
    server.key = key  # type: ignore[attr-defined]
    server.store = _corpus_store(server.client(key))  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chat(tmp_path_factory, openai_server):
    """``ragkit serve`` with the test chat model (no auth), and the corpus store."""
    server = chat_model_server(tmp_path_factory.mktemp("examples-chat") / "home", openai_server.url, MODEL)
    server.key = "none"  # type: ignore[attr-defined]
    server.store = _corpus_store(server.client())  # type: ignore[attr-defined]
    yield server
    server.stop()


def run(example: str, server: Server, *args: str, store: bool = True, code: int = 0,
        env: dict[str, str] | None = None) -> str:
    """Run ``examples/<example>`` against ``server`` (with ``env`` added to the environment); its
    stdout, after checking its exit code."""
    env = {**os.environ, **(env or {}), "RAGKIT_BASE_URL": server.base_url,
           "RAGKIT_API_KEY": server.key}  # type: ignore[attr-defined]
    if store:
        env["RAGKIT_VECTOR_STORE_ID"] = server.store  # type: ignore[attr-defined]
    done = subprocess.run([sys.executable, str(EXAMPLES / example), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=240)
    assert done.returncode == code, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def citation(output: str, filename: str, text: str) -> re.Match | None:
    """A printed citation ``[n] file p.page: quote`` to ``filename`` whose quote holds ``text``."""
    return re.search(rf"\[\d+\] {re.escape(filename)}( p\.\d+)?: [^\n]*{re.escape(text)}", output)


def _tool_messages(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


def cite(needle: str, claim: str):
    """A scripted final reply: ``claim`` cited to the passage holding ``needle``, then the output
    of the function called before (a tool message that is not a passage), so a test sees both used."""

    def reply(body: dict) -> dict:
        tools = _tool_messages(body)
        number = next(n for n, _file, _page, text in SOURCE.findall("\n".join(tools)) if needle in text)
        function = next((t for t in tools if "<source" not in t), None)
        return {"content": f"{claim} [{number}]." + (f" Station status: {function}" if function else "")}

    return reply


STATION_CALL = {"tool_calls": [{"name": "station_status", "arguments": {"station_id": "OSL-7"}}]}
SEARCH_E42 = {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]}
E42 = "OSL-7 reports E42: error code E42 means the anemometer cable is disconnected"
SEARCH_RESET = {"tool_calls": [{"name": "file_search", "arguments": {"query": "reset the sensor array"}}]}


# -- the stock openai SDK ------------------------------------------------------------------------
def test_files_and_search_filters_by_attributes_and_score(offline):
    out = run("openai_sdk_files_and_search.py", offline, store=False)
    everything, filtered = out.split("only kind == 'manual'")
    assert "support-faq.txt" in everything and "warranty-and-returns.docx" in everything
    hits = [line for line in filtered.splitlines() if re.match(r"\s+\d\.\d{3}\s", line)]
    assert hits and all("ws200-user-manual.pdf p." in line for line in hits)
    assert all(float(line.split()[0]) >= 0.2 for line in hits)
    assert "deleted vs_" in out


def test_responses_offline_cites_and_says_functions_need_a_model(offline):
    out = run("openai_sdk_responses.py", offline)
    assert citation(out, "warranty-and-returns.docx", "3 years")
    assert "No chat model behind ragkit: skipping the function tool round trip" in out


def test_responses_with_a_chat_model_runs_the_function_round_trip(chat, llm):
    llm.state.tool_script.extend([STATION_CALL, SEARCH_E42, cite("E42", E42)])
    out = run("openai_sdk_responses.py", chat)
    assert citation(out, "warranty-and-returns.docx", "3 years")  # part 1: the grounded answer
    assert '-> station_status({"station_id": "OSL-7"})' in out
    assert '"battery": "81%"' in out.split("-> station_status", 1)[1].split("\n", 1)[1]  # used in the answer
    assert citation(out, "ws200-user-manual.pdf p.4", "E42")
    # the model got the function's output back as a tool message, after its own call
    last = llm.chat_requests()[-1]["body"]["messages"]
    assert any('"last_error": "E42"' in m for m in _tool_messages({"messages": last}))


def test_assistants_thread_follow_up_offline(offline):
    out = run("openai_sdk_assistants.py", offline)
    first, follow_up = out.split("Q: How long does it last?")
    assert "CR123A" in first and re.search(r"\[\d+\] ws200-user-manual\.pdf p\.1: .*CR123A", first)
    assert re.search(r"\[\d+\] ws200-user-manual\.pdf p\.4: .*battery lasts about two years", follow_up)


def test_assistants_with_a_chat_model(chat, llm):
    """The test model answers with the sentences sharing most words with the question; it
    cannot rewrite the follow-up, so ragkit falls back to its offline rewrite there."""
    out = run("openai_sdk_assistants.py", chat)
    assert f"({MODEL})" in out
    first, follow_up = out.split("Q: How long does it last?")
    assert re.search(r"\[\d+\] ws200-user-manual\.pdf p\.1: ", first)
    assert re.search(r"\[\d+\] ws200-user-manual\.pdf p\.4: ", follow_up)
    systems = [r["body"]["messages"][0]["content"] for r in llm.chat_requests()]
    assert len(systems) == 3 and "standalone question" in systems[1]  # answer, rewrite, answer


# -- the OpenAI Agents SDK -----------------------------------------------------------------------
@needs["agents"]
def test_agents_sdk_file_search_and_function_tool_run_and_streamed(chat, llm):
    llm.state.tool_script.extend([
        STATION_CALL, SEARCH_E42, cite("E42", E42),  # Runner.run on the Responses API
        SEARCH_RESET, cite("SYNC", "To reset the sensor array, hold the SYNC button for 10 seconds"),  # streamed
        STATION_CALL, SEARCH_E42, cite("E42", E42)])  # OpenAIChatCompletionsModel
    out = run("openai_agents_sdk.py", chat)
    once, streamed = out.split("Q (streamed):")
    streamed, over_chat = streamed.split("Q (chat completions):")
    assert "tool call: station_status" in over_chat and re.search(r"A: OSL-7 reports E42: .*\[\d+\]", over_chat)
    assert not llm.state.tool_script
    assert "tool call: station_status" in once and "tool output: " in once
    assert re.search(r"A: OSL-7 reports E42: .*\"battery\": \"81%\"", once)  # the function's result, used
    assert citation(once, "ws200-user-manual.pdf p.4", "E42")
    assert "tool call: file_search_call ['error code E42']" in once
    assert citation(streamed, "ws200-user-manual.pdf p.4", "SYNC")
    requests = [r["body"] for r in llm.chat_requests()]
    assert {t["function"]["name"] for t in requests[0]["tools"]} == {"file_search", "station_status"}


@needs["agents"]
def test_agents_sdk_offline_answers_with_file_search_only(offline):
    out = run("openai_agents_sdk.py", offline)
    assert "No chat model behind ragkit" in out
    assert citation(out, "ws200-user-manual.pdf p.4", "E42 means the anemometer cable is disconnected")
    assert citation(out.split("Q (streamed):")[1], "ws200-user-manual.pdf p.4", "SYNC")


# -- Pydantic AI ---------------------------------------------------------------------------------
@needs["pydantic_ai"]
def test_pydantic_ai_offline_answers_from_the_store(offline):
    out = run("pydantic_ai_client.py", offline)
    assert "No chat model behind ragkit" in out
    first, rest = out.split("Q (follow-up): How do I fix it?")
    assert "tool call: file_search ['What does error code E42 mean?']" in first
    assert citation(first, "ws200-user-manual.pdf p.4", "E42 means the anemometer cable is disconnected")
    follow_up, rest = rest.split("Q (streamed):")
    assert "tool call: file_search ['How do I fix" in follow_up and "E42" in follow_up  # made standalone
    streamed, over_chat = rest.split("Q (chat completions):")
    assert "SYNC" in streamed and re.search(r"usage: \d+ in, \d+ out", streamed)
    assert re.search(r"A: .*E42 .*\[1\]", over_chat)


@needs["pydantic_ai"]
def test_pydantic_ai_function_tool_follow_up_and_stream_with_a_chat_model(chat, llm):
    llm.state.tool_script.extend([
        STATION_CALL, SEARCH_E42, cite("E42", E42),  # the first question, over the Responses API
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "fix error code E42"}}]},
        cite("E42", "Reconnect the anemometer cable"),  # the follow-up, sent with the whole history
        SEARCH_RESET, cite("SYNC", "To reset the sensor array, hold the SYNC button for 10 seconds"),  # streamed
        STATION_CALL, SEARCH_E42, cite("E42", E42)])  # OpenAIChatModel
    out = run("pydantic_ai_client.py", chat)
    assert not llm.state.tool_script
    first, rest = out.split("Q (follow-up):")
    assert 'tool call: station_status({"station_id":"OSL-7"})' in first
    assert re.search(r'A: OSL-7 reports E42: .*"battery": "81%"', first)  # the function's result, used
    assert citation(first, "ws200-user-manual.pdf p.4", "E42")
    follow_up, rest = rest.split("Q (streamed):")
    assert "A: Reconnect the anemometer cable [" in follow_up and re.search(r"\[\d+\] \S+: [^\n]*E42", follow_up)
    streamed, over_chat = rest.split("Q (chat completions):")
    assert "hold the SYNC button" in streamed
    assert "tool call: station_status" in over_chat and re.search(r"A: OSL-7 reports E42: .*\[\d+\]", over_chat)
    requests = [r["body"] for r in llm.chat_requests()]
    assert {t["function"]["name"] for t in requests[-1]["tools"]} == {"file_search", "station_status"}


# -- LangChain and LlamaIndex --------------------------------------------------------------------
@needs["langchain_openai"]
@pytest.mark.parametrize("where", ["offline", "chat"])
def test_langchain_chat_over_a_store_and_embeddings(where, request, llm):
    out = run("langchain_client.py", request.getfixturevalue(where))
    assert citation(out, "ws200-user-manual.pdf p.4", "E42")
    assert re.search(r"Q \(follow-up, streamed\): How do I fix it\?\nA: \S", out)
    assert re.search(r"embeddings: 2 texts, 384 dimensions\n\s+0\.\d+\s+Hold the SYNC", out)


@needs["llama_index.llms.openai_like"]
@needs["llama_index.embeddings.openai"]
@pytest.mark.parametrize("where", ["offline", "chat"])
def test_llamaindex_chat_over_a_store_and_embeddings(where, request, llm):
    out = run("llamaindex_client.py", request.getfixturevalue(where))
    assert citation(out, "warranty-and-returns.docx", "3 years")
    assert re.search(r"Q \(follow-up, streamed\): Can I extend it\?\nA: \S", out)
    assert re.search(r"embeddings: 2 texts, 384 dimensions\n\s+0\.\d+\s+The warranty covers", out)


# -- Haystack ------------------------------------------------------------------------------------
def _haystack(server: Server, home: Path) -> str:
    """The Haystack example with ``home`` as HOME: Haystack's telemetry, when on, first writes a user
    id to ``~/.haystack/config.yaml``, so an empty home shows it stayed off (no PostHog request)."""
    out = run("haystack_client.py", server, env={"HOME": str(home)})
    assert not (home / ".haystack").exists(), "Haystack telemetry was not disabled"
    return out


@needs["haystack.components.agents"]
def test_haystack_offline_chat_responses_and_embeddings(offline, tmp_path):
    out = _haystack(offline, tmp_path)
    chat, rest = out.split("Q (follow-up, streamed): How do I fix it?")
    assert citation(chat, "ws200-user-manual.pdf p.4", "E42 means the anemometer cable is disconnected")
    streamed, rest = rest.split("No chat model behind ragkit: skipping the function tool")
    assert citation(streamed, "ws200-user-manual.pdf p.4", "E42")  # citations of a streamed answer kept
    over_responses, embedded = rest.split("embeddings:")
    first, follow_up = over_responses.split("Q (Responses follow-up, streamed): Can I extend it?")
    assert citation(first, "warranty-and-returns.docx", "3 years")
    assert citation(follow_up, "warranty-and-returns.docx", "extends the warranty")  # made standalone
    assert re.match(r" 2 texts, 384 dimensions\n\s+0\.\d+\s+Hold the SYNC", embedded)


@needs["haystack.components.agents"]
def test_haystack_function_tool_on_chat_completions_and_responses(chat, llm, tmp_path):
    llm.state.tool_script.extend([STATION_CALL, SEARCH_E42, cite("E42", E42),  # the Agent, chat completions
                                  STATION_CALL, SEARCH_E42, cite("E42", E42)])  # Responses, a function dict
    out = _haystack(chat, tmp_path)
    assert not llm.state.tool_script
    assert citation(out.split("Q (follow-up")[0], "ws200-user-manual.pdf p.4", "E42")
    agent = out.split("Q (agent with a function tool):")[1].split("Q (Responses")[0]
    responses = out.split("Q (Responses, file_search and a function):")[1].split("embeddings:")[0]
    for part in (agent, responses):
        assert '-> station_status({"station_id": "OSL-7"})' in part
        assert re.search(r'A: OSL-7 reports E42: .*"battery": "81%"', part)  # the output, as text
        assert citation(part, "ws200-user-manual.pdf p.4", "E42")
    # the model got each function's output back as the text of a tool message
    tool_messages = [_tool_messages(r["body"]) for r in llm.chat_requests()]
    outputs = [m for messages in tool_messages for m in messages if "<source" not in m]
    assert outputs and all(json.loads(m)["battery"] == "81%" for m in outputs)


# -- DSPy and the llm CLI ------------------------------------------------------------------------
@needs["dspy"]
def test_dspy_offline_answers_follows_up_and_embeds(offline):
    out = run("dspy_client.py", offline)
    first, follow_up = out.split("Q (follow-up): Can I extend it?")
    assert citation(first, "warranty-and-returns.docx", "3 years")
    assert citation(follow_up, "warranty-and-returns.docx", "Halvard Care extends the warranty")  # made standalone
    assert "No chat model behind ragkit: skipping the typed fields" in out
    assert re.search(r"embeddings: 2 texts, 384 dimensions\n\s+0\.\d+\s+The warranty covers", out)


@needs["dspy"]
def test_dspy_with_a_chat_model_reads_typed_fields_through_the_chat_adapter(chat, llm):
    llm.state.tool_script.append({"when": "warranty_years", "content": (
        "[[ ## product ## ]]\nWS-200 sensor array [1]\n\n[[ ## warranty_years ## ]]\n3\n\n[[ ## completed ## ]]")})
    out = run("dspy_client.py", chat)
    assert not llm.state.tool_script
    first, follow_up = out.split("Q (follow-up): Can I extend it?")
    assert citation(first, "warranty-and-returns.docx", "3 years")
    follow_up, typed = follow_up.split("Q (typed fields, ChatAdapter):")
    assert citation(follow_up, "warranty-and-returns.docx", "Halvard Care extends the warranty")
    assert "A: product='WS-200 sensor array [1]' warranty_years=3" in typed
    assert citation(typed, "warranty-and-returns.docx", "3 years")
    # the adapter's questions went as they were asked (an earlier example's answer may be cached);
    # the ChatAdapter's format reached the model as the operator's instructions
    asked = [json.dumps(r["body"]["messages"]) for r in llm.chat_requests()]
    assert all("warranty_years" in sent for sent in asked if "[[ ## question ## ]]" in sent)
    assert "[[ ## warranty_years ## ]]" in llm.chat_requests()[-1]["body"]["messages"][0]["content"]


@needs["llm"]
def test_llm_cli_offline_over_a_store_streamed_continued_and_chatting(offline):
    out = run("llm_cli.py", offline, env=NO_LLM_PLUGINS)
    asked, follow_up = out.split("$ llm -c 'How do I fix it?'")
    assert citation(asked, "ws200-user-manual.pdf p.4", "E42 means the anemometer cable is disconnected")
    follow_up, not_streamed = follow_up.split("--no-stream")
    assert "E42" in follow_up and citation(follow_up, "ws200-user-manual.pdf p.4", "E42")
    not_streamed, chatting = not_streamed.split("$ llm chat -t halvard")
    assert citation(not_streamed, "warranty-and-returns.docx", "3 years")
    assert chatting.count("> Extractive answer") == 2
    assert "No chat model behind ragkit: skipping llm's own tools" in out


@needs["llm"]
def test_llm_cli_with_a_chat_model_calls_its_tool_beside_file_search(chat, llm):
    llm.state.tool_script.extend([{"tool_calls": [{"name": "llm_time", "arguments": {}}]}, SEARCH_E42,
                                  cite("E42", "E42 means the anemometer cable is disconnected")])
    out = run("llm_cli.py", chat, env=NO_LLM_PLUGINS)
    assert not llm.state.tool_script
    tool = out.split("-T llm_time --td")[1]
    assert "Tool call: llm_time({})" in tool and "utc_time" in tool
    assert re.search(r"E42 means the anemometer cable is disconnected \[\d+\]\. Station status: \{", tool)
    assert citation(tool, "ws200-user-manual.pdf p.4", "E42")
    offered = {t["function"]["name"] for t in llm.chat_requests()[-1]["body"]["tools"]}
    assert offered == {"file_search", "llm_time"}


def test_every_example_is_tested_and_documented():
    examples = {p.name for p in EXAMPLES.glob("*.py")} - {"ragkit_env.py"}
    tested = set(re.findall(r'run\("([a-z_]+\.py)"', Path(__file__).read_text()))
    assert examples == tested
    page = (ROOT / "docs" / "clients.md").read_text()
    assert all(f"examples/{name}" in page for name in examples)
