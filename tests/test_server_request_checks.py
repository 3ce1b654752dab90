"""Values OpenAI refuses are refused here too, with a 400 naming the parameter, instead of being
answered as if a default had been asked for: a ``tool_choice`` that names no offered tool (on
Responses, runs and create-thread-and-run), a search ``ranker`` that does not exist, attachment
tools ragkit does not serve, ``stream_options`` without ``stream``; and a batch body whose fields
contradict each other says so (it had been told its body was "not a JSON object"). A refusal
says why in ragkit's words, also to a client without the Python SDK's ``extra_body``. A value of
the wrong JSON type (``"max_num_results": "5"``) is OpenAI's "Invalid type" 400, not converted."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from conftest import CORPUS
from offline_server_fixtures import client, server  # noqa: F401 - the module's fixtures

pytestmark = pytest.mark.timeout(600)
QUESTION = "How do I update the firmware?"


@pytest.fixture(scope="module")
def store(client):
    with open(CORPUS / "support-faq.txt", "rb") as handle:
        file_id = client.files.create(file=handle, purpose="assistants").id
    vs = client.vector_stores.create(name="checks")
    attached = client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=file_id, poll_interval_ms=100)
    assert attached.status == "completed", attached.last_error
    return {"id": vs.id, "file": file_id}


def _refused(call) -> dict:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    return caught.value.body


@pytest.mark.parametrize("choice, param", [
    ("bogus", "tool_choice"),
    ({"type": "web_search_preview"}, "tool_choice.type"),
    ({"type": "function", "name": "get_time"}, "tool_choice.name"),
    ({"type": "function"}, "tool_choice.name"),
])
def test_a_responses_tool_choice_naming_no_offered_tool_is_a_400(client, store, choice, param):
    tools = [{"type": "file_search", "vector_store_ids": [store["id"]]}]
    body = _refused(lambda: client.responses.create(model="ragkit-extractive", input=QUESTION, tools=tools,
                                                    tool_choice=choice))
    assert body["param"] == param and "tool_choice" in body["message"]


# "none" rules out file_search, which the offline answerer needs: a 400 (test_server_openai_parity.py)
@pytest.mark.parametrize("choice", ["auto", "required", {"type": "file_search"},
                                    {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "file_search"}]}])
def test_a_responses_tool_choice_offered_is_answered(client, store, choice):
    tools = [{"type": "file_search", "vector_store_ids": [store["id"]]}]
    response = client.responses.create(model="ragkit-extractive", input=QUESTION, tools=tools, tool_choice=choice)
    assert response.status == "completed" and "Firmware" in response.output_text


def test_a_run_tool_choice_naming_no_offered_tool_is_a_400(client, store):
    assistant = client.beta.assistants.create(
        model="gpt-4o", tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store["id"]]}})
    thread = client.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
    cases = [("bogus", "tool_choice"), ({"type": "code_interpreter"}, "tool_choice.type"),
             ({"type": "function", "function": {"name": "get_time"}}, "tool_choice.function.name")]
    for choice, param in cases:
        body = _refused(lambda: client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                                                tool_choice=choice))
        assert body["param"] == param, body
    body = _refused(lambda: client.beta.threads.create_and_run(
        assistant_id=assistant.id, tool_choice="bogus", thread={"messages": [{"role": "user", "content": QUESTION}]}))
    assert body["param"] == "tool_choice"
    assert not client.beta.threads.runs.list(thread_id=thread.id).data  # nothing was started
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   tool_choice={"type": "file_search"}, poll_interval_ms=100)
    assert run.status == "completed", run.last_error


def test_a_search_ranker_that_does_not_exist_is_a_400(client, store):
    body = _refused(lambda: client.vector_stores.search(vector_store_id=store["id"], query=QUESTION,
                                                        ranking_options={"ranker": "bm25"}))
    assert body["param"] == "ranking_options.ranker" and body["code"] == "invalid_value"
    for ranker in ("none", "auto", "default-2024-11-15"):
        page = client.vector_stores.search(vector_store_id=store["id"], query=QUESTION,
                                           ranking_options={"ranker": ranker})
        assert page.data


def test_a_batch_with_both_or_no_file_lists_says_which(client, store):
    both = _refused(lambda: client.vector_stores.file_batches.create(
        vector_store_id=store["id"], file_ids=[store["file"]], files=[{"file_id": store["file"]}]))
    assert both["param"] == "file_ids" and "exactly one of file_ids or files" in both["message"]
    empty = _refused(lambda: client.vector_stores.file_batches.create(vector_store_id=store["id"], files=[]))
    assert empty["param"] == "files" and "at least one file" in empty["message"]
    assert "JSON object" not in both["message"] + empty["message"]


def test_an_attachment_for_code_interpreter_is_a_400_naming_the_tool(client, store):
    thread = client.beta.threads.create()
    attachment = {"file_id": store["file"], "tools": [{"type": "file_search"}, {"type": "code_interpreter"}]}
    body = _refused(lambda: client.beta.threads.messages.create(thread_id=thread.id, role="user", content=QUESTION,
                                                                attachments=[attachment]))
    assert body["param"] == "attachments[0].tools[1].type" and "code_interpreter" in body["message"]
    assert not client.beta.threads.messages.list(thread_id=thread.id).data


def test_stream_options_without_stream_is_a_400(client, store):
    body = _refused(lambda: client.chat.completions.create(
        model="ragkit-extractive", messages=[{"role": "user", "content": QUESTION}],
        stream_options={"include_usage": True}, extra_body={"vector_store_ids": [store["id"]]}))
    assert body["param"] == "stream_options"


def test_a_background_response_is_answered_at_once_and_says_why_it_cannot_be_cancelled(client, store):
    tools = [{"type": "file_search", "vector_store_ids": [store["id"]]}]
    response = client.responses.create(model="ragkit-extractive", input=QUESTION, tools=tools, background=True)
    assert response.background is True and response.status == "completed"  # a polling loop ends at once
    assert client.responses.retrieve(response.id).background is True
    body = _refused(lambda: client.responses.cancel(response.id))
    assert "already 'completed'" in body["message"] and "Only responses created" not in body["message"]
    foreground = client.responses.create(model="ragkit-extractive", input=QUESTION, tools=tools)
    assert foreground.background is False
    assert "background=true" in _refused(lambda: client.responses.cancel(foreground.id))["message"]


def test_structured_output_is_refused_in_plain_words(client, store):
    """``generateObject`` of the Vercel AI SDK asks for ``text.format: json_schema``: the 400 says
    why ragkit cannot, without the validation library's own wording ("Value error, ...")."""
    schema = {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}}}
    body = _refused(lambda: client.responses.create(
        model="ragkit-extractive", input=QUESTION, text=schema,
        tools=[{"type": "file_search", "vector_store_ids": [store["id"]]}]))
    assert body["param"] == "text" and "Value error" not in body["message"]
    assert body["message"].startswith("Invalid value for 'text': structured output (json_schema) is not supported")


