"""``/v1/responses`` as the Vercel AI SDK drives it: the earlier output items of a stored response
come back as ``{"type": "item_reference", "id": ...}`` (the SDK's default, ``store: true``),
every response reports its ``usage``, also one that ends with a function call, and a failed
response's ``error`` has the fields the SDK parses.

OpenAI's API reference: an input item may be an item reference (``id``, ``type:
"item_reference"`` or no type) naming an item of an earlier response, an unknown one is a 404
``Item with id '...' not found.``; a completed response has ``usage`` (``input_tokens``,
``output_tokens``, ``total_tokens``). A real ``ragkit serve`` whose chat model is the scripted
test server (tests/openai_server.py), driven with the stock SDK."""

from __future__ import annotations

import json

import openai
import pytest
from tool_loop_helpers import MODEL, client, server, store  # noqa: F401 - the module's fixtures

pytestmark = pytest.mark.timeout(600)
STATUS = {"type": "function", "name": "station_status", "description": "Live status of a weather station.",
          "parameters": {"type": "object", "properties": {"station_id": {"type": "string"}},
                         "required": ["station_id"]}}
SEARCH_E42 = {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]}
CALL = {"tool_calls": [{"name": "station_status", "arguments": {"station_id": "OSL-7"}}]}
QUESTION = "What is wrong with station OSL-7?"


def _reference(item) -> dict:
    return {"type": "item_reference", "id": item.id}


def _as_sent(call) -> dict:
    """A function call as the AI SDK sends it back: without its item id."""
    return {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments}


def _usage_is_counted(usage) -> None:
    assert usage is not None
    assert usage.input_tokens > 0 and usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_a_response_ending_with_a_function_call_reports_its_usage(client, store, llm):
    llm.state.tool_script.extend([CALL, CALL])
    tools = [{"type": "file_search", "vector_store_ids": [store]}, STATUS]
    done = client.responses.create(model=MODEL, input=QUESTION, tools=tools)
    assert done.output[-1].type == "function_call"
    _usage_is_counted(done.usage)
    events = list(client.responses.create(model=MODEL, input=QUESTION, tools=tools, stream=True))
    assert events[-1].type == "response.completed"
    _usage_is_counted(events[-1].response.usage)


