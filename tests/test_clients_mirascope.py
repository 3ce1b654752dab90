"""Mirascope 2 (PyPI ``mirascope``, its ``llm`` API) against a real ``ragkit serve``, with the
``openai`` provider registered for a ``base_url`` (docs/clients.md has what works and what does not).

Mirascope sends OpenAI's parameters only (``llm.Params`` has no extra body fields and no
``file_search`` tool), so it cannot name a store: both servers here answer over their
``--default-vector-store``. An ``openai/`` model id that Mirascope does not know goes to the
Responses API; the ``:completions`` suffix picks chat completions. Checked:

* ``@llm.call`` on chat completions, offline: the answer with its ``[n]``, ragkit's ``citations`` in
  ``response.raw`` (the last chunk of ``raw_stream_events`` when streamed), a follow-up with
  ``response.resume`` made standalone by ragkit;
* on the Responses API: streamed it works (the ``file_search_call`` events are skipped, the
  ``file_citation`` annotations stay in the message's ``raw_message``), also resumed; not streamed
  Mirascope raises on the ``file_search_call`` output item, which its decoder does not know;
* offline, ``tools`` and ``format`` are ragkit's 400 naming the chat model they need;
* with a chat model behind ragkit (the scripted test server, tests/openai_server.py): an
  ``@llm.tool`` beside ragkit's ``file_search`` (called, streamed, on both APIs), its output sent
  back with ``resume``; ``format=Model`` in Mirascope's modes (``strict``: ``json_schema``,
  ``json``: ``json_object`` with the schema in the instructions, ``tool``: a forced function),
  called and streamed (``structured_stream``).

Skipped when Mirascope is not installed (``pip install 'mirascope[openai]'``; not in the
``examples`` extra).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from server_helpers import Server, manuals_store
from tool_loop_helpers import MODEL, QUESTION, SEARCH_AND_CALL, WEATHER, get_weather

pytestmark = pytest.mark.timeout(600)
E42 = "Error code E42 means the anemometer cable is disconnected."
OFFLINE = "openai/ragkit-extractive"
CHAT = f"openai/{MODEL}"
FILES = ["ws200-user-manual.pdf", "warranty-and-returns.docx"]


@pytest.fixture(scope="module")
def mirascope() -> Any:
    """Mirascope's ``llm`` module; skips before the servers start when it is absent. Providers
    registered by a test module stay in Mirascope's global registry: reset at the end."""
    module = pytest.importorskip("mirascope.llm", reason="pip install 'mirascope[openai]'")
    yield module
    module.reset_provider_registry()


def _server_with_default_store(home: Path, env: dict[str, str] | None = None) -> Server:
    """A ragkit whose store is its ``--default-vector-store``: made on a first start, then restarted."""
    first = Server(home, "--no-auth", env=env).start()
    try:
        store = manuals_store(first.client(), FILES)
    finally:
        first.stop()
    server = Server(home, "--no-auth", "--default-vector-store", store, env=env).start()
    server.store = store  # type: ignore[attr-defined]
    return server


@pytest.fixture(scope="module")
def offline(mirascope, tmp_path_factory):
    server = _server_with_default_store(tmp_path_factory.mktemp("mirascope-offline") / "home")
    mirascope.register_provider("openai", scope=OFFLINE, base_url=server.base_url, api_key="none")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chat(mirascope, tmp_path_factory, openai_server):
    env = {"RAGKIT_BASE_URL": openai_server.url, "RAGKIT_MODEL": MODEL, "RAGKIT_MAX_RETRIES": "0"}
    server = _server_with_default_store(tmp_path_factory.mktemp("mirascope-chat") / "home", env)
    mirascope.register_provider("openai", scope=CHAT, base_url=server.base_url, api_key="none")
    yield server
    server.stop()


def _ask(mirascope: Any, model: str, **options: Any) -> Any:
    @mirascope.call(model, **options)
    def ask(question: str) -> str:
        return question

    return ask


# --- offline: the extractive answerer ---------------------------------------------------------


