"""ragkit's responses against OpenAI's own types, strictly: what a typed SDK checks.

The Python SDK builds its objects leniently (a missing field reads as None), but typed SDKs do
not: openai-java's ``validate()`` throws on a missing required field, an unknown enum value or
an unknown union variant, and the Go and .NET SDKs read into fixed types. Each shape here is
validated with pydantic against the Python SDK's types (generated from the same OpenAPI spec as
openai-java's), so a missing ``first_id``, a status OpenAI does not have or an event type it
never sends fails here. ragkit's own extra fields (``page``, ``quote``, ``citations``, ...) are
allowed, as OpenAI's types allow extra fields.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import CORPUS
from openai import types as t
from openai.types import beta, chat, responses
from openai.types.beta import threads
from pydantic import TypeAdapter
from assistant_helpers import client, server  # noqa: F401 - the module's fixtures

pytestmark = pytest.mark.timeout(600)
QUESTION = "How long is the warranty on the WS-200 sensor array?"


def valid(shape: Any, data: Any) -> Any:
    """``data`` read strictly as ``shape``; a ValidationError names each field that is wrong."""
    TypeAdapter(shape).validate_python(data)
    return data


def raw(call) -> dict[str, Any]:
    """The JSON ragkit sent, not the SDK's lenient reading of it."""
    return json.loads(call().http_response.text)


def events(stream) -> list[tuple[str | None, Any]]:
    """A server-sent event stream as (event name, data) pairs, ``[DONE]`` left out."""
    found, name = [], None
    with stream as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: ") and line != "data: [DONE]":
                found.append((name, json.loads(line[len("data: "):])))
    return found


def valid_list(shape: Any, page: dict[str, Any]) -> list[dict[str, Any]]:
    """A cursor page: openai-java's page types require ``first_id`` and ``last_id`` (strings)
    beside ``data``, ``has_more`` and ``object``."""
    assert page["object"] == "list" and isinstance(page["has_more"], bool)
    assert page["data"], "an empty page says nothing about its items"
    assert page["first_id"] == page["data"][0]["id"] and page["last_id"] == page["data"][-1]["id"]
    return [valid(shape, item) for item in page["data"]]


@pytest.fixture(scope="module")
def store(client):
    """A store with one file attached with attributes and one added by a file batch."""
    with open(CORPUS / "warranty-and-returns.docx", "rb") as handle:
        warranty = valid(t.FileObject, raw(lambda: client.files.with_raw_response.create(file=handle,
                                                                                          purpose="assistants")))
    with open(CORPUS / "ws200-user-manual.pdf", "rb") as handle:
        manual = client.files.create(file=handle, purpose="assistants")
    vs = valid(t.VectorStore, raw(lambda: client.vector_stores.with_raw_response.create(name="shapes")))
    attached = raw(lambda: client.vector_stores.files.with_raw_response.create(
        vector_store_id=vs["id"], file_id=warranty["id"], attributes={"kind": "policy", "year": 2024}))
    valid(t.vector_stores.VectorStoreFile, attached)
    batch = raw(lambda: client.vector_stores.file_batches.with_raw_response.create(vector_store_id=vs["id"],
                                                                                   file_ids=[manual.id]))
    valid(t.vector_stores.VectorStoreFileBatch, batch)
    assert client.vector_stores.files.poll(warranty["id"], vector_store_id=vs["id"],
                                           poll_interval_ms=200).status == "completed"
    assert client.vector_stores.file_batches.poll(batch["id"], vector_store_id=vs["id"],
                                                  poll_interval_ms=200).status == "completed"
    return {"id": vs["id"], "file": warranty["id"], "batch": batch["id"]}


def test_files_stores_and_search(client, store):
    sid = store["id"]
    valid(t.FileObject, raw(lambda: client.files.with_raw_response.retrieve(store["file"])))
    valid_list(t.FileObject, raw(lambda: client.files.with_raw_response.list()))
    valid(t.VectorStore, raw(lambda: client.vector_stores.with_raw_response.retrieve(sid)))
    valid_list(t.VectorStore, raw(lambda: client.vector_stores.with_raw_response.list()))
    attached = valid_list(t.vector_stores.VectorStoreFile,
                          raw(lambda: client.vector_stores.files.with_raw_response.list(vector_store_id=sid)))
    assert {f["status"] for f in attached} == {"completed"}
    valid(t.vector_stores.VectorStoreFileBatch, raw(lambda: client.vector_stores.file_batches.with_raw_response
                                                    .retrieve(store["batch"], vector_store_id=sid)))
    valid_list(t.vector_stores.VectorStoreFile, raw(lambda: client.vector_stores.file_batches.with_raw_response
                                                    .list_files(store["batch"], vector_store_id=sid)))
    page = raw(lambda: client.vector_stores.with_raw_response.search(vector_store_id=sid, query=QUESTION))
    assert page["object"] == "vector_store.search_results.page" and page["search_query"] == [QUESTION]
    assert page["data"] and "next_page" in page and page["has_more"] is False
    for hit in page["data"]:
        valid(t.VectorStoreSearchResponse, hit)


