"""Agent libraries that give an agent function tools and a structured output type, against a
real ``ragkit serve`` over a vector store: what each really sends (a ``response_format`` or
``text.format`` beside the tools on every call) is served, the function's call comes back to the
library, which runs it and sends its output, the model that answers has the passages searched
before the call, and the final output is the shape.

* Pydantic AI: ``NativeOutput`` (``json_schema``) and ``PromptedOutput`` (``json_object`` and the
  schema in the instructions) on ``OpenAIChatModel`` (the store in ``extra_body``) and on
  ``OpenAIResponsesModel`` (``FileSearchTool``);
* LangChain: ``ChatOpenAI.bind_tools(tools, response_format=Model)``, which is what
  ``langchain.agents.create_agent(..., response_format=Model)`` binds for a model with native
  structured output, on chat completions and on the Responses API (``create_agent`` itself is in
  the ``langchain`` package, which the ``examples`` extra does not install);
* the OpenAI Agents SDK on ``OpenAIChatCompletionsModel`` (its Responses model is in
  tests/test_server_structured_tools.py), run and streamed.

A model's refusal (no JSON) reaches each library as its own refusal.

The chat model behind ragkit is the scripted test model (tests/openai_server.py): it searches and
calls the function first, then answers with JSON only when the request carries the format and
ragkit's note, and the function's output. Each library is skipped when it is not installed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import pytest
from pydantic import BaseModel
from tool_loop_helpers import MODEL, QUESTION, SEARCH_AND_CALL, WEATHER, get_weather
from tool_loop_helpers import client, server, store  # noqa: F401 - the module's fixtures

from ragkit.answer.loop import FORMAT_NOTE

pytestmark = pytest.mark.timeout(600)


class Report(BaseModel):
    code: str
    meaning: str
    weather: str


REPORT = {"code": "E42", "meaning": "the anemometer cable is disconnected [1]", "weather": WEATHER}


def answers(kind: str, name: str | None = None, schema_in_prompt: bool = False) -> Callable[[dict], dict]:
    """The model's last reply: the JSON of ``REPORT``, given only when the request asks for
    ``kind`` output (``name``: the schema's, as the library names it) with ragkit's note, and the
    function's output came back (``schema_in_prompt``: the library's instructions with the schema
    reached the model, as ``PromptedOutput`` sends them)."""

    def reply(body: dict) -> dict:
        assert body["response_format"]["type"] == kind, body.get("response_format")
        if name is not None:
            assert body["response_format"]["json_schema"]["name"] == name
        system = [m["content"] for m in body["messages"] if m["role"] == "system"]
        assert FORMAT_NOTE in system[0]
        assert not schema_in_prompt or any('"meaning"' in text for text in system), system
        assert {"role": "tool", "tool_call_id": "call_1_1", "content": WEATHER} in body["messages"]
        return {"content": json.dumps(REPORT)}

    return reply


def _requests(llm) -> list[dict]:
    return [r["body"] for r in llm.chat_requests()]


def _format_on_every_call(llm, kind: str) -> None:
    bodies = _requests(llm)
    assert len(bodies) == 2 and all(body["response_format"]["type"] == kind for body in bodies)


def _found_passages(body: dict) -> bool:
    """Whether the model that answered had the passages of the first request's search: on the
    Responses API from the stored response; on chat completions the libraries send the assistant
    message back without ``ragkit.searches``, and the server brings back the ones it kept."""
    return any(m["role"] == "tool" and "E42" in str(m["content"]) for m in body["messages"])


# --- Pydantic AI -------------------------------------------------------------------------------


@pytest.fixture
def pydantic_ai(server):
    """Pydantic AI's pieces, and a provider on ragkit (one per test: its async client belongs to
    the event loop of the test's run)."""
    ai = pytest.importorskip("pydantic_ai")
    from pydantic_ai.providers.openai import OpenAIProvider

    return ai, OpenAIProvider(base_url=server.base_url, api_key="none")


@pytest.mark.parametrize("output", ["NativeOutput", "PromptedOutput"])
def test_a_pydantic_ai_agent_on_chat_completions(pydantic_ai, store, llm, output):
    """``NativeOutput`` sends ``json_schema``, ``PromptedOutput`` ``json_object`` with the schema
    in a system message, which reaches the model as the operator's instructions."""
    ai, provider = pydantic_ai
    from pydantic_ai.models.openai import OpenAIChatModel

    native = output == "NativeOutput"
    kind = "json_schema" if native else "json_object"
    llm.state.tool_script.extend([SEARCH_AND_CALL, answers(kind, "Report" if native else None, not native)])
    agent = ai.Agent(OpenAIChatModel(MODEL, provider=provider), output_type=getattr(ai, output)(Report),
                     tools=[get_weather], model_settings={"extra_body": {"vector_store_ids": [store]}})
    result = agent.run_sync(QUESTION)
    assert result.output == Report(**REPORT)
    _format_on_every_call(llm, kind)
    assert _found_passages(_requests(llm)[-1])
    calls = [part.tool_name for message in result.all_messages() for part in getattr(message, "parts", [])
             if part.part_kind == "tool-call"]
    assert calls == ["get_weather"]  # ragkit's search is not the agent's to run


