"""Details an OpenAI client relies on, checked with the stock SDK against a real ``ragkit serve``:
an unknown body field is OpenAI's 400 (a misspelt parameter must not silently fall back to its
default), every optional parameter the SDK sends is still accepted, and search results carry a
file's attributes exactly as they were set (ragkit's page and chunk id sit beside them)."""

from __future__ import annotations

import openai
import pytest
from conftest import CORPUS
from assistant_helpers import client, server  # noqa: F401 - the module's fixtures

pytestmark = pytest.mark.timeout(600)
FAQ = CORPUS / "support-faq.txt"
ATTRIBUTES = {"dept": "support", "year": 2024, "public": True, "weight": 0.5}
QUESTION = "How do I update the firmware?"


@pytest.fixture(scope="module")
def store(client):
    """One store holding the support FAQ, attached with attributes."""
    with open(FAQ, "rb") as handle:
        file_id = client.files.create(file=handle, purpose="assistants").id
    vs = client.vector_stores.create(name="fidelity")
    attached = client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=file_id,
                                                          attributes=ATTRIBUTES, poll_interval_ms=100)
    assert attached.status == "completed", attached.last_error
    return {"id": vs.id, "file": file_id}


def _search_tool(store) -> list[dict]:
    return [{"type": "file_search", "vector_store_ids": [store["id"]]}]


def _chat(client, **kwargs):
    return client.chat.completions.create(model="ragkit-extractive", messages=[{"role": "user", "content": QUESTION}],
                                          **kwargs)


