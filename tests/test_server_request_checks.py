"""Values OpenAI refuses are refused here too, with a 400 naming the parameter, instead of being
answered as if a default had been asked for: a ``tool_choice`` that names no offered tool (on
Responses, runs and create-thread-and-run), a search ``ranker`` that does not exist, attachment
tools ragkit does not serve, ``stream_options`` without ``stream``; and a batch body whose fields
contradict each other says so (it had been told its body was "not a JSON object"). A refusal
says why in ragkit's words, also to a client without the Python SDK's ``extra_body``."""

from __future__ import annotations

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


def test_chat_completions_without_a_store_say_how_to_name_one_from_any_client(client):
    """Clients other than the Python SDK have no ``extra_body``: the 400 names the body field and
    the server option."""
    body = _refused(lambda: client.chat.completions.create(
        model="ragkit-extractive", messages=[{"role": "user", "content": QUESTION}]))
    assert body["param"] == "vector_store_ids"
    assert "\"vector_store_ids\" field of the request body" in body["message"]
    assert "--default-vector-store" in body["message"]