def test_a_text_option_openai_has_not_got_is_a_400_naming_it(client, store):
    """AutoGen's ``OpenAIAgent(json_mode=True)`` sends ``text: {"type": "json_object"}``, no field
    of OpenAI's ``text`` (``format``, ``verbosity``): a 400 naming ``text.type``, not a plain-text
    answer to a client that asked for JSON. ``verbosity`` is accepted."""
    tools = [{"type": "file_search", "vector_store_ids": [store["id"]]}]
    body = _refused(lambda: client.responses.create(model="ragkit-extractive", input=QUESTION, tools=tools,
                                                    text={"type": "json_object"}))
    assert body["param"] == "text.type" and body["code"] == "unknown_parameter"
    answered = client.responses.create(model="ragkit-extractive", input=QUESTION, tools=tools,
                                       text={"format": {"type": "text"}, "verbosity": "low"})
    assert answered.status == "completed" and answered.text.format.type == "text"
    assert answered.text.verbosity == "low"  # echoed, as OpenAI's response does


def test_chat_completions_without_a_store_say_how_to_name_one_from_any_client(client):
    """Clients other than the Python SDK have no ``extra_body``: the 400 names the body field and
    the server option."""
    body = _refused(lambda: client.chat.completions.create(
        model="ragkit-extractive", messages=[{"role": "user", "content": QUESTION}]))
    assert body["param"] == "vector_store_ids"
    assert "\"vector_store_ids\" field of the request body" in body["message"]
    assert "--default-vector-store" in body["message"]


