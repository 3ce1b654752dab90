"""OpenAI's API reference as plain HTTP (httpx, no SDK), against a real offline ``ragkit serve``:
the multipart upload, a store made from ``file_ids``, search, Responses with ``file_search`` and
both event streams read line by line, as a client without the SDK reads them. Then the chat
completion options a grounded answer honours (``stop``) and those it cannot (``n`` > 1,
``logprobs``, audio output, web search): a 400 naming the field, never an answer that silently
lacks what was asked for."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from conftest import CORPUS
from offline_server_fixtures import server  # noqa: F401 - fixture

from ragkit.library.answering import count_tokens

pytestmark = pytest.mark.timeout(600)
QUESTION = "How do I update the firmware?"


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def store(http) -> str:
    with open(CORPUS / "support-faq.txt", "rb") as handle:
        uploaded = http.post("/files", data={"purpose": "assistants"},
                             files={"file": ("support-faq.txt", handle, "text/plain")})
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["filename"] == "support-faq.txt" and uploaded.json()["purpose"] == "assistants"
    created = http.post("/vector_stores", json={"name": "faq", "file_ids": [uploaded.json()["id"]]}).json()
    deadline = time.time() + 120
    while http.get(f"/vector_stores/{created['id']}").json()["status"] != "completed":
        assert time.time() < deadline, "the store was not indexed in time"
        time.sleep(0.2)
    return created["id"]


def _events(response: httpx.Response) -> list[tuple[str | None, str]]:
    """Server-sent events as a line reader sees them: (event name or None, data)."""
    assert response.headers["content-type"].startswith("text/event-stream")
    events, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            events.append((name, line[len("data: "):]))
            name = None
    return events


def _chat(http, store: str, **options) -> httpx.Response:
    return http.post("/chat/completions", json={"model": "ragkit-extractive", "vector_store_ids": [store],
                                                "messages": [{"role": "user", "content": QUESTION}], **options})


def test_the_api_references_requests_as_plain_http(http, store):
    found = http.post(f"/vector_stores/{store}/search", json={"query": QUESTION, "max_num_results": 2}).json()
    assert found["object"] == "vector_store.search_results.page" and found["data"][0]["filename"] == "support-faq.txt"
    tool = {"type": "file_search", "vector_store_ids": [store]}
    answered = http.post("/responses", json={"model": "ragkit-extractive", "input": QUESTION, "tools": [tool]}).json()
    assert answered["status"] == "completed" and answered["usage"]["total_tokens"] > 0
    text = answered["output"][-1]["content"][0]["text"]

    with http.stream("POST", "/responses", json={"model": "ragkit-extractive", "input": QUESTION, "tools": [tool],
                                                 "stream": True}) as streamed:
        events = _events(streamed)
    assert all(name == json.loads(data)["type"] for name, data in events)
    kinds = [name for name, _ in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    deltas = "".join(json.loads(d)["delta"] for n, d in events if n == "response.output_text.delta")
    assert deltas == text

    with http.stream("POST", "/chat/completions", json={
            "model": "ragkit-extractive", "vector_store_ids": [store], "stream": True,
            "stream_options": {"include_usage": True}, "messages": [{"role": "user", "content": QUESTION}]}) as chat:
        lines = [data for _, data in _events(chat)]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(data) for data in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == text
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == count_tokens(text)


def test_stop_ends_the_answer_before_the_first_sequence_streamed_or_not(http, store):
    whole = _chat(http, store).json()["choices"][0]["message"]
    assert "[1]" in whole["content"] and whole["citations"]
    stop = whole["content"][len(whole["content"]) // 2:][:6]
    expected = whole["content"][:whole["content"].index(stop)]

    done = _chat(http, store, stop=[stop, "never in the answer"]).json()
    choice = done["choices"][0]
    assert choice["message"]["content"] == expected and choice["finish_reason"] == "stop"
    assert done["usage"]["completion_tokens"] == count_tokens(expected)
    assert bool(choice["message"]["citations"]) == ("[1]" in expected)
    assert _chat(http, store, stop=stop).json()["choices"][0]["message"]["content"] == expected  # a string too

    with http.stream("POST", "/chat/completions", json={
            "model": "ragkit-extractive", "vector_store_ids": [store], "stream": True, "stop": stop,
            "messages": [{"role": "user", "content": QUESTION}]}) as streamed:
        chunks = [json.loads(data) for _, data in _events(streamed)[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == expected
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["ragkit"]["text"] == expected


@pytest.mark.parametrize(("options", "param"), [
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"logprobs": True, "top_logprobs": 2}, "logprobs"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"audio": {"voice": "alloy", "format": "mp3"}, "modalities": ["text", "audio"]}, "audio"),
    ({"web_search_options": {}}, "web_search_options"),
])
def test_chat_options_a_grounded_answer_cannot_honour_are_a_400_naming_them(http, store, options, param):
    refused = _chat(http, store, **options)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["param"] == param and "not supported" in error["message"]
    assert _chat(http, store, n=1, logprobs=False, top_logprobs=0).status_code == 200


@pytest.mark.parametrize(("options", "param"), [
    ({"top_logprobs": 2}, "top_logprobs"),
    ({"include": ["message.output_text.logprobs"]}, "include[0]"),
    ({"temperature": 3}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"text": {"format": {"type": "json_object"}}}, "text"),
])
def test_responses_options_it_cannot_honour_are_a_400_naming_them(http, store, options, param):
    tool = {"type": "file_search", "vector_store_ids": [store]}
    refused = http.post("/responses", json={"model": "ragkit-extractive", "input": QUESTION, "tools": [tool],
                                            **options})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["param"] == param and "Value error" not in error["message"]


def test_a_missing_parameter_is_named_in_openais_words(http, store):
    missing = {"messages": http.post("/chat/completions", json={"model": "ragkit-extractive"}),
               "input": http.post("/responses", json={"model": "ragkit-extractive"}),
               "query": http.post(f"/vector_stores/{store}/search", json={}),
               "purpose": http.post("/files", files={"file": ("a.txt", b"hello", "text/plain")})}
    for param, refused in missing.items():
        assert refused.status_code == 400
        assert refused.json()["error"] == {"message": f"Missing required parameter: '{param}'.", "param": param,
                                           "type": "invalid_request_error", "code": "missing_required_parameter"}


def test_null_for_an_optional_parameter_means_not_given(http, store):
    """As OpenAI reads it; LiteLLM's vector store search sends every optional field, null when unset."""
    found = http.post(f"/vector_stores/{store}/search", json={
        "query": QUESTION, "filters": None, "max_num_results": 2, "ranking_options": None, "rewrite_query": None})
    assert found.status_code == 200, found.text
    assert len(found.json()["data"]) == 2 and found.json()["search_query"] == [QUESTION]
    chat = _chat(http, store, stream=None, n=None, temperature=None)
    assert chat.status_code == 200, chat.text
    tool = {"type": "file_search", "vector_store_ids": [store]}
    answered = http.post("/responses", json={"model": "ragkit-extractive", "input": QUESTION, "tools": [tool],
                                             "stream": None, "store": None, "include": None})
    assert answered.status_code == 200, answered.text
    assert answered.json()["store"] is True and answered.json()["status"] == "completed"