def test_a_pydantic_ai_agent_streamed_on_chat_completions(pydantic_ai, store, llm):
    """``run_stream``: the tool turn and the JSON answer streamed, validated as it arrives."""
    ai, provider = pydantic_ai
    from pydantic_ai.models.openai import OpenAIChatModel

    llm.state.tool_script.extend([SEARCH_AND_CALL, answers("json_schema", "Report")])
    agent = ai.Agent(OpenAIChatModel(MODEL, provider=provider), output_type=ai.NativeOutput(Report),
                     tools=[get_weather], model_settings={"extra_body": {"vector_store_ids": [store]}})

    async def streamed() -> Report:
        async with agent.run_stream(QUESTION) as stream:
            return await stream.get_output()

    assert asyncio.run(streamed()) == Report(**REPORT)
    _format_on_every_call(llm, "json_schema")
    assert _found_passages(_requests(llm)[-1])


@pytest.mark.parametrize("output", ["NativeOutput", "PromptedOutput"])
def test_a_pydantic_ai_agent_on_responses_with_file_search(pydantic_ai, store, llm, output):
    """``FileSearchTool`` beside the function and ``text.format``. With
    ``openai_previous_response_id="auto"`` the function's output goes on from the stored response,
    so the model that answers still has the passages its search found; without it Pydantic AI
    resends the exchange with no item ids for a model it does not know, and ragkit cannot tell
    which response it continues (the model may search again)."""
    ai, provider = pydantic_ai
    from pydantic_ai.capabilities import NativeTool
    from pydantic_ai.messages import NativeToolCallPart
    from pydantic_ai.models.openai import OpenAIResponsesModel
    from pydantic_ai.native_tools import FileSearchTool

    native = output == "NativeOutput"
    kind = "json_schema" if native else "json_object"
    llm.state.tool_script.extend([SEARCH_AND_CALL, answers(kind, "Report" if native else None, not native)])
    agent = ai.Agent(OpenAIResponsesModel(MODEL, provider=provider), output_type=getattr(ai, output)(Report),
                     tools=[get_weather], capabilities=[NativeTool(FileSearchTool(file_store_ids=[store]))],
                     model_settings={"openai_previous_response_id": "auto"})
    result = agent.run_sync(QUESTION)
    assert result.output == Report(**REPORT)
    _format_on_every_call(llm, kind)
    assert _found_passages(_requests(llm)[-1])
    searched = [part.tool_name for message in result.all_messages() for part in getattr(message, "parts", [])
                if isinstance(part, NativeToolCallPart)]
    assert searched == ["file_search"]  # ragkit's search, shown to the agent as OpenAI's hosted tool


# --- LangChain ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def langchain(server):
    """``ChatOpenAI`` on ragkit, and ``get_weather`` as a LangChain tool."""
    openai_chat = pytest.importorskip("langchain_openai")
    from langchain_core.tools import tool

    def chat(**kwargs: Any):
        return openai_chat.ChatOpenAI(model=MODEL, base_url=server.base_url, api_key="none", **kwargs)

    return chat, tool(get_weather)


def _run_langchain_tools(bound, weather) -> Any:
    """The agent loop ``create_agent`` runs: ask, run the calls, send their ``ToolMessage``s, ask
    again; the last reply."""
    from langchain_core.messages import HumanMessage

    messages: list[Any] = [HumanMessage(QUESTION)]
    reply = bound.invoke(messages)
    assert [call["name"] for call in reply.tool_calls] == ["get_weather"]
    messages += [reply, *(weather.invoke(call) for call in reply.tool_calls)]
    return bound.invoke(messages)


def test_langchain_bind_tools_with_a_response_format_on_chat_completions(langchain, store, llm):
    """``bind_tools(tools, response_format=Report)`` (strict functions beside ``json_schema``);
    the answer's ``parsed`` is the shape."""
    chat, weather = langchain
    llm.state.tool_script.extend([SEARCH_AND_CALL, answers("json_schema", "Report")])
    bound = chat(extra_body={"vector_store_ids": [store]}).bind_tools([weather], response_format=Report)
    done = _run_langchain_tools(bound, weather)
    assert done.additional_kwargs["parsed"] == Report(**REPORT) and not done.tool_calls
    _format_on_every_call(llm, "json_schema")
    assert _found_passages(_requests(llm)[-1])