# -- values of the wrong JSON type ----------------------------------------------------------------
def _posted(server, path: str, body: dict) -> httpx.Response:
    return httpx.post(server.base_url + path, json=body, timeout=60)


@pytest.mark.parametrize("path, body, param, said", [
    ("/vector_stores/{vs}/search", {"query": QUESTION, "max_num_results": "5"}, "max_num_results",
     "expected an integer, but got a string"),
    ("/vector_stores/{vs}/search", {"query": QUESTION, "rewrite_query": "true"}, "rewrite_query",
     "expected a boolean, but got a string"),
    ("/vector_stores/{vs}/search", {"query": QUESTION, "ranking_options": {"score_threshold": "0.5"}},
     "ranking_options.score_threshold", "expected a number, but got a string"),
    ("/chat/completions", {"messages": [{"role": "user", "content": QUESTION}], "vector_store_ids": ["{vs}"],
                           "temperature": "0.5"}, "temperature", "expected a number, but got a string"),
    ("/chat/completions", {"messages": [{"role": "user", "content": QUESTION}], "vector_store_ids": ["{vs}"],
                           "stream": "true"}, "stream", "expected a boolean, but got a string"),
    ("/chat/completions", {"messages": [{"role": "user", "content": QUESTION}], "vector_store_ids": ["{vs}"],
                           "max_tokens": True}, "max_tokens", "expected an integer, but got a boolean"),
    ("/responses", {"model": "ragkit-extractive", "input": QUESTION, "max_output_tokens": 100.5},
     "max_output_tokens", "expected an integer, but got a decimal number"),
    ("/responses", {"model": "ragkit-extractive", "input": QUESTION,
                    "tools": [{"type": "file_search", "vector_store_ids": ["{vs}"], "max_num_results": "5"}]},
     "tools[0].max_num_results", "expected an integer, but got a string"),
    ("/assistants", {"model": "gpt-4o", "tools": [{"type": "file_search", "file_search": {"max_num_results": "5"}}]},
     "tools[0].file_search.max_num_results", "expected an integer, but got a string"),
    ("/vector_stores", {"expires_after": {"anchor": "last_active_at", "days": "7"}}, "expires_after.days",
     "expected an integer, but got a string"),
    ("/threads", {"messages": [{"role": "user", "content": 5}]}, "messages[0].content",
     "expected a string or an array, but got an integer"),
    ("/embeddings", {"model": "ragkit-embedding", "input": "x", "dimensions": "384"}, "dimensions",
     "expected an integer, but got a string"),
    ("/chat/completions", {"messages": [{"role": "user", "content": QUESTION}], "vector_store_ids": ["{vs}"],
                           "stream": True, "stream_options": {"include_usage": "false"}},
     "stream_options.include_usage", "expected a boolean, but got a string"),
    ("/responses", {"model": "ragkit-extractive", "input": QUESTION, "stream": True,
                    "stream_options": {"include_obfuscation": 0}},
     "stream_options.include_obfuscation", "expected a boolean, but got an integer"),
], ids=["search int", "search bool", "search nested number", "chat number", "chat bool", "chat bool for int",
        "responses fraction", "responses tool", "assistant tool", "store expiry", "thread message", "embeddings",
        "chat stream options", "responses stream options"])
def test_a_value_of_the_wrong_json_type_is_a_400_naming_it(server, store, path, body, param, said):
    """OpenAI refuses ``"max_num_results": "5"`` or ``"stream": "true"`` rather than converting
    them; the 400 names the field by its path in the body, as OpenAI's does."""
    filled = json.loads(json.dumps(body).replace("{vs}", store["id"]))
    refused = _posted(server, path.replace("{vs}", store["id"]), filled)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, "invalid_type", "invalid_request_error")
    assert error["message"] == f"Invalid type for '{param}': {said} instead."