def test_offline_a_function_is_refused_under_the_name_it_came_by(http, store):
    function = {"name": "station_status", "parameters": {"type": "object", "properties": {}}}
    reply = [{"role": "user", "content": QUESTION},
             {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                   "function": {"name": "station_status", "arguments": "{}"}}]},
             {"role": "tool", "tool_call_id": "c1", "content": "ok"}]
    for options, param in (({"tools": [{"type": "function", "function": function}]}, "tools"),
                           ({"functions": [function]}, "functions"), ({"messages": reply}, "messages")):
        refused = _chat(http, store, **options)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == param
        assert "need a chat model" in refused.json()["error"]["message"]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("OPTIONS", "/files", "GET, POST"),
    ("PUT", "/vector_stores/{store}", "GET, POST, DELETE"),
    ("DELETE", "/chat/completions", "GET, POST"),
    ("GET", "/responses", "POST"),
])
def test_a_method_the_url_does_not_serve_is_a_405_allowing_all_it_does(http, store, method, path, allowed):
    """Starlette's 405 named only the first matching route's methods (``OPTIONS /v1/files`` was
    told ``Allow: POST``, though GET lists files), in words that did not say what to use."""
    refused = http.request(method, path.format(store=store))
    assert refused.status_code == 405 and refused.headers["allow"] == allowed
    error = refused.json()["error"]
    assert error["code"] == "method_not_allowed" and error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"{method} is not allowed on /v1/") and allowed.split(", ")[-1] in error["message"]


def test_a_streamed_answers_citations_are_in_the_last_chunks_own_fields_too(http, store):
    """LiteLLM keeps a chunk's extra fields (``chunk.ragkit``) but drops a delta's, so the citations
    of a streamed answer only reached its callers once the last chunk's ``ragkit`` carried them."""
    with http.stream("POST", "/chat/completions", json={
            "model": "ragkit-extractive", "vector_store_ids": [store], "stream": True,
            "stream_options": {"include_usage": True}, "messages": [{"role": "user", "content": QUESTION}]}) as chat:
        chunks = [json.loads(data) for _, data in _events(chat)[:-1]]
    last = next(c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"])
    cited = last["choices"][0]["delta"]["citations"]
    assert cited and cited[0]["filename"] == "support-faq.txt" and cited[0]["quote"]
    assert last["ragkit"]["citations"] == cited
    assert _chat(http, store).json()["choices"][0]["message"]["citations"] == cited


def test_legacy_completions_say_to_send_the_prompt_to_chat_completions(http, store):
    """LiteLLM's ``text_completion`` for ``openai/<model>`` posts a prompt to /v1/completions for a
    model it does not know as a chat model; that was a bare "Unknown request URL"."""
    refused = http.post("/completions", json={"model": "ragkit-extractive", "prompt": QUESTION,
                                              "vector_store_ids": [store]})
    assert refused.status_code == 404
    error = refused.json()["error"]
    assert error["code"] == "unsupported_endpoint" and error["type"] == "invalid_request_error"
    assert "legacy completions (POST /v1/completions)" in error["message"]
    assert "user message to POST /v1/chat/completions" in error["message"]


def test_a_file_search_tool_on_chat_completions_says_where_the_stores_go(http, store):
    """The Responses tool sent to chat completions (LiteLLM's ``completion(tools=[...])`` passes
    it on) was told to give function tools, as if the stores it names were not searched."""
    refused = _chat(http, store, tools=[{"type": "file_search", "vector_store_ids": [store]}])
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["param"] == "tools[0]"
    assert "Responses API" in error["message"] and "vector_store_ids" in error["message"]
