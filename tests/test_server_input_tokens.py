"""``POST /v1/responses/input_tokens``: the stock SDK's ``responses.input_tokens.count`` gets the
cl100k tokens of a Responses request's input, instructions and function tools."""

from __future__ import annotations

import openai
import pytest
from assistant_helpers import client, server  # noqa: F401 - the module's fixtures

from ragkit.tiktoken_offline import get_encoding


def _tokens(text: str) -> int:
    return len(get_encoding("cl100k_base").encode(text))


def test_the_sdk_counts_input_instructions_and_function_tools(client):
    question = "How long is the warranty on the WS-200 sensor array?"
    alone = client.responses.input_tokens.count(model="ragkit-extractive", input=question)
    assert alone.object == "response.input_tokens" and alone.input_tokens == _tokens(question)

    rules = "Answer in one sentence."
    items = [{"role": "user", "content": question},
             {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city": "Oslo"}'},
             {"type": "function_call_output", "call_id": "c1", "output": "12 degrees and rain"},
             {"role": "user", "content": [{"type": "input_text", "text": "And in Bergen?"}]}]
    tool = {"type": "function", "name": "weather", "description": "Today's weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    counted = client.responses.input_tokens.count(input=items, instructions=rules, tools=[tool]).input_tokens
    with_items = client.responses.input_tokens.count(input=items).input_tokens
    assert with_items > alone.input_tokens + _tokens("12 degrees and rain")  # every item counts
    assert counted > with_items + _tokens(rules)  # and so do the instructions and the tool's definition
    as_parts = [*items[:2], {**items[2], "output": [{"type": "input_text", "text": "12 degrees and rain"}]}, items[3]]
    assert client.responses.input_tokens.count(input=as_parts).input_tokens == with_items  # the text, not its JSON


def test_what_cannot_be_counted_is_a_clear_error(client):
    with pytest.raises(openai.BadRequestError) as earlier:
        client.responses.input_tokens.count(input="and in Bergen?", previous_response_id="resp_123")
    assert earlier.value.body["param"] == "previous_response_id"
    with pytest.raises(openai.BadRequestError) as empty:
        client.responses.input_tokens.count(model="ragkit-extractive")
    assert empty.value.body["param"] == "input"
    with pytest.raises(openai.NotFoundError):
        client.responses.input_tokens.count(model="gpt-nonexistent", input="hello")
