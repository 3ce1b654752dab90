"""BAML (PyPI ``baml-py``) against a real ``ragkit serve``: a client of the OpenAI API with its own
HTTP stack (the runtime is Rust), so what it sends is not the ``openai`` SDK's (docs/clients.md has
what works and what does not).

The BAML source below is generated into a Python client at test time (``baml-cli generate``, the
command the package ships, offline), never committed. Its client is ``openai-generic`` pointed at
ragkit's chat completions; BAML sends every option it does not know itself as a body field, so
``vector_store_ids`` names the store. Checked:

* a function returning a string, answered offline by the extractive answerer, from the client of
  the ``.baml`` file (its options read from ``env``) and from a ``ClientRegistry`` (``openai`` and
  ``openai-generic``); ragkit's ``citations`` and ``url_citation`` annotations are not part of a
  BAML result, but a ``Collector`` keeps the raw HTTP response (each SSE chunk when streamed), and
  the modular API (``b.request``, then ``b.parse``) leaves the HTTP call to the caller;
* the ``openai-responses`` provider with a ``file_search`` tool as a client option;
* a chat history as the function's messages, the follow-up made standalone by ragkit;
* a function returning a class: BAML writes the schema into the prompt and parses the text
  (no ``response_format``), so offline the quoted answer does not parse (``BamlValidationError``),
  and ``response_format`` given as a client option is ragkit's 400 naming the chat model; with a
  chat model behind ragkit (the scripted test server, tests/openai_server.py) the class is filled
  in from the passages, called and streamed.

Skipped when ``baml-py`` is not installed (``pip install baml-py``; not in the ``examples`` extra).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from server_helpers import Server, chat_model_server, manuals_store
from tool_loop_helpers import MODEL

pytestmark = pytest.mark.timeout(600)
E42 = "Error code E42 means the anemometer cable is disconnected."
FILES = ["ws200-user-manual.pdf", "warranty-and-returns.docx"]

#: the BAML source: a client over ragkit (options from the environment), a string function, a chat
#: history function and a class function
SOURCE = """
generator target {
  output_type "python/pydantic"
  output_dir "../"
  version "VERSION"
  default_client_mode "sync"
}

client<llm> Ragkit {
  provider "openai-generic"
  options {
    base_url env.RAGKIT_BASE_URL
    api_key env.RAGKIT_API_KEY
    model env.RAGKIT_CHAT_MODEL
    vector_store_ids [env.RAGKIT_VECTOR_STORE_ID]
  }
}

function Ask(question: string) -> string {
  client Ragkit
  prompt #"
    {{ _.role("system") }}Answer from the manuals.
    {{ _.role("user") }}{{ question }}
  "#
}

class Turn {
  role "user" | "assistant"
  content string
}

function Chat(turns: Turn[]) -> string {
  client Ragkit
  prompt #"
    {% for turn in turns %}{{ _.role(turn.role) }}{{ turn.content }}{% endfor %}
  "#
}

class Warranty {
  product string
  years int
}

function ExtractWarranty(question: string) -> Warranty {
  client Ragkit
  prompt #"
    {{ _.role("user") }}{{ question }}
    {{ ctx.output_format }}
  "#
}
"""


@pytest.fixture(scope="module")
def baml(tmp_path_factory) -> Any:
    """The generated client (``baml_client``), from ``SOURCE`` in a temporary directory. Skips
    before the servers start when BAML is absent. Boundary's own variables are cleared, so the
    runtime reports nowhere (it only reaches the ``base_url`` of its clients)."""
    pytest.importorskip("baml_py", reason="pip install baml-py")
    cli = shutil.which("baml-cli", path=str(Path(sys.executable).parent)) or shutil.which("baml-cli")
    if cli is None:
        pytest.skip("baml-cli (from baml-py) is not on PATH")
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("BOUNDARY_")}
    root = tmp_path_factory.mktemp("baml")
    (root / "baml_src").mkdir()
    version = importlib.metadata.version("baml-py")
    (root / "baml_src" / "ragkit.baml").write_text(SOURCE.replace("VERSION", version))
    done = subprocess.run([cli, "generate", "--from", str(root / "baml_src")], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("baml_client")
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "baml_client" or m.startswith("baml_client.")]:
            del sys.modules[name]
        os.environ.update(saved)


@pytest.fixture(scope="module")
def offline(baml, tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("baml-offline") / "home", "--no-auth").start()
    server.store = manuals_store(server.client(), FILES)  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chat(baml, tmp_path_factory, openai_server):
    server = chat_model_server(tmp_path_factory.mktemp("baml-chat") / "home", openai_server.url, MODEL)
    server.store = manuals_store(server.client(), FILES)  # type: ignore[attr-defined]
    yield server
    server.stop()


def _env(server: Server, model: str = "ragkit-extractive") -> dict[str, str]:
    """What the ``.baml`` client reads: ``b.with_options(env=...)`` sets it per call."""
    return {"RAGKIT_BASE_URL": server.base_url, "RAGKIT_API_KEY": "none", "RAGKIT_CHAT_MODEL": model,
            "RAGKIT_VECTOR_STORE_ID": server.store}  # type: ignore[attr-defined]


def _registry(server: Server, provider: str = "openai-generic", model: str = "ragkit-extractive",
              store: bool = True, **options: Any) -> Any:
    """A ``ClientRegistry`` whose primary client is ragkit: BAML's way to set a client at run time.
    ``store`` names the server's store in ``vector_store_ids``, a chat completions field."""
    from baml_py import ClientRegistry

    if store:
        options["vector_store_ids"] = [server.store]  # type: ignore[attr-defined]
    registry = ClientRegistry()
    registry.add_llm_client("Ragkit", provider, {"base_url": server.base_url, "api_key": "none", "model": model,
                                                 **options})
    registry.set_primary("Ragkit")
    return registry


