"""Chat completions' tool loop when the client sends the assistant message back its own way: agent
libraries (LangChain, Agno, CrewAI, Semantic Kernel) rebuild it from their record and keep only
OpenAI's fields, dropping ``ragkit.searches``. The server kept the searches under the calls, so the
answer still cites the passages the model read before its function call. A real ``ragkit serve``
whose chat model is the scripted server on 127.0.0.1 (tests/openai_server.py), the stock SDK."""

from __future__ import annotations

import json

import pytest
from server_helpers import e42_and_weather
from tool_loop_helpers import MODEL, client, server, store  # noqa: F401 - the module's fixtures

pytestmark = pytest.mark.timeout(600)
QUESTION = "What does E42 mean, and what is the weather in Oslo?"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def _ask(client, store, messages):
    return client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER],
                                          extra_body={"vector_store_ids": [store]})


def _as_a_library_sends_it_back(message, arguments: str | None = None) -> dict:
    """The assistant message with OpenAI's fields only, the arguments re-serialised (with spaces
    after separators, as ``json.dumps`` writes them) unless given."""
    return {"role": "assistant", "content": message.content or "", "tool_calls": [
        {"id": c.id, "type": "function", "function": {
            "name": c.function.name, "arguments": arguments or json.dumps(json.loads(c.function.arguments))}}
        for c in message.tool_calls]}


def _stop_for_the_weather(client, store, llm):
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}])
    choice = _ask(client, store, [{"role": "user", "content": QUESTION}]).choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.model_extra["ragkit"]["searches"]
    return choice.message


def test_searches_dropped_by_the_client_are_run_again_from_the_server(client, store, llm):
    message = _stop_for_the_weather(client, store, llm)
    [call] = message.tool_calls
    llm.state.tool_script.append(e42_and_weather)
    answer = _ask(client, store, [{"role": "user", "content": QUESTION}, _as_a_library_sends_it_back(message),
                                  {"role": "tool", "tool_call_id": call.id, "content": "cloudy, 12 C"}])
    said = answer.choices[0].message
    assert "anemometer" in said.content and "cloudy, 12 C" in said.content
    [cited] = said.model_extra["citations"]
    assert cited["filename"] == "ws200-user-manual.pdf" and "E42" in cited["quote"]
    assert said.annotations and said.annotations[0].url_citation.title.startswith("ws200-user-manual.pdf")
    last = [r["body"] for r in llm.chat_requests()][-1]["messages"]
    assert [c["function"]["name"] for c in last[2]["tool_calls"]] == ["file_search", "get_weather"]


def test_other_calls_under_the_same_id_bring_back_no_searches(client, store, llm):
    """A model that reuses call ids: the calls must match as well, or nothing is run again."""
    message = _stop_for_the_weather(client, store, llm)
    [call] = message.tool_calls
    llm.state.tool_script.append({"content": "In Bergen it is cloudy."})
    answer = _ask(client, store, [{"role": "user", "content": QUESTION},
                                  _as_a_library_sends_it_back(message, arguments='{"city": "Bergen"}'),
                                  {"role": "tool", "tool_call_id": call.id, "content": "cloudy, 12 C"}])
    assert answer.choices[0].message.content == "In Bergen it is cloudy."
    last = [r["body"] for r in llm.chat_requests()][-1]["messages"]
    assert [c["function"]["name"] for c in last[2]["tool_calls"]] == ["get_weather"]
