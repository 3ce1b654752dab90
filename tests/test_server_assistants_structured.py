"""Structured output on the Assistants API: an assistant's or a run's ``response_format``
(``json_schema`` or ``json_object``, chat completions' shape) with the scripted chat model of
tests/openai_server.py behind a real ``ragkit serve``, through the real ``openai`` SDK.

The format is stored on the assistant and the run and returned as given; a run's overrides its
assistant's. It holds in both modes of a run (a grounded answer; the tool loop with the caller's
functions, also after ``submit_tool_outputs``) and streamed. The answer is a text block holding
the model's JSON with no annotations, or a refusal block. Offline it is a 400 naming the field."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import AssistantEventHandler
from openai.types import beta
from pydantic import BaseModel, ConfigDict, TypeAdapter
from server_helpers import Server
from tool_loop_helpers import MODEL, client, server, store  # noqa: F401 - the module's fixtures

from ragkit.answer.loop import FORMAT_NOTE

pytestmark = pytest.mark.timeout(600)


class ErrorCode(BaseModel):
    """The schema's shape, strictly: a missing or extra field, or a wrong type, fails."""

    model_config = ConfigDict(extra="forbid", strict=True)
    code: str
    meaning: str
    passages: int


FORMAT = {"type": "json_schema", "json_schema": {"name": "ErrorCode", "strict": True, "schema": {
    "type": "object", "additionalProperties": False, "required": ["code", "meaning", "passages"],
    "properties": {"code": {"type": "string"}, "meaning": {"type": "string"}, "passages": {"type": "integer"}}}}}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
REPORT = {"code": "E42", "meaning": "the anemometer cable is disconnected [1]", "passages": 1}
OFF_TOPIC = "Who painted the ceiling of the Sistine Chapel?"
REFUSAL = "I could not find the answer in the documents."


def _assistant(client, store: str, *functions, **extra):
    return client.beta.assistants.create(model=MODEL, tools=[{"type": "file_search"}, *functions],
                                         tool_resources={"file_search": {"vector_store_ids": [store]}}, **extra)


def _thread(client, question: str):
    return client.beta.threads.create(messages=[{"role": "user", "content": question}])


def _answer(client, run) -> Any:
    """The run's one content block (the SDK's type)."""
    [message] = client.beta.threads.messages.list(thread_id=run.thread_id, run_id=run.id).data
    [block] = message.content
    return block


def _json(block) -> dict:
    assert block.type == "text" and block.text.annotations == []  # JSON: no citations, no annotations
    return json.loads(block.text.value)


def test_an_assistants_json_schema_gives_json_valid_against_it(client, store, llm):
    assistant = _assistant(client, store, response_format=FORMAT)
    assert assistant.response_format.type == "json_schema" and assistant.response_format.json_schema.name == "ErrorCode"
    stored = client.beta.assistants.retrieve(assistant.id).response_format
    assert stored.model_dump(by_alias=True, exclude_none=True) == FORMAT
    run = client.beta.threads.runs.create_and_poll(thread_id=_thread(client, "What does error code E42 mean?").id,
                                                   assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    assert run.response_format.type == "json_schema"  # the assistant's, as the run was given none
    found = ErrorCode.model_validate(_json(_answer(client, run)))
    assert "anemometer" in found.meaning.lower() and found.passages > 0
    [request] = llm.chat_requests()
    assert request["body"]["response_format"] == FORMAT  # the grounded answer asked in the format
    message = client.beta.threads.messages.list(thread_id=run.thread_id).data[0]
    assert message.model_extra["ragkit"]["citations"] == [] and not message.model_extra["ragkit"]["refused"]


def test_a_runs_format_overrides_the_assistants(client, store, llm):
    assistant = _assistant(client, store)
    assert assistant.response_format == "auto"
    run = client.beta.threads.runs.create_and_poll(thread_id=_thread(client, "What is error code E42?").id,
                                                   assistant_id=assistant.id, response_format=FORMAT)
    assert run.response_format.type == "json_schema"
    assert client.beta.assistants.retrieve(assistant.id).response_format == "auto"  # the run's alone
    ErrorCode.model_validate(_json(_answer(client, run)))

    assistant = client.beta.assistants.update(assistant.id, response_format={"type": "json_object"})
    assert assistant.response_format.type == "json_object"
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Explain error code E42."}]})
    assert run.status == "completed" and run.response_format.type == "json_object"
    assert "anemometer" in _json(_answer(client, run))["answer"].lower()
    assert llm.chat_requests()[-1]["body"]["response_format"] == {"type": "json_object"}

    # text on the run: the assistant's JSON is not asked for, and [n] are checked citations again
    run = client.beta.threads.runs.create_and_poll(thread_id=_thread(client, "E42: what does it mean?").id,
                                                   assistant_id=assistant.id, response_format={"type": "text"})
    assert run.response_format.type == "text"
    block = _answer(client, run)
    assert block.type == "text" and block.text.annotations and "response_format" not in llm.chat_requests()[-1]["body"]


def test_a_question_the_documents_do_not_hold_is_a_refusal_block(client, store, llm):
    run = client.beta.threads.runs.create_and_poll(thread_id=_thread(client, OFF_TOPIC).id,
                                                   assistant_id=_assistant(client, store, response_format=FORMAT).id)
    assert run.status == "completed", run.last_error
    block = _answer(client, run)
    assert block.type == "refusal" and block.refusal == "Not found in the documents."
    assert not llm.chat_requests()  # ragkit refused before asking the model
    message = client.beta.threads.messages.list(thread_id=run.thread_id).data[0]
    assert message.model_extra["ragkit"]["refused"]


def _formatted(body: dict) -> dict:
    """The model's JSON, given only to a request that carries the format and its note."""
    assert body["response_format"] == FORMAT and FORMAT_NOTE in body["messages"][0]["content"]
    return {"content": json.dumps(REPORT)}


def test_a_run_resumed_after_its_function_call_answers_in_the_format(client, store, llm):
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}])
    assistant = _assistant(client, store, WEATHER, response_format=FORMAT)
    run = client.beta.threads.runs.create_and_poll(thread_id=_thread(client, "E42, and the weather in Oslo?").id,
                                                   assistant_id=assistant.id)
    assert run.status == "requires_action", run.last_error
    assert all(r["body"]["response_format"] == FORMAT for r in llm.chat_requests())  # every round
    [call] = run.required_action.submit_tool_outputs.tool_calls
    llm.state.tool_script.append(_formatted)
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=run.thread_id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": "cloudy, 12 C"}])
    assert done.status == "completed", done.last_error
    assert done.response_format.type == "json_schema"
    assert ErrorCode.model_validate(_json(_answer(client, done))) == ErrorCode(**REPORT)  # its [1] kept as sent
    last = llm.chat_requests()[-1]["body"]
    assert last["messages"][-1] == {"role": "tool", "tool_call_id": call.id, "content": "cloudy, 12 C"}
    # the model's own refusal in a tool-loop run is a refusal block too
    llm.state.tool_script.append({"content": None, "refusal": REFUSAL})
    refused = client.beta.threads.runs.create_and_poll(thread_id=_thread(client, "The tallest mountain?").id,
                                                       assistant_id=assistant.id)
    block = _answer(client, refused)
    assert block.type == "refusal" and block.refusal == REFUSAL