CALLS = {
    "search": lambda c, s, extra: c.vector_stores.search(vector_store_id=s["id"], query=QUESTION, extra_body=extra),
    "vector store create": lambda c, s, extra: c.vector_stores.create(name="x", extra_body=extra),
    "file attach": lambda c, s, extra: c.vector_stores.files.create(vector_store_id=s["id"], file_id=s["file"],
                                                                    extra_body=extra),
    "responses": lambda c, s, extra: c.responses.create(model="ragkit-extractive", input=QUESTION,
                                                        tools=_search_tool(s), extra_body=extra),
    "chat": lambda c, s, extra: _chat(c, extra_body={"vector_store_ids": [s["id"]], **extra}),
    "chat proxied": lambda c, s, extra: _chat(c, extra_body=extra),
    "assistants create": lambda c, s, extra: c.beta.assistants.create(model="gpt-4o", extra_body=extra),
    "threads create": lambda c, s, extra: c.beta.threads.create(extra_body=extra),
    "embeddings": lambda c, s, extra: c.embeddings.create(model="ragkit-embedding", input="hi", extra_body=extra),
    "conversations create": lambda c, s, extra: c.conversations.create(extra_body=extra),
    "input tokens": lambda c, s, extra: c.responses.input_tokens.count(input=QUESTION, extra_body=extra),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_unknown_field_is_openais_400(client, store, call):
    with pytest.raises(openai.BadRequestError) as caught:
        CALLS[call](client, store, {"bogus": 1})
    assert caught.value.body == {"message": "Unrecognized request argument supplied: bogus",
                                 "type": "invalid_request_error", "param": "bogus", "code": "unknown_parameter"}


def test_an_unknown_nested_field_is_named_by_its_path(client, store):
    with pytest.raises(openai.BadRequestError) as caught:
        options = {"score_threshold": 0.1, "foo": 1}
        client.vector_stores.search(vector_store_id=store["id"], query=QUESTION, ranking_options=options)
    assert caught.value.body["message"] == "Unrecognized request argument supplied: ranking_options.foo"
    assert caught.value.body["param"] == "ranking_options.foo"
    with pytest.raises(openai.BadRequestError) as nested:
        message = {"role": "user", "content": "hi", "colour": "red"}
        client.beta.threads.create(messages=[message])
    assert nested.value.body["message"] == "Unrecognized request argument supplied: messages[0].colour"
    with pytest.raises(openai.BadRequestError) as wrong:  # a wrong value is still named as one
        client.vector_stores.search(vector_store_id=store["id"], query=QUESTION, max_num_results=99)
    assert wrong.value.body["code"] == "invalid_value" and wrong.value.body["param"] == "max_num_results"


def test_the_sdks_optional_parameters_are_accepted(client, store):
    chat = _chat(client, user="u-1", metadata={"app": "fidelity"}, seed=7, n=1, stop=None, temperature=0.2,
                 top_p=1, presence_penalty=0, frequency_penalty=0, logit_bias={}, logprobs=False,
                 max_completion_tokens=400, service_tier="auto", store=False, parallel_tool_calls=True,
                 prompt_cache_key="k", safety_identifier="s", reasoning_effort="low", verbosity="low",
                 extra_body={"vector_store_ids": [store["id"]]})
    assert "Firmware" in chat.choices[0].message.content
    streamed = list(_chat(client, stream=True, stream_options={"include_usage": True}, user="u-1",
                          extra_body={"vector_store_ids": [store["id"]]}))
    assert streamed[-1].usage is not None

    response = client.responses.create(
        model="ragkit-extractive", input=QUESTION, tools=_search_tool(store), store=True, user="u-1",
        metadata={"app": "fidelity"}, truncation="auto", include=["file_search_call.results"], temperature=0.2,
        top_p=1, parallel_tool_calls=True, tool_choice="auto", reasoning={"effort": "low"}, service_tier="auto",
        prompt_cache_key="k", safety_identifier="s", max_tool_calls=2, text={"format": {"type": "text"}},
        stream_options={"include_obfuscation": False}, background=False)
    assert "Firmware" in response.output_text

    page = client.vector_stores.search(vector_store_id=store["id"], query=QUESTION, rewrite_query=True,
                                       max_num_results=3, ranking_options={"ranker": "auto", "score_threshold": 0.0})
    assert page.data and page.search_query

    assistant = client.beta.assistants.create(model="gpt-4o", reasoning_effort="low", temperature=0.2, top_p=1,
                                              tools=[{"type": "file_search"}], response_format="auto")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, parallel_tool_calls=True, tool_choice="auto", poll_interval_ms=100,
        tool_resources={"file_search": {"vector_store_ids": [store["id"]]}},
        thread={"messages": [{"role": "user", "content": QUESTION}]})
    assert run.status == "completed", run.last_error
    answer = client.beta.threads.messages.list(thread_id=run.thread_id).data[0]
    assert "Firmware" in answer.content[0].text.value  # the run searched the stores given beside the thread
    thread = client.beta.threads.retrieve(run.thread_id)
    assert thread.tool_resources.file_search.vector_store_ids == [store["id"]]

    embedded = client.embeddings.create(model="ragkit-embedding", input="hi", user="u-1")
    assert embedded.data[0].embedding
    counted = client.responses.input_tokens.count(input=QUESTION, truncation="auto", parallel_tool_calls=True)
    assert counted.input_tokens > 0


def test_a_stored_prompt_is_refused_not_ignored(client, store):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="ragkit-extractive", input=QUESTION, tools=_search_tool(store),
                                prompt={"id": "pmpt_1"})
    assert caught.value.body["param"] == "prompt" and "stored prompts" in caught.value.body["message"]


def test_results_carry_the_files_attributes_unchanged(client, store):
    page = client.vector_stores.search(vector_store_id=store["id"], query=QUESTION, max_num_results=5)
    assert page.data
    for result in page.data:
        assert result.attributes == ATTRIBUTES
        assert result.chunk_id and result.vector_store_id == store["id"]  # ragkit's extras, beside them

    response = client.responses.create(model="ragkit-extractive", input=QUESTION, tools=_search_tool(store),
                                       include=["file_search_call.results"])
    call = next(item for item in response.output if item.type == "file_search_call")
    assert call.results and all(r.attributes == ATTRIBUTES for r in call.results)

    changed = {"dept": "sales"}
    client.vector_stores.files.update(vector_store_id=store["id"], file_id=store["file"], attributes=changed)
    try:
        again = client.vector_stores.search(vector_store_id=store["id"], query=QUESTION, max_num_results=5)
        assert again.data and all(r.attributes == changed for r in again.data)
    finally:
        client.vector_stores.files.update(vector_store_id=store["id"], file_id=store["file"], attributes=ATTRIBUTES)