def test_a_reference_to_the_search_before_a_function_call_resumes_the_loop(client, store, llm):
    """One ``generateText`` with ``file_search`` and a function: the model searches, then calls
    the function; the SDK runs it and sends the user message, a reference to the search, the
    call and its output. The answer cites the passage the earlier search found."""
    llm.state.tool_script.extend([
        SEARCH_E42, CALL,
        lambda body: {"content": "The anemometer cable is disconnected [1]. Status: "
                                 + [m["content"] for m in body["messages"] if m["role"] == "tool"][-1]}])
    tools = [{"type": "file_search", "vector_store_ids": [store]}, STATUS]
    first = client.responses.create(model=MODEL, input=[{"role": "user", "content": QUESTION}], tools=tools)
    searched, call = first.output
    assert (searched.type, call.type) == ("file_search_call", "function_call")
    answer = client.responses.create(model=MODEL, tools=tools, input=[
        {"role": "user", "content": QUESTION}, _reference(searched), _as_sent(call),
        {"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"last_error": "E42"})}])
    assert answer.status == "completed", answer.error
    assert '"last_error": "E42"' in answer.output_text
    [note] = answer.output[-1].content[0].annotations
    assert note.type == "file_citation" and note.model_extra["quote"] and "E42" in note.model_extra["quote"]
    sent = [r["body"]["messages"] for r in llm.chat_requests()][-1]
    assert [m["role"] for m in sent].count("user") == 1  # the question once, from the stored chat
    assert [c["id"] for m in sent for c in m.get("tool_calls") or []].count(call.call_id) == 1


def test_references_to_an_earlier_answer_are_its_turn_in_a_follow_up(client, store, llm):
    """The next user turn: the SDK sends the first question, references to the search and the
    answer, then the follow-up; it is searched as when the answer itself is sent (store: false)."""
    tools = [{"type": "file_search", "vector_store_ids": [store]}]
    ask = "What battery does the sensor array use?"
    first = client.responses.create(model=MODEL, input=[{"role": "user", "content": ask}], tools=tools)
    searched, said = first.output
    follow = {"role": "user", "content": "How long does it last?"}
    alone = client.responses.create(model=MODEL, input=[follow], tools=tools)
    by_reference = client.responses.create(model=MODEL, tools=tools, input=[
        {"role": "user", "content": ask}, _reference(searched), {"id": said.id}, follow])
    in_full = client.responses.create(model=MODEL, tools=tools, store=False, input=[
        {"role": "user", "content": ask}, {"role": "assistant", "content": first.output_text}, follow])
    query = by_reference.model_extra["ragkit"]["search_query"]
    assert query == in_full.model_extra["ragkit"]["search_query"]
    assert query != alone.model_extra["ragkit"]["search_query"] and "battery" in query.lower()
    listed = [i.type for i in client.responses.input_items.list(by_reference.id, order="asc").data]
    assert listed == ["message", "message", "message"]


def test_an_unknown_reference_is_a_404_naming_the_input(client, store, llm):
    tools = [{"type": "file_search", "vector_store_ids": [store]}]
    for missing in ("msg_0123456789abcdef0123456789abcdef", "fs_nope"):
        with pytest.raises(openai.NotFoundError) as caught:
            client.responses.create(model=MODEL, tools=tools, input=[
                {"type": "item_reference", "id": missing}, {"role": "user", "content": "And then?"}])
        assert caught.value.body["message"] == f"Item with id '{missing}' not found." and caught.value.param == "input"
    with pytest.raises(openai.NotFoundError):  # with function tools too
        client.responses.create(model=MODEL, tools=[*tools, STATUS], input=[
            {"type": "item_reference", "id": "fc_0123456789abcdef0123456789abcdef_0"},
            {"role": "user", "content": "And then?"}])


def test_a_failed_response_error_has_the_fields_of_every_error_object(client, store, llm):
    """A failed response's ``error`` holds OpenAI's ``code`` and ``message`` and, as every other
    error object of the API, ``type`` and ``param``: the AI SDK parses it with that shape and,
    without ``type``, reports 'Invalid JSON response' instead of the message."""
    llm.state.tool_script.append({"tool_calls": [{"name": "nope", "arguments": {}}], "repeat": True})
    failed = client.responses.create(model=MODEL, input="Loop forever", tools=[STATUS])
    streamed = list(client.responses.create(model=MODEL, input="Loop forever", tools=[STATUS], stream=True))[-1]
    assert streamed.type == "response.failed"
    for response in (failed, streamed.response):
        assert response.status == "failed"
        error = response.error.model_dump()
        assert error["code"] == "server_error" and "kept calling tools" in error["message"]
        assert error["type"] == "server_error" and error["param"] is None


def test_an_input_item_field_of_the_wrong_json_type_is_a_400_naming_it(client, store, llm):
    """OpenAI's input items have typed fields: a function call's ``name`` and ``arguments`` are
    strings, an output a string or content parts, an ``id`` a string. Another type is its
    "Invalid type" 400 naming the field, refused before the model runs; it had been a 500 (the
    conversation could not store a list or an object; a list ``id`` went into a set)."""
    tools = [{"type": "file_search", "vector_store_ids": [store]}, STATUS]
    call = {"type": "function_call", "call_id": "call_1", "name": "station_status", "arguments": "{}"}
    output = {"type": "function_call_output", "call_id": "call_1", "output": "online"}
    for place, wrong, said in ((1, {"arguments": {"station_id": "OSL-7"}}, "an object"),
                               (1, {"name": ["station_status"]}, "an array"),
                               (1, {"id": ["fc_1"]}, "an array"),
                               (2, {"output": {"status": "online"}}, "an object")):
        items = [{"role": "user", "content": QUESTION}, call, output]
        items[place] = items[place] | wrong
        name = next(iter(wrong))
        for conversation in ({}, {"conversation": client.conversations.create().id}):
            with pytest.raises(openai.BadRequestError) as caught:
                client.responses.create(model=MODEL, input=items, tools=tools, **conversation)
            assert caught.value.param == f"input[{place}].{name}" and caught.value.code == "invalid_type"
            assert f"but got {said} instead" in caught.value.message
    assert not llm.chat_requests()


def test_an_input_with_an_item_id_twice_is_a_400_naming_the_second(client, store, llm):
    """One id names one item (in the response's input items and any conversation): the same id
    twice is OpenAI's "Duplicate item found" 400, before the model runs, with or without a
    conversation."""
    tools = [{"type": "file_search", "vector_store_ids": [store]}, STATUS]
    call = {"type": "function_call", "call_id": "call_1", "name": "station_status", "arguments": "{}", "id": "fc_1"}
    output = {"type": "function_call_output", "call_id": "call_1", "output": "online"}
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input=[{"role": "user", "content": QUESTION}, call, call, output],
                                tools=tools)
    assert caught.value.param == "input[2].id" and caught.value.code == "duplicate_item"
    assert not llm.chat_requests()