def test_what_openai_accepts_is_still_accepted(client, store):
    """An integer where a number is expected, null for a parameter not given, string, number and
    boolean comparison values in filters: each answered, through the SDK."""
    tools = [{"type": "file_search", "vector_store_ids": [store["id"]], "max_num_results": 5,
              "ranking_options": {"score_threshold": 0, "hybrid_search": {"embedding_weight": 1, "text_weight": 1}}}]
    response = client.responses.create(model="ragkit-extractive", input=QUESTION, tools=tools, temperature=1,
                                       top_p=1, max_output_tokens=None)
    assert response.status == "completed" and response.temperature == 1
    chat = client.chat.completions.create(model="ragkit-extractive", messages=[{"role": "user", "content": QUESTION}],
                                          temperature=0, extra_body={"vector_store_ids": [store["id"]]})
    assert "Firmware" in chat.choices[0].message.content
    matching = {"type": "or", "filters": [{"key": "filename", "type": "eq", "value": "support-faq.txt"},
                                          {"key": "year", "type": "gte", "value": 2024},
                                          {"key": "score", "type": "lt", "value": 0.5},
                                          {"key": "reviewed", "type": "eq", "value": True}]}
    page = client.vector_stores.search(vector_store_id=store["id"], query=QUESTION, filters=matching,
                                       ranking_options={"score_threshold": 0}, max_num_results=3)
    assert page.data and len(page.data) <= 3
    assistant = client.beta.assistants.create(model="gpt-4o", temperature=1, top_p=1,
                                              tools=[{"type": "file_search", "file_search": {"max_num_results": 4}}])
    assert assistant.temperature == 1 and assistant.tools[0].file_search.max_num_results == 4


def test_a_list_limit_that_is_no_integer_is_a_400_naming_limit(server, client):
    """Query strings are text: ``?limit=5`` is the integer 5, ``?limit=abc`` a 400 (never a 422)."""
    for path in ("/vector_stores", "/assistants", "/files"):
        refused = httpx.get(server.base_url + path, params={"limit": "abc"}, timeout=60)
        assert refused.status_code == 400, (path, refused.text)
        assert refused.json()["error"]["param"] == "limit"
        assert httpx.get(server.base_url + path, params={"limit": "5"}, timeout=60).status_code == 200
    assert len(client.vector_stores.list(limit=1).data) == 1


SEVENTEEN = {f"k{n}": "v" for n in range(17)}


@pytest.mark.parametrize("path, body, param", [
    ("/responses", {"input": QUESTION, "tools": [{"type": "file_search", "vector_store_ids": ["{vs}"]}],
                    "metadata": SEVENTEEN}, "metadata"),
    ("/responses", {"input": QUESTION, "tools": [{"type": "file_search", "vector_store_ids": ["{vs}"]}],
                    "metadata": {"note": "x" * 513}}, "metadata"),
    ("/chat/completions", {"model": "ragkit-extractive", "messages": [{"role": "user", "content": QUESTION}],
                           "vector_store_ids": ["{vs}"], "metadata": SEVENTEEN}, "metadata"),
    ("/uploads", {"bytes": 1, "filename": "a.txt", "mime_type": "text/plain", "purpose": "assistants",
                  "expires_after": {"anchor": "last_active_at", "seconds": 3600}}, "expires_after.anchor"),
], ids=["responses 17 keys", "responses long value", "chat 17 keys", "upload anchor"])
def test_metadata_past_openais_limits_and_an_unknown_anchor_are_a_400_naming_them(server, store, path, body, param):
    """Responses and chat completions keep OpenAI's metadata limits (16 keys, 64-character keys,
    512-character string values), as every other object's metadata here does; an upload's
    ``expires_after`` has one anchor, ``created_at``. Each had been accepted as sent."""
    refused = _posted(server, path, json.loads(json.dumps(body).replace("{vs}", store["id"])))
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == param