def _events(stream) -> list[tuple[str, dict]]:
    """The raw server-sent events as (name, data), ``done`` left out, each valid as the SDK's
    ``AssistantStreamEvent`` read strictly (what a typed SDK checks)."""
    found, name = [], None
    with stream as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: ") and line != "data: [DONE]":
                found.append((name, json.loads(line[len("data: "):])))
    for name, data in found:
        TypeAdapter(beta.AssistantStreamEvent).validate_python({"event": name, "data": data})
    return found


class Collect(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.deltas: list[str] = []
        self.notes: list = []

    def on_text_delta(self, delta, snapshot) -> None:
        self.deltas.append(delta.value or "")
        self.notes.extend(delta.annotations or [])


def test_a_streamed_run_sends_the_json_as_text_deltas_and_a_refusal_as_one(client, store, llm):
    assistant = _assistant(client, store, response_format=FORMAT)
    handler = Collect()
    with client.beta.threads.runs.stream(thread_id=_thread(client, "What does the E42 error code mean?").id,
                                         assistant_id=assistant.id, event_handler=handler) as stream:
        stream.until_done()
        [message] = stream.get_final_messages()
        assert stream.get_final_run().response_format.type == "json_schema"
    assert len(handler.deltas) > 3 and "".join(handler.deltas) == message.content[0].text.value
    ErrorCode.model_validate(_json(message.content[0]))
    assert not handler.notes  # JSON has no checked citations, streamed or not

    streamed = _events(client.beta.threads.runs.with_streaming_response.create(
        thread_id=_thread(client, OFF_TOPIC).id, assistant_id=assistant.id, stream=True))
    deltas = [d["delta"]["content"] for name, d in streamed if name == "thread.message.delta"]
    assert deltas == [[{"index": 0, "type": "refusal", "refusal": "Not found in the documents."}]]
    [completed] = [d for name, d in streamed if name == "thread.message.completed"]
    assert completed["content"] == [{"type": "refusal", "refusal": "Not found in the documents."}]
    assert streamed[-1][0] == "thread.run.completed"

    # the SDK's event handler reads a refusal block too
    with client.beta.threads.runs.stream(thread_id=_thread(client, OFF_TOPIC + " (again)").id,
                                         assistant_id=assistant.id) as stream:
        stream.until_done()
        [message] = stream.get_final_messages()
    assert message.content[0].type == "refusal"


def test_a_malformed_format_or_a_model_without_it_is_a_400(client, store, llm):
    with pytest.raises(openai.BadRequestError) as caught:
        _assistant(client, store, response_format={"type": "json_schema", "json_schema": {"schema": {}}})
    assert caught.value.param == "response_format" and "json_schema.name" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        _assistant(client, store, response_format={"type": "xml"})
    assert caught.value.param == "response_format"
    # the run's model is the extractive answerer, which cannot answer in the assistant's format
    assistant = _assistant(client, store, response_format=FORMAT)
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.create(thread_id=_thread(client, "E42?").id, assistant_id=assistant.id,
                                        model="ragkit-extractive")
    assert caught.value.param == "response_format" and "needs a chat model" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.update(assistant.id, model="ragkit-extractive")
    assert caught.value.param == "response_format"


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("offline") / "home", "--no-auth").start()
    yield running.client()
    running.stop()


def test_offline_a_structured_format_is_a_400_saying_a_chat_model_is_needed(offline):
    with pytest.raises(openai.BadRequestError) as caught:
        offline.beta.assistants.create(model="gpt-4o", response_format=FORMAT)
    assert caught.value.param == "response_format" and "needs a chat model" in caught.value.message
    assistant = offline.beta.assistants.create(model="gpt-4o", response_format={"type": "text"})
    assert assistant.response_format.type == "text"
    with pytest.raises(openai.BadRequestError) as caught:
        offline.beta.assistants.update(assistant.id, response_format={"type": "json_object"})
    assert caught.value.param == "response_format" and "needs a chat model" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        offline.beta.threads.runs.create(thread_id=_thread(offline, "E42?").id, assistant_id=assistant.id,
                                         response_format={"type": "json_object"})
    assert caught.value.param == "response_format" and "needs a chat model" in caught.value.message
