"""``ragkit serve`` with an upstream chat model: the test OpenAI-compatible server on 127.0.0.1
(tests/openai_server.py) plays the model, so generation, streaming, proxying and the fallback to
the extractive answer are exercised over real HTTP with no network."""

from __future__ import annotations

import openai
import pytest
from tool_loop_helpers import MODEL, client, server, store  # noqa: F401 - the module's fixtures

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_models_include_the_configured_chat_model(server):
    assert [m.id for m in server.client().models.list()] == ["ragkit-extractive", MODEL, "ragkit-embedding"]
    assert server.client().models.retrieve(MODEL).id == MODEL


def test_responses_with_the_chat_model_cite_and_pass_instructions(server, store, llm):
    client = server.client()
    response = client.responses.create(
        model=MODEL, input="What does error code E42 mean?", instructions="Answer for a field technician.",
        tools=[{"type": "file_search", "vector_store_ids": [store]}])
    text = response.output[1].content[0]
    assert "anemometer" in text.text.lower()
    assert text.annotations and {a.filename for a in text.annotations} <= {"ws200-user-manual.pdf", "support-faq.txt"}
    assert all(a.quote for a in text.annotations)
    assert response.model == MODEL and response.model_extra["ragkit"]["generator"] == "openai"
    [request] = llm.chat_requests()
    system = request["body"]["messages"][0]["content"]
    assert "only the numbered sources" in system and system.endswith("Answer for a field technician.")
    assert response.usage.input_tokens > 0


def test_streamed_chat_completion_over_a_store(server, store, llm):
    chunks = list(server.client().chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": "How do I reset the sensor array?"}],
        stream=True, stream_options={"include_usage": True}, extra_body={"vector_store_ids": [store]}))
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) > 3 and "SYNC" in "".join(deltas)
    assert chunks[-1].usage.completion_tokens > 0
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"][0]
    assert final.choices[0].delta.model_extra["citations"]


def test_without_a_store_the_request_is_proxied_unchanged(server, llm):
    client = server.client()
    messages = [{"role": "user", "content": "Question: what is the weather like?\n"}]
    plain = client.chat.completions.create(model=MODEL, messages=messages, temperature=0.3)
    assert plain.id == "chatcmpl-test" and plain.choices[0].message.content
    assert llm.chat_requests()[-1]["body"] == {"model": MODEL, "messages": messages, "temperature": 0.3}
    streamed = list(client.chat.completions.create(model=MODEL, messages=messages, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == plain.choices[0].message.content
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="other-model", messages=messages)


def test_an_unreachable_model_falls_back_to_the_extractive_answer(server, store, llm):
    llm.state.faults.append(("status", 500))
    response = server.client().responses.create(
        model=MODEL, input="What is the resolution of the rain gauge?",
        tools=[{"type": "file_search", "vector_store_ids": [store]}])
    meta = response.model_extra["ragkit"]
    assert meta["generator"] == "extractive" and any("extractive" in w for w in meta["warnings"])
    assert "0.2" in response.output_text


def test_a_requests_cap_on_answer_tokens_reaches_the_model(server, store, llm):
    client = server.client()
    tools = [{"type": "file_search", "vector_store_ids": [store]}]
    client.responses.create(model=MODEL, input="What does error code E42 mean?", tools=tools, max_output_tokens=40)
    assert llm.chat_requests()[-1]["body"]["max_tokens"] == 40
    # another cap is another answer: not served from the answer cache
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "What does error code E42 mean?"}],
                                   max_completion_tokens=24, extra_body={"vector_store_ids": [store]})
    assert llm.chat_requests()[-1]["body"]["max_tokens"] == 24
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=MODEL, input="x", tools=tools, max_output_tokens=2)