@pytest.mark.parametrize("client", ["baml_file", "openai-generic", "openai"])
def test_a_string_function_over_a_store_and_the_citations_in_a_collector(baml, offline, client):
    """The option BAML does not know goes into the body as it is; the answer is the string, with
    its ``[n]``, and the ``Collector`` has the raw response with ragkit's ``citations`` and
    ``url_citation`` annotations (not part of a BAML result). The ``openai`` provider sends the
    same request with the text as content parts."""
    from baml_py import Collector

    collector = Collector(name="ragkit")
    options = {"env": _env(offline)} if client == "baml_file" else {"client_registry": _registry(offline, client)}
    answer = baml.b.with_options(collector=collector, **options).Ask("What does error E42 mean?")
    assert E42 in answer and answer.endswith("[1]")
    [call] = collector.last.calls
    sent = call.http_request.body.json()
    assert sent["vector_store_ids"] == [offline.store] and sent["model"] == "ragkit-extractive"
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    if client == "openai":
        assert sent["messages"][1]["content"] == [{"type": "text", "text": "What does error E42 mean?"}]
    message = call.http_response.body.json()["choices"][0]["message"]
    [cited] = message["citations"]
    assert cited["filename"] == "ws200-user-manual.pdf" and cited["page"] == 4 and cited["quote"] == E42
    [note] = message["annotations"]
    assert note["url_citation"]["title"] == "ws200-user-manual.pdf, page 4"
    assert collector.last.usage.input_tokens > 0 and collector.last.usage.output_tokens > 0


@pytest.mark.parametrize("client", ["baml_file", "openai"])
def test_a_streamed_function_and_its_citations_in_the_last_chunk(baml, offline, client):
    """``b.stream``: partial strings, then the final one; the SSE chunks in the ``Collector``,
    the last answer chunk's delta with the ``citations``. The ``openai`` provider asks for the
    usage chunk (``stream_options``), ``openai-generic`` does not, and has no usage then."""
    from baml_py import Collector

    collector = Collector(name="ragkit")
    options = {"env": _env(offline)} if client == "baml_file" else {"client_registry": _registry(offline, client)}
    stream = baml.b.with_options(collector=collector, **options).stream.Ask("What is the warranty period?")
    partials = [partial for partial in stream if partial]
    final = stream.get_final_response()
    assert partials and "warranty" in final.lower() and "[1]" in final
    [call] = collector.last.calls
    sent = call.http_request.body.json()
    assert sent["stream"] is True
    assert sent.get("stream_options") == ({"include_usage": True} if client == "openai" else None)
    assert (collector.last.usage.output_tokens is not None) == (client == "openai")
    chunks = [chunk.json() for chunk in call.sse_responses() or [] if chunk.text.strip() != "[DONE]"]
    cited = [c for chunk in chunks for choice in chunk["choices"] for c in choice["delta"].get("citations") or []]
    assert cited and cited[0]["filename"] == "warranty-and-returns.docx" and cited[0]["quote"] in final


def test_the_modular_api_keeps_the_whole_completion(baml, offline):
    """``b.request`` builds BAML's HTTP request without sending it and ``b.parse`` parses a reply:
    sent with any HTTP client, the completion keeps ragkit's ``citations`` beside BAML's result."""
    import httpx

    request = baml.b.with_options(env=_env(offline)).request.Ask("What does error E42 mean?")
    assert request.url == offline.base_url + "/chat/completions"
    reply = httpx.request(request.method, request.url, headers=request.headers, json=request.body.json(),
                          timeout=120).json()
    message = reply["choices"][0]["message"]
    assert E42 in baml.b.parse.Ask(message["content"])
    assert message["citations"][0]["quote"] == E42