def test_responses_created_retrieved_and_streamed(client, store):
    tools = [{"type": "file_search", "vector_store_ids": [store["id"]]}]
    made = raw(lambda: client.responses.with_raw_response.create(
        model="ragkit-extractive", input=QUESTION, tools=tools, include=["file_search_call.results"]))
    valid(responses.Response, made)
    assert [item["type"] for item in made["output"]] == ["file_search_call", "message"]
    assert made["output"][0]["results"], "include file_search_call.results returned no results"
    notes = made["output"][1]["content"][0]["annotations"]
    assert notes and all(n["type"] == "file_citation" and n["filename"] for n in notes)
    valid(responses.Response, raw(lambda: client.responses.with_raw_response.retrieve(made["id"])))
    streamed = events(client.responses.with_streaming_response.create(
        model="ragkit-extractive", input="Can I extend it?", tools=tools, previous_response_id=made["id"],
        stream=True))
    for name, data in streamed:
        assert name in (None, data["type"])
        valid(responses.ResponseStreamEvent, data)
    assert streamed[-1][1]["type"] == "response.completed"


def test_chat_completions_plain_and_streamed(client, store):
    ask = {"model": "ragkit-extractive", "messages": [{"role": "user", "content": QUESTION}],
           "extra_body": {"vector_store_ids": [store["id"]]}}
    done = valid(chat.ChatCompletion, raw(lambda: client.chat.completions.with_raw_response.create(**ask)))
    assert done["choices"][0]["message"]["citations"]
    chunks = events(client.chat.completions.with_streaming_response.create(
        **ask, stream=True, stream_options={"include_usage": True}))
    for _, chunk in chunks:
        valid(chat.ChatCompletionChunk, chunk)
    assert any(c["choices"] and c["choices"][0]["delta"].get("citations") for _, c in chunks)
    assert chunks[-1][1]["usage"] and not chunks[-1][1]["choices"]


def test_embeddings_as_floats_and_as_base64(client):
    for encoding in ("float", "base64"):
        embedded = raw(lambda: client.embeddings.with_raw_response.create(
            model="ragkit-embedding", input=["a", "b"], encoding_format=encoding))
        if encoding == "float":
            valid(t.CreateEmbeddingResponse, embedded)
        else:  # OpenAI's types say list[float]; the SDKs decode the base64 string themselves
            assert all(isinstance(item["embedding"], str) for item in embedded["data"])
    models = raw(lambda: client.models.with_raw_response.list())  # OpenAI's is a plain list, not a cursor page
    assert models["object"] == "list" and [valid(t.Model, m)["id"] for m in models["data"]][:2] == [
        "ragkit-extractive", "ragkit-embedding"]


def test_an_assistants_run_its_messages_steps_and_stream(client, store):
    assistant = valid(beta.Assistant, raw(lambda: client.beta.assistants.with_raw_response.create(
        model="ragkit-extractive", tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store["id"]]}})))
    thread = valid(beta.Thread, raw(lambda: client.beta.threads.with_raw_response.create(
        messages=[{"role": "user", "content": "What battery does the WS-200 use?"}])))
    run = valid(threads.Run, raw(lambda: client.beta.threads.runs.with_raw_response.create(
        thread_id=thread["id"], assistant_id=assistant["id"])))
    finished = client.beta.threads.runs.poll(run["id"], thread_id=thread["id"], poll_interval_ms=200)
    assert finished.status == "completed"
    valid(threads.Run, raw(lambda: client.beta.threads.runs.with_raw_response.retrieve(run["id"],
                                                                                        thread_id=thread["id"])))
    messages = valid_list(threads.Message, raw(lambda: client.beta.threads.messages.with_raw_response.list(
        thread_id=thread["id"])))
    assert messages[0]["role"] == "assistant" and messages[0]["content"][0]["text"]["annotations"]
    valid_list(threads.runs.RunStep, raw(lambda: client.beta.threads.runs.steps.with_raw_response.list(
        run["id"], thread_id=thread["id"])))
    streamed = events(client.beta.threads.runs.with_streaming_response.create(
        thread_id=thread["id"], assistant_id=assistant["id"], stream=True))
    for name, data in streamed:
        valid(beta.AssistantStreamEvent, {"event": name, "data": data})
    assert streamed[-1][0] == "thread.run.completed"
    valid(beta.ThreadDeleted, raw(lambda: client.beta.threads.with_raw_response.delete(thread["id"])))
    valid(beta.AssistantDeleted, raw(lambda: client.beta.assistants.with_raw_response.delete(assistant["id"])))


def test_deleted_objects(client, store):
    with open(CORPUS / "support-faq.txt", "rb") as handle:
        file_id = client.files.create(file=handle, purpose="assistants").id
    vs = client.vector_stores.create(name="shapes-deleted", file_ids=[file_id])
    valid(t.vector_stores.VectorStoreFileDeleted, raw(lambda: client.vector_stores.files.with_raw_response.delete(
        file_id, vector_store_id=vs.id)))
    valid(t.FileDeleted, raw(lambda: client.files.with_raw_response.delete(file_id)))
    valid(t.VectorStoreDeleted, raw(lambda: client.vector_stores.with_raw_response.delete(vs.id)))