def test_langchain_bind_tools_with_a_response_format_on_responses(langchain, store, llm):
    """``use_responses_api=True`` with a ``file_search`` tool dict beside the function: LangChain
    sends the ``file_search_call`` and the call back with their ids, so ragkit goes on from the
    stored response and the answering model has the passages."""
    chat, weather = langchain
    llm.state.tool_script.extend([SEARCH_AND_CALL, answers("json_schema", "Report")])
    bound = chat(use_responses_api=True).bind_tools(
        [weather, {"type": "file_search", "vector_store_ids": [store]}], response_format=Report)
    done = _run_langchain_tools(bound, weather)
    assert done.additional_kwargs["parsed"] == Report(**REPORT)
    _format_on_every_call(llm, "json_schema")
    assert _found_passages(_requests(llm)[-1])


def test_langchain_bind_tools_with_no_tools_and_a_response_format(langchain, store, llm):
    """An agent without tools of its own: ``create_agent`` binds ``tools: []`` beside the format,
    which over a store is a structured answer from the passages ragkit found."""
    chat, _weather = langchain
    reply = chat(extra_body={"vector_store_ids": [store]}).bind_tools([], response_format=Report).invoke(
        "What does error code E42 mean?")
    parsed = reply.additional_kwargs["parsed"]
    assert isinstance(parsed, Report) and "anemometer cable is disconnected" in parsed.meaning
    [body] = _requests(llm)
    assert "tools" not in body and body["response_format"]["json_schema"]["name"] == "Report"


# --- the OpenAI Agents SDK on chat completions ---------------------------------------------------


@pytest.fixture
def agents_chat(server, store):
    """An Agents SDK agent on ``OpenAIChatCompletionsModel`` with ``get_weather`` and a ``Report``
    output type, the store in ``extra_body`` (hosted tools do not exist on chat completions); one
    per test, as its async client belongs to the event loop of the test's run."""
    agents = pytest.importorskip("agents")
    from openai import AsyncOpenAI

    agents.set_tracing_disabled(True)
    model = agents.OpenAIChatCompletionsModel(MODEL, AsyncOpenAI(base_url=server.base_url, api_key="none"))
    agent = agents.Agent(name="support", model=model, output_type=Report, tools=[agents.function_tool(get_weather)],
                         model_settings=agents.ModelSettings(extra_body={"vector_store_ids": [store]}))
    return agents, agent


def test_an_agents_sdk_agent_on_chat_completions_with_tools_and_an_output_type(agents_chat, llm):
    agents, agent = agents_chat
    llm.state.tool_script.extend([SEARCH_AND_CALL, answers("json_schema", "final_output")])
    result = agents.Runner.run_sync(agent, QUESTION)
    assert result.final_output == Report(**REPORT)
    _format_on_every_call(llm, "json_schema")
    assert _found_passages(_requests(llm)[-1])


def test_an_agents_sdk_agent_on_chat_completions_streamed(agents_chat, llm):
    agents, agent = agents_chat
    llm.state.tool_script.extend([SEARCH_AND_CALL, answers("json_schema", "final_output")])

    async def streamed() -> tuple[Any, list[str]]:
        run = agents.Runner.run_streamed(agent, QUESTION)
        kinds = [event.item.type async for event in run.stream_events() if event.type == "run_item_stream_event"]
        return run.final_output, kinds

    output, kinds = asyncio.run(streamed())
    assert output == Report(**REPORT)
    assert kinds[:2] == ["tool_call_item", "tool_call_output_item"]
    _format_on_every_call(llm, "json_schema")
    assert _found_passages(_requests(llm)[-1])


# --- a refusal ---------------------------------------------------------------------------------


def test_a_refusal_reaches_each_library_as_its_refusal(pydantic_ai, langchain, agents_chat, store, llm):
    """When the documents do not hold the answer the model refuses (OpenAI's ``refusal`` field,
    no JSON), and ragkit passes it on as OpenAI does: each library raises or reports it its own
    way rather than failing to parse JSON."""
    ai, provider = pydantic_ai
    from pydantic_ai.exceptions import ContentFilterError
    from pydantic_ai.models.openai import OpenAIChatModel

    refusal = {"content": None, "refusal": "I could not find the answer in the documents."}
    question = "What is the tallest mountain?"
    llm.state.tool_script.extend([refusal] * 3)
    agent = ai.Agent(OpenAIChatModel(MODEL, provider=provider), output_type=ai.NativeOutput(Report),
                     tools=[get_weather], model_settings={"extra_body": {"vector_store_ids": [store]}})
    with pytest.raises(ContentFilterError, match="could not find the answer"):
        agent.run_sync(question)

    agents, sdk_agent = agents_chat
    with pytest.raises(agents.exceptions.ModelRefusalError, match="could not find the answer"):
        agents.Runner.run_sync(sdk_agent, question)

    chat, weather = langchain
    bound = chat(extra_body={"vector_store_ids": [store]}).bind_tools([weather], response_format=Report)
    reply = bound.invoke(question)
    assert reply.additional_kwargs == {"refusal": refusal["refusal"], "parsed": None} and not reply.content
    bodies = _requests(llm)
    assert len(bodies) == 3 and all(body["response_format"]["type"] == "json_schema" for body in bodies)
