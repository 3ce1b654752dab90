"""Structured output in a turn of the tool loop: function tools (or tool results) beside
chat completions' ``response_format`` or Responses' ``text.format``, as an agent with tools and an
output type sends them. The format goes with every call to the model (the scripted test model
checks it), the answer is the model's JSON without citations, and its refusal is OpenAI's."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel
from tool_loop_helpers import MODEL, client, server, store  # noqa: F401 - the module's fixtures

from ragkit.answer.loop import FORMAT_NOTE

pytestmark = pytest.mark.timeout(600)
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city now.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
#: the SDK's ``parse`` takes strict functions only
CHAT_WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.", "strict": True,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}
REFUSAL = "I could not find the answer in the documents."


class Report(BaseModel):
    code: str
    meaning: str
    weather: str


REPORT = {"code": "E42", "meaning": "the anemometer cable is disconnected [1]", "weather": "cloudy, 12 C"}


def _formatted(body: dict, name: str = "Report") -> dict:
    """The model's JSON answer, given only when the request carries the format (``name``: the
    schema's, as the client names it) and its note."""
    assert body["response_format"]["type"] == "json_schema", body.get("response_format")
    assert body["response_format"]["json_schema"]["name"] == name
    assert FORMAT_NOTE in body["messages"][0]["content"]
    return {"content": json.dumps(REPORT)}


def _requests(llm) -> list[dict]:
    return [r["body"] for r in llm.chat_requests()]


def test_a_response_with_function_tools_answers_in_the_format(client, store, llm):
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}])
    tools = [{"type": "file_search", "vector_store_ids": [store]}, WEATHER]
    first = client.responses.parse(model=MODEL, input="What does E42 mean, and the weather in Oslo?", tools=tools,
                                   text_format=Report)
    searched, call = first.output
    assert searched.type == "file_search_call" and call.type == "function_call" and first.output_parsed is None
    assert all(body["response_format"]["type"] == "json_schema" for body in _requests(llm))  # every call
    llm.state.tool_script.append(_formatted)
    second = client.responses.parse(model=MODEL, previous_response_id=first.id, tools=tools, text_format=Report,
                                    input=[{"type": "function_call_output", "call_id": call.call_id,
                                            "output": "cloudy, 12 C"}])
    assert second.status == "completed" and second.output_parsed == Report(**REPORT)
    [part] = second.output[-1].content
    assert part.type == "output_text" and part.annotations == []  # JSON: its [1] is the caller's data
    assert second.text.format.type == "json_schema"
    # the format is the request's: the stored chat the next turn resumes from has no note
    assert all(FORMAT_NOTE not in str(m.get("content")) for m in _requests(llm)[-1]["messages"][1:])


def test_a_models_refusal_in_a_tool_turn_is_a_refusal_part_streamed_or_not(client, store, llm):
    tools = [{"type": "file_search", "vector_store_ids": [store]}, WEATHER]
    llm.state.tool_script.append({"content": None, "refusal": REFUSAL})
    done = client.responses.parse(model=MODEL, input="What is the tallest mountain?", tools=tools, text_format=Report)
    [part] = done.output[-1].content
    assert part.type == "refusal" and part.refusal == REFUSAL and done.output_parsed is None
    llm.state.tool_script.append({"content": REFUSAL})  # a json_object model may refuse in words
    with client.responses.stream(model=MODEL, input="What is the tallest mountain?", tools=tools,
                                 text={"format": {"type": "json_object"}}) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert "response.refusal.done" in kinds and "response.output_text.delta" not in kinds
    assert final.output[-1].content[0].refusal == REFUSAL


def test_a_chat_completion_with_function_tools_answers_in_the_format(client, store, llm):
    llm.state.tool_script.append({"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}},
                                                 {"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    ask = {"model": MODEL, "tools": [CHAT_WEATHER], "response_format": Report,
           "extra_body": {"vector_store_ids": [store]}}
    question = {"role": "user", "content": "What does E42 mean, and the weather in Oslo?"}
    first = client.chat.completions.parse(messages=[question], **ask).choices[0]
    assert first.finish_reason == "tool_calls" and first.message.parsed is None
    [call] = first.message.tool_calls
    llm.state.tool_script.append(_formatted)
    back = [question, first.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "cloudy, 12 C"}]
    done = client.chat.completions.parse(messages=back, **ask)
    message = done.choices[0].message
    assert message.parsed == Report(**REPORT) and message.refusal is None
    assert message.model_extra["citations"] == [] and message.annotations == []
    sources = done.model_extra["ragkit"]["sources"]  # what the searched question found, numbered
    assert sources and {s["filename"] for s in sources} <= {"ws200-user-manual.pdf", "support-faq.txt"}


def test_a_chat_ending_with_the_answer_is_restated_in_the_format(client, store, llm):
    """LangGraph's ``create_react_agent(..., response_format=Model)`` sends its whole chat again
    after the agent's last answer, to have that answer restated in the shape: a conversation that
    ends with an assistant message, which OpenAI continues. The model gets all of it, the function's
    output and the answer included, beside passages searched for the last question."""
    answer = "E42 means the anemometer cable is disconnected [1]. In Oslo it is cloudy, 12 C."

    def restated(body: dict) -> dict:
        messages = body["messages"]
        assert messages[-1]["role"] == "tool" and "anemometer cable" in messages[-1]["content"]  # searched
        assert {"role": "assistant", "content": answer} in messages
        assert {"role": "tool", "tool_call_id": "call_7", "content": "cloudy, 12 C"} in messages
        return _formatted(body)

    llm.state.tool_script.append(restated)
    question = "What does E42 mean, and the weather in Oslo?"
    chat = [{"role": "user", "content": question},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_7", "type": "function", "function": {"name": "get_weather",
                                                                  "arguments": '{"city": "Oslo"}'}}]},
            {"role": "tool", "tool_call_id": "call_7", "content": "cloudy, 12 C"},
            {"role": "assistant", "content": answer}]
    done = client.chat.completions.parse(model=MODEL, messages=chat, response_format=Report,
                                         extra_body={"vector_store_ids": [store]})
    assert done.choices[0].message.parsed == Report(**REPORT)
    assert done.model_extra["ragkit"]["search_query"] == question
    assert "tools" not in _requests(llm)[-1] or all(  # no function of the caller's is offered
        t["function"]["name"] == "file_search" for t in _requests(llm)[-1]["tools"])