def test_a_call_on_chat_completions_with_citations_and_a_follow_up(mirascope, offline):
    """The response is Mirascope's, the completion in ``raw`` keeps ragkit's ``citations``;
    ``resume`` sends the conversation with the follow-up, which ragkit makes standalone."""
    ask = _ask(mirascope, f"{OFFLINE}:completions")
    response = ask("What does error E42 mean?")
    assert E42 in response.text() and response.text().endswith("[1]")
    [cited] = response.raw.choices[0].message.citations
    assert cited["filename"] == "ws200-user-manual.pdf" and cited["page"] == 4 and cited["quote"] == E42
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0

    follow_up = response.resume("How do I fix it?")
    assert [m.role for m in follow_up.messages] == ["user", "assistant", "user", "assistant"]
    assert "E42" in follow_up.raw.model_extra["ragkit"]["search_query"]  # "it" read from the first turn


def test_a_streamed_call_on_chat_completions(mirascope, offline):
    """``text_stream`` gives the text; the raw chunks keep ragkit's citations (last answer chunk)."""
    stream = _ask(mirascope, f"{OFFLINE}:completions").stream("What is the warranty period?")
    text = "".join(stream.text_stream())
    assert "warranty" in text.lower() and "[1]" in text and stream.usage.output_tokens > 0
    cited = [c for chunk in stream.raw_stream_events for choice in chunk.choices
             for c in getattr(choice.delta, "citations", None) or []]
    assert cited and cited[0]["filename"] == "warranty-and-returns.docx" and cited[0]["quote"] in text


def test_the_responses_api_streamed_works_and_not_streamed_mirascope_cannot_decode_it(mirascope, offline):
    """An ``openai/`` id Mirascope does not know goes to the Responses API. Streamed, Mirascope skips
    the ``file_search_call`` events and keeps the output items in the message's ``raw_message``
    (the ``file_citation`` with ragkit's page and quote), which ``resume`` sends back as input.
    Not streamed, its decoder raises on the ``file_search_call`` output item (it knows the
    message, function calls, reasoning and ``web_search_call`` only)."""
    ask = _ask(mirascope, OFFLINE)
    stream = ask.stream("What does error E42 mean?")
    assert E42 in "".join(stream.text_stream())
    search, message = stream.messages[-1].raw_message
    assert search["type"] == "file_search_call" and search["queries"] == ["What does error E42 mean?"]
    [note] = message["content"][0]["annotations"]
    assert note["type"] == "file_citation" and note["page"] == 4 and note["quote"] == E42

    follow_up = stream.resume("How do I fix it?")
    follow_up.finish()
    assert "E42" in follow_up.text() or "cable" in follow_up.text()
    completed = follow_up.raw_stream_events[-1].response
    assert "E42" in completed.model_extra["ragkit"]["search_query"]

    with pytest.raises(NotImplementedError, match="Unsupported output item: file_search_call"):
        ask("What does error E42 mean?")


class Warranty(BaseModel):
    product: str
    years: int


@pytest.mark.parametrize("model", [f"{OFFLINE}:completions", OFFLINE], ids=["completions", "responses"])
def test_tools_and_format_offline_are_a_400_naming_the_chat_model(mirascope, offline, model):
    """Function tools and every ``format`` mode need a chat model behind ragkit."""
    weather = mirascope.tool(get_weather)
    for options in ({"tools": [weather]}, {"format": Warranty},
                    {"format": mirascope.format(Warranty, mode="json")},
                    {"format": mirascope.format(Warranty, mode="tool")}):
        with pytest.raises(mirascope.BadRequestError, match="chat model"):
            _ask(mirascope, model, **options)("How long is the WS-200 warranty?")


# --- with a chat model behind ragkit ----------------------------------------------------------


ANSWER = f"E42 means the anemometer cable is disconnected [1]. Oslo: {WEATHER}."