def test_the_openai_responses_provider_with_a_file_search_tool(baml, offline):
    """BAML's ``openai-responses`` provider posts to ``/responses``; the ``file_search`` tool goes
    as a client option, and the ``file_citation`` annotations (ragkit's ``page`` and ``quote``) are
    in the raw response. Streamed, the text arrives as BAML's partial strings."""
    from baml_py import Collector
    from baml_py.errors import BamlClientHttpError

    with pytest.raises(BamlClientHttpError, match="Unrecognized request argument supplied: vector_store_ids"):
        baml.b.with_options(client_registry=_registry(offline, "openai-responses")).Ask("E42?")  # as at OpenAI
    registry = _registry(offline, "openai-responses", store=False,
                         tools=[{"type": "file_search", "vector_store_ids": [offline.store]}])
    collector = Collector(name="ragkit")
    client = baml.b.with_options(client_registry=registry, collector=collector)
    answer = client.Ask("What does error E42 mean?")
    assert E42 in answer
    [call] = collector.last.calls
    assert call.http_request.url.endswith("/v1/responses")
    search, message = call.http_response.body.json()["output"]
    assert search["type"] == "file_search_call"
    [note] = message["content"][0]["annotations"]
    assert note["type"] == "file_citation" and note["page"] == 4 and note["quote"] == E42
    stream = client.stream.Ask("What does error E42 mean?")
    assert [partial for partial in stream] and E42 in stream.get_final_response()


def test_a_chat_history_as_messages_makes_the_follow_up_standalone(baml, offline):
    """The earlier turns go as messages; ragkit searches the follow-up made standalone."""
    from baml_py import Collector

    collector = Collector(name="ragkit")
    client = baml.b.with_options(env=_env(offline), collector=collector)
    first = client.Ask("What does error E42 mean?")
    turns = [baml.types.Turn(role="user", content="What does error E42 mean?"),
             baml.types.Turn(role="assistant", content=first),
             baml.types.Turn(role="user", content="How do I fix it?")]
    follow_up = client.Chat(turns)
    assert "E42" in follow_up or "cable" in follow_up
    body = collector.last.calls[-1].http_response.body.json()
    assert "E42" in body["ragkit"]["search_query"]  # "it" read from the earlier turns


def test_a_class_function_offline_does_not_parse_and_response_format_is_a_400(baml, offline):
    """BAML asks for a class in the prompt (``ctx.output_format``) and parses the text: the quoted
    answer has no JSON, so BAML raises its validation error with the raw output. Given as a client
    option, ``response_format`` reaches ragkit, which says structured output needs a chat model;
    an unknown store is ragkit's 404, as BAML's HTTP error with the status and the message."""
    from baml_py import Collector
    from baml_py.errors import BamlClientHttpError, BamlValidationError

    collector = Collector(name="ragkit")
    with pytest.raises(BamlValidationError) as parsed:
        baml.b.with_options(env=_env(offline), collector=collector).ExtractWarranty("How long is the WS-200 warranty?")
    assert "Missing required field" in parsed.value.message and parsed.value.raw_output
    sent = collector.last.calls[-1].http_request.body.json()
    assert "response_format" not in sent and "years: int" in sent["messages"][-1]["content"]
    searched = collector.last.calls[-1].http_response.body.json()["ragkit"]["search_query"]
    assert "years: int" in searched  # the schema is part of the question ragkit searches

    registry = _registry(offline, response_format={"type": "json_object"})
    with pytest.raises(BamlClientHttpError) as refused:
        baml.b.with_options(client_registry=registry).ExtractWarranty("How long is the WS-200 warranty?")
    assert refused.value.status_code == 400 and "needs a chat model" in refused.value.message

    with pytest.raises(BamlClientHttpError) as missing:
        baml.b.with_options(env={**_env(offline), "RAGKIT_VECTOR_STORE_ID": "vs_missing"}).Ask("E42?")
    assert missing.value.status_code == 404 and "No vector store found with id 'vs_missing'" in missing.value.message


WARRANTY = {"product": "WS-200", "years": 2}


@pytest.mark.parametrize("how", ["call", "stream", "json_object"])
def test_a_class_function_with_a_chat_model(baml, chat, llm, how):
    """The chat model gets ragkit's passages and BAML's schema in the question and answers JSON,
    which BAML parses into the class (streamed: partial classes, then the whole). With
    ``response_format`` as a client option the chat model is asked for ``json_object`` too."""
    question = f"How long is the WS-200 warranty ({how})?"  # its own per case: no answer cache
    llm.state.tool_script.append({"content": json.dumps(WARRANTY), "when": "years: int"})
    if how == "json_object":
        client = baml.b.with_options(client_registry=_registry(chat, model=MODEL,
                                                               response_format={"type": "json_object"}))
    else:
        client = baml.b.with_options(env=_env(chat, MODEL))
    if how == "stream":
        # the async client: BAML's sync stream holds the GIL while it waits, which would starve the
        # scripted model server running in a thread of this process (a real model is elsewhere)
        from baml_client.async_client import b as async_b

        async def streamed() -> tuple[list[Any], Any]:
            stream = async_b.with_options(env=_env(chat, MODEL)).stream.ExtractWarranty(question)
            return [partial async for partial in stream], await stream.get_final_response()

        partials, result = asyncio.run(streamed())
        assert partials and partials[0].years is None  # partial classes first, then the whole
    else:
        result = client.ExtractWarranty(question)
    assert result == baml.types.Warranty(**WARRANTY)
    [body] = [r["body"] for r in llm.chat_requests()]
    prompt = json.dumps(body["messages"])
    assert "<source" in prompt and "warranty" in prompt.lower() and "years: int" in prompt
    assert ("response_format" in body) == (how == "json_object")