def test_an_answer_alone_is_restated_through_a_function_the_model_picks(client, store, llm):
    """LlamaIndex.TS's structured output (``llm.exec`` with a schema, an agent's ``responseFormat``)
    sends the agent's answer by itself, an assistant message with no question before it, and a
    function to restate it through: OpenAI answers that conversation, and so does ragkit when a
    chat model picks its searches; nothing is searched first. Without functions, or with a function
    forced (ragkit would have to search a question first), it stays the 400 naming ``messages``."""
    answer = "E42 means the anemometer cable is disconnected [1]."
    restate = {"type": "function", "function": {
        "name": "format_output", "description": "Respond with a JSON object",
        "parameters": {"type": "object", "properties": {"code": {"type": "string"}}}}}
    llm.state.tool_script.append({"tool_calls": [{"name": "format_output", "arguments": {"code": "E42"}}]})
    done = client.chat.completions.create(model=MODEL, messages=[{"role": "assistant", "content": answer}],
                                          tools=[restate], extra_body={"vector_store_ids": [store]})
    call = done.choices[0].message.tool_calls[0]
    assert call.function.name == "format_output" and json.loads(call.function.arguments) == {"code": "E42"}
    sent = _requests(llm)[-1]
    assert {"role": "assistant", "content": answer} in sent["messages"]
    assert not any(m["role"] == "tool" for m in sent["messages"])  # no search before the model
    assert {t["function"]["name"] for t in sent["tools"]} == {"file_search", "format_output"}
    forced = {"type": "function", "function": {"name": "format_output"}}
    for options in ({}, {"tools": [restate], "tool_choice": forced}):
        with pytest.raises(openai.BadRequestError, match="assistant message after a user message") as caught:
            client.chat.completions.create(model=MODEL, messages=[{"role": "assistant", "content": answer}],
                                           extra_body={"vector_store_ids": [store]}, **options)
        assert caught.value.body["param"] == "messages"


def test_a_streamed_chat_tool_turn_sends_the_json_or_the_refusal(client, store, llm):
    ask = {"model": MODEL, "tools": [CHAT_WEATHER], "response_format": Report,
           "extra_body": {"vector_store_ids": [store]}}
    llm.state.tool_script.append(_formatted)
    with client.chat.completions.stream(messages=[{"role": "user", "content": "E42 and Oslo weather?"}], **ask) as s:
        assert s.get_final_completion().choices[0].message.parsed == Report(**REPORT)
    llm.state.tool_script.append({"content": None, "refusal": REFUSAL})
    with client.chat.completions.stream(messages=[{"role": "user", "content": "The tallest mountain?"}], **ask) as s:
        message = s.get_final_completion().choices[0].message
    assert message.refusal == REFUSAL and message.parsed is None and not message.content


def test_a_function_named_in_tool_choice_gets_the_question_searched_first(client, store, llm):
    """The model must call the named function at once, so it cannot search: ragkit searches the
    question for it, and the search shows as the response's first item."""
    llm.state.tool_script.append(lambda body: {"tool_calls": [{"name": "get_weather", "arguments": {
        "city": "anemometer" if "anemometer cable" in json.dumps(body["messages"]) else "nowhere"}}]})
    done = client.responses.create(model=MODEL, input="What does error code E42 mean?",
                                   tools=[{"type": "file_search", "vector_store_ids": [store]}, WEATHER],
                                   tool_choice={"type": "function", "name": "get_weather"})
    searched, call = done.output
    assert searched.type == "file_search_call" and searched.queries == ["What does error code E42 mean?"]
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "anemometer"}
    assert _requests(llm)[-1]["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_an_agents_sdk_agent_with_tools_and_an_output_type(server, store, llm):
    """The Agents SDK sends an agent's ``output_type`` as ``text.format`` beside its function tools
    and ``FileSearchTool``; the final output is the shape."""
    agents = pytest.importorskip("agents")
    from openai import AsyncOpenAI

    agents.set_tracing_disabled(True)

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city now."""
        return "cloudy, 12 C"

    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}},
                        {"name": "get_weather", "arguments": {"city": "Oslo"}}]},
        lambda body: _formatted(body, "final_output")])  # the SDK's name for an output type
    model = agents.OpenAIResponsesModel(MODEL, AsyncOpenAI(base_url=server.base_url, api_key="none"))
    agent = agents.Agent(name="support", model=model, output_type=Report,
                         tools=[get_weather, agents.FileSearchTool(vector_store_ids=[store])])
    result = agents.Runner.run_sync(agent, "What does E42 mean, and the weather in Oslo?")
    assert result.final_output == Report(**REPORT)
    last = _requests(llm)[-1]["messages"]  # the function's output reached the model that answered
    assert any(m["role"] == "tool" and m["content"] == "cloudy, 12 C" for m in last)