@pytest.mark.parametrize("streamed", [False, True], ids=["call", "stream"])
@pytest.mark.parametrize("api", ["completions", "responses"])
def test_a_tool_beside_the_store(mirascope, chat, llm, api, streamed):
    """The model searches and calls ``get_weather`` at once: ragkit runs the search and hands the
    call back; Mirascope runs it (``execute_tools``) and sends its output with ``resume``; the
    answer cites the passage and uses the output."""
    llm.state.tool_script.extend([SEARCH_AND_CALL, {"content": ANSWER}])
    ask = _ask(mirascope, f"{CHAT}:completions" if api == "completions" else CHAT,
               tools=[mirascope.tool(get_weather)])
    if api == "responses" and not streamed:
        with pytest.raises(NotImplementedError, match="file_search_call"):
            ask(QUESTION)  # the output has ragkit's search before the function call
        return
    response = ask.stream(QUESTION) if streamed else ask(QUESTION)
    if streamed:
        response.finish()
    assert [call.name for call in response.tool_calls] == ["get_weather"]
    outputs = response.execute_tools()
    assert [output.result for output in outputs] == [WEATHER]
    answer = response.resume(outputs)
    if streamed:
        answer.finish()
    assert answer.text() == ANSWER and not answer.tool_calls
    bodies = [r["body"] for r in llm.chat_requests()]
    assert {t["function"]["name"] for t in bodies[0]["tools"]} == {"file_search", "get_weather"}
    assert {"role": "tool", "tool_call_id": "call_1_1", "content": WEATHER} in bodies[-1]["messages"]
    assert any(m["role"] == "tool" and "E42" in str(m["content"]) for m in bodies[-1]["messages"])


@pytest.mark.parametrize("mode", ["strict", "json", "tool"])
def test_a_format_over_the_store(mirascope, chat, llm, mode):
    """``format=Warranty`` (``strict`` is Mirascope's default here): the chat model fills the shape
    in from ragkit's passages; ``parse()`` is the model. ``json`` sends ``json_object`` with the
    schema in a system message; ``tool`` names a function the model must call, so ragkit searches
    the question first and the call's arguments are the shape."""
    question = f"How long is the WS-200 warranty ({mode})?"  # its own per mode: no answer cache
    shape = json.dumps({"product": "WS-200", "years": 2})
    if mode == "json":
        llm.state.tool_script.append({"content": shape, "when": '\\"years\\"'})
    elif mode == "tool":
        llm.state.tool_script.append({"tool_calls": [{"name": "__mirascope_formatted_output_tool__",
                                                      "arguments": shape}]})
    ask = _ask(mirascope, f"{CHAT}:completions", format=mirascope.format(Warranty, mode=mode))
    result = ask(question).parse()
    assert isinstance(result, Warranty) and result.years > 0
    if mode != "strict":
        assert result == Warranty(product="WS-200", years=2)
    body = [r["body"] for r in llm.chat_requests()][-1]
    assert any("<source" in str(m["content"]) for m in body["messages"])  # the passages reached it
    if mode == "json":  # Mirascope's formatting instructions, as a system message
        assert any('"years"' in str(m["content"]) for m in body["messages"] if m["role"] == "system")
    if mode == "tool":
        assert body["tool_choice"]["function"]["name"] == "__mirascope_formatted_output_tool__"
    else:
        assert body["response_format"]["type"] == ("json_schema" if mode == "strict" else "json_object")


@pytest.mark.parametrize("api", ["completions", "responses"])
def test_a_format_streamed(mirascope, chat, llm, api):
    """``structured_stream`` yields partial models, then the whole; on the Responses API the format
    goes as ``text.format``, which reaches the chat model as ``response_format``."""
    ask = _ask(mirascope, f"{CHAT}:completions" if api == "completions" else CHAT, format=Warranty)
    stream = ask.stream(f"How long is the WS-200 warranty (streamed, {api})?")
    partials = list(stream.structured_stream())
    assert partials and isinstance(stream.parse(), Warranty) and stream.parse().years > 0
    [body] = [r["body"] for r in llm.chat_requests()]
    assert body["stream"] is True and body["response_format"]["json_schema"]["name"] == "Warranty"
