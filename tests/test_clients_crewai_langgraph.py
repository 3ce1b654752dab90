"""CrewAI and LangChain's agents (``langchain.agents.create_agent``, LangGraph's prebuilt
``create_react_agent``) against a real ``ragkit serve``, as users point them at an
OpenAI-compatible server (docs/clients.md says what each shows and what it cannot do).

* CrewAI: ``LLM(model="openai/<model>", base_url=..., api_key=..., extra_body={"vector_store_ids":
  [...]})`` is CrewAI's own OpenAI client (``is_litellm=True``: LiteLLM's); offline it answers a
  question over the store, streamed too. With a chat model behind ragkit an ``Agent`` with a
  ``@tool`` in a ``Task`` and ``Crew`` gets the model's call, runs it and sends its output back,
  run and streamed (``Crew(stream=True)``); on LiteLLM for a model LiteLLM does not know, CrewAI
  writes the tool into its ReAct prompt instead, which ragkit takes for a conversation.
* LangChain: ``create_agent`` over ``ChatOpenAI`` with the store in ``extra_body`` and over
  ``ChatOpenAI(use_responses_api=True)`` with a ``file_search`` tool dict, a Python tool and
  ``response_format=Report`` (its default ``ToolStrategy`` for a model it has no profile of, and
  ``ProviderStrategy``), streamed; ``create_react_agent``, whose ``response_format`` is one more
  call with the whole chat, the agent's answer last.

Two servers: an offline one (the extractive answerer) and one whose chat model is the scripted test
server (tests/openai_server.py). Each library is skipped, before any server starts, when it is not
installed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel
from server_helpers import Server, manuals_store
from tool_loop_helpers import MODEL, QUESTION, SEARCH_AND_CALL, WEATHER, get_weather
from tool_loop_helpers import client, server, store  # noqa: F401 - the module's fixtures

pytestmark = pytest.mark.timeout(600)
E42 = "Error code E42 means the anemometer cable is disconnected."
ANSWER = "E42 means the anemometer cable is disconnected [1]. In Oslo it is cloudy, 12 C."


class Report(BaseModel):
    code: str
    meaning: str
    weather: str


REPORT = {"code": "E42", "meaning": "the anemometer cable is disconnected [1]", "weather": WEATHER}


def _requests(llm) -> list[dict]:
    return [r["body"] for r in llm.chat_requests()]


def _offered(body: dict) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools", [])]


def _weather_came_back(body: dict) -> bool:
    return any(m["role"] == "tool" and m["content"] == WEATHER for m in body["messages"])


def _passage_came_back(body: dict) -> bool:
    """Whether the search run before the function call is in the request again (its tool message)."""
    return any(m["role"] == "tool" and E42 in m["content"] for m in body["messages"])


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """An offline ``ragkit serve`` over the WS-200 manual and the support FAQ."""
    running = Server(tmp_path_factory.mktemp("crew-offline") / "home", "--no-auth").start()
    running.store = manuals_store(running.client())  # type: ignore[attr-defined]
    yield running
    running.stop()


# --- CrewAI ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crewai(tmp_path_factory):
    """CrewAI with its telemetry and tracing off and its storage in a temporary directory; LiteLLM
    (when installed beside it) with its local price map. Listed first, so it skips before the
    servers start."""
    patch = pytest.MonkeyPatch()
    data = tmp_path_factory.mktemp("crewai-data")
    for name, value in {"CREWAI_DISABLE_TELEMETRY": "true", "OTEL_SDK_DISABLED": "true",
                        "CREWAI_TRACING_ENABLED": "false", "CREWAI_DISABLE_VERSION_CHECK": "true",
                        "CREWAI_STORAGE_DIR": str(data), "XDG_DATA_HOME": str(data),
                        "LITELLM_LOCAL_MODEL_COST_MAP": "True"}.items():
        patch.setenv(name, value)
    try:
        yield pytest.importorskip("crewai", reason="pip install crewai")
    finally:
        patch.undo()


def _crew_llm(crewai, base_url: str, model: str, store: str, **options: Any):
    return crewai.LLM(model=f"openai/{model}", base_url=base_url, api_key="none",
                      extra_body={"vector_store_ids": [store]}, **options)


def _litellm() -> dict[str, Any]:
    pytest.importorskip("litellm", reason="pip install 'crewai[litellm]'")
    return {"is_litellm": True}


@pytest.mark.parametrize("route", ["native", "litellm"])
def test_a_crewai_llm_answers_over_the_store_offline(crewai, offline, route):
    """``openai/`` with a ``base_url`` is CrewAI's own OpenAI client; ``is_litellm=True`` LiteLLM's.
    Both send ``extra_body`` as body fields, streamed or not."""
    options = _litellm() if route == "litellm" else {}
    llm = _crew_llm(crewai, offline.base_url, "ragkit-extractive", offline.store, **options)
    assert E42 in llm.call("What does error code E42 mean?")
    streamed = _crew_llm(crewai, offline.base_url, "ragkit-extractive", offline.store, stream=True, **options)
    assert E42 in streamed.call([{"role": "user", "content": "What does error code E42 mean?"}])


def test_a_crewai_llm_on_the_responses_api_offline(crewai, offline):
    """``api="responses"``: a ``file_search`` tool given to the LLM is sent as it is and answered
    over the store; ``builtin_tools=["file_search"]`` sends the tool without ``vector_store_ids``,
    which ragkit refuses as OpenAI does, naming the field."""
    import openai

    search = {"type": "file_search", "vector_store_ids": [offline.store]}
    llm = crewai.LLM(model="openai/ragkit-extractive", base_url=offline.base_url, api_key="none", api="responses",
                     tools=[search])
    assert E42 in llm.call("What does error code E42 mean?")
    bare = crewai.LLM(model="openai/ragkit-extractive", base_url=offline.base_url, api_key="none", api="responses",
                      builtin_tools=["file_search"], max_retries=0)
    with pytest.raises(openai.BadRequestError, match="vector_store_ids") as caught:
        bare.call("What does error code E42 mean?")
    assert caught.value.body["param"] == "tools[0].vector_store_ids"


def _crew(crewai, llm, tools: list[Any], **options: Any):
    agent = crewai.Agent(role="Support engineer", goal="Answer from the WS-200 manuals",
                         backstory="You know the manuals.", llm=llm, tools=tools, max_iter=4)
    task = crewai.Task(description=QUESTION, expected_output="The meaning of the code and the weather", agent=agent)
    return crewai.Crew(agents=[agent], tasks=[task], **options)


def _weather_tool():
    from crewai.tools import tool

    return tool("get_weather")(get_weather)


@pytest.mark.parametrize("streamed", [False, True])
def test_a_crew_with_a_tool_on_a_chat_model(crewai, server, store, llm, streamed):
    """CrewAI's client sends the agent's tool as a function beside which ragkit offers
    ``file_search``; the model's call to the tool comes back to the crew, which runs it and sends
    its output. Streamed, the chunks carry the call's arguments and the answer."""
    llm.state.tool_script.extend([SEARCH_AND_CALL, {"content": ANSWER}])
    crew = _crew(crewai, _crew_llm(crewai, server.base_url, MODEL, store, stream=streamed), [_weather_tool()],
                 stream=streamed)
    output = crew.kickoff()
    if streamed:
        chunks = [chunk.content for chunk in output]
        assert '{"city": "Oslo"}' in chunks and "".join(chunks).endswith("In Oslo it is cloudy, 12 C.")
        output = output.result
    # CrewAI drops the message's ragkit.searches, but the server kept them under the calls: the
    # passage is in the answering request again and "[1]" stays
    assert output.raw == ANSWER
    first, second = _requests(llm)
    assert _offered(first) == ["file_search", "get_weather"] and first["tool_choice"] == "auto"
    assert "You are Support engineer." in first["messages"][0]["content"]  # the operator's instructions
    assert first["messages"][1]["content"].lstrip().startswith("Current Task: " + QUESTION)
    assert _weather_came_back(second) and _passage_came_back(second)


def test_a_crew_without_tools_on_a_chat_model(crewai, server, store, llm):
    """No tools: ragkit searches CrewAI's task prompt and the model answers from the passages
    (the test model: the sentences that share most words with the question, cited)."""
    output = _crew(crewai, _crew_llm(crewai, server.base_url, MODEL, store), []).kickoff()
    [body] = _requests(llm)
    assert "tools" not in body and E42 in body["messages"][-1]["content"]  # the passages reached the model
    assert output.raw.startswith(E42 + " [1]")


@pytest.mark.parametrize("registered", [False, True])
def test_a_crew_on_litellm(crewai, server, store, llm, registered):
    """On LiteLLM, CrewAI asks LiteLLM whether the model calls functions: for a model LiteLLM does
    not know it does not, and CrewAI writes the tool into a ReAct prompt (``Action:`` /
    ``Observation:`` in the text, no ``tools``). ragkit takes the next turn (the observation and
    CrewAI's "Analyze the tool result" message) for a follow-up and has the model make it
    standalone first. ``litellm.register_model`` with ``supports_function_calling`` gets
    function calling, as on CrewAI's own client."""
    options = _litellm()
    import litellm

    name = f"openai/{MODEL}"
    if registered:
        litellm.register_model({name: {"litellm_provider": "openai", "mode": "chat",
                                       "supports_function_calling": True}})
        llm.state.tool_script.extend([SEARCH_AND_CALL, {"content": ANSWER}])
    else:
        llm.state.tool_script.extend([
            {"content": 'Thought: I need the weather.\nAction: get_weather\nAction Input: {"city": "Oslo"}'},
            {"content": QUESTION, "when": "Standalone question"},  # ragkit's rewrite of the next turn
            {"content": f"Thought: I now know the final answer\nFinal Answer: {ANSWER}"}])
    try:
        output = _crew(crewai, _crew_llm(crewai, server.base_url, MODEL, store, **options), [_weather_tool()]).kickoff()
    finally:
        litellm.model_cost.pop(name, None)
    bodies = _requests(llm)
    if registered:
        assert output.raw == ANSWER and _weather_came_back(bodies[-1]) and _passage_came_back(bodies[-1])
        assert _offered(bodies[0]) == ["file_search", "get_weather"]
    else:
        assert output.raw == ANSWER  # the answering request searched the standalone question again
        assert not any("tools" in body for body in bodies)
        assert f"Observation: {WEATHER}" in bodies[1]["messages"][-1]["content"]  # the rewrite's
        assert not llm.state.tool_script


# --- LangChain and LangGraph -------------------------------------------------------------------


@pytest.fixture(scope="module")
def langchain():
    """``create_agent`` and ``ChatOpenAI``; listed first, so it skips before the servers start."""
    agents = pytest.importorskip("langchain.agents", reason="pip install langchain langchain-openai")
    openai_chat = pytest.importorskip("langchain_openai")
    return agents, openai_chat.ChatOpenAI


def _chat(langchain, server, store: str, api: str, **options: Any):
    """The model and the tools an agent gets: on chat completions the store in ``extra_body``, on
    the Responses API a ``file_search`` tool dict beside the function."""
    _agents, chat_openai = langchain
    ragkit = {"model": MODEL, "base_url": server.base_url, "api_key": "none", **options}
    if api == "responses":
        return chat_openai(**ragkit, use_responses_api=True), [get_weather, {"type": "file_search",
                                                                              "vector_store_ids": [store]}]
    return chat_openai(**ragkit, extra_body={"vector_store_ids": [store]}), [get_weather]


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("strategy", ["ToolStrategy", "ProviderStrategy", "profile"])
def test_create_agent_with_a_tool_and_a_response_format(langchain, server, store, llm, api, strategy):
    """``response_format=Report`` is ``ToolStrategy`` for a model LangChain has no profile of (any
    name but OpenAI's): a ``Report`` function and ``tool_choice: "required"``, so the model's last
    call is the shape. ``ProviderStrategy(Report)``, or a model whose ``profile`` says it has
    structured output, sends ``json_schema`` with every call, and the model's JSON answer is the shape."""
    agents, _chat_openai = langchain
    from langchain.agents.structured_output import ProviderStrategy

    profile = {"profile": {"structured_output": True}} if strategy == "profile" else {}
    model, tools = _chat(langchain, server, store, api, **profile)
    provider = strategy != "ToolStrategy"
    last = {"content": json.dumps(REPORT)} if provider else {"tool_calls": [{"name": "Report", "arguments": REPORT}]}
    llm.state.tool_script.extend([SEARCH_AND_CALL, last])
    agent = agents.create_agent(model, tools=tools, system_prompt="Answer from the manuals.",
                                response_format=ProviderStrategy(Report) if strategy == "ProviderStrategy" else Report)
    result = agent.invoke({"messages": [{"role": "user", "content": QUESTION}]})
    assert result["structured_response"] == Report(**REPORT)
    bodies = _requests(llm)
    assert len(bodies) == 2 and _weather_came_back(bodies[1])
    assert all(any(m["role"] == "system" and "Answer from the manuals." in m["content"] for m in body["messages"])
               for body in bodies)  # the agent's system prompt reaches the model
    if provider:
        assert all(body["response_format"]["json_schema"]["name"] == "Report" for body in bodies)
        assert all(_offered(body) == ["file_search", "get_weather"] for body in bodies)
    else:
        assert all(body["tool_choice"] == "required" and "response_format" not in body for body in bodies)
        assert all(_offered(body) == ["file_search", "get_weather", "Report"] for body in bodies)
    # the answering model has the passages: the Responses API goes on from the stored response; on
    # chat completions LangChain drops ragkit.searches, but the server kept them under the calls
    assert _passage_came_back(bodies[1])


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_create_agent_streamed(langchain, server, store, llm, api):
    """``stream_mode="messages"``: the tool call's chunks, the tool's message, the answer's tokens."""
    agents, _chat_openai = langchain
    model, tools = _chat(langchain, server, store, api)
    llm.state.tool_script.extend([SEARCH_AND_CALL, {"content": ANSWER}])
    agent = agents.create_agent(model, tools=tools)
    text, kinds = [], []
    for chunk, _meta in agent.stream({"messages": [{"role": "user", "content": QUESTION}]}, stream_mode="messages"):
        kinds.append(chunk.type)
        if chunk.type == "AIMessageChunk" and isinstance(chunk.content, str):
            text.append(chunk.content)
        elif chunk.type == "AIMessageChunk":
            text += [part.get("text", "") for part in chunk.content if isinstance(part, dict)]
    assert "tool" in kinds and "".join(text) == ANSWER  # the passage searched before the call keeps its [1]


def test_create_agent_offline_without_tools(langchain, offline):
    """An agent without tools is one call: offline, the extractive answer over the store."""
    agents, chat_openai = langchain
    model = chat_openai(model="ragkit-extractive", base_url=offline.base_url, api_key="none",
                        extra_body={"vector_store_ids": [offline.store]})
    result = agents.create_agent(model, tools=[]).invoke(
        {"messages": [{"role": "user", "content": "What does error code E42 mean?"}]})
    assert E42 in result["messages"][-1].content


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_langgraph_create_react_agent_with_a_response_format(langchain, server, store, llm, api):
    """LangGraph's prebuilt agent (deprecated for ``create_agent``, still shipped) asks for the shape
    after the loop: one more call with the format and the whole chat, which ends with the agent's
    answer (an assistant message, which OpenAI continues), and without the agent's tools."""
    prebuilt = pytest.importorskip("langgraph.prebuilt")
    if not hasattr(prebuilt, "create_react_agent"):
        pytest.skip("this LangGraph no longer ships create_react_agent")
    model, tools = _chat(langchain, server, store, api)
    llm.state.tool_script.extend([SEARCH_AND_CALL, {"content": ANSWER}, {"content": json.dumps(REPORT)}])
    agent = prebuilt.create_react_agent(model, tools=tools, response_format=Report)
    result = agent.invoke({"messages": [{"role": "user", "content": QUESTION}]})
    assert result["structured_response"] == Report(**REPORT)
    restate = _requests(llm)[-1]
    assert restate["response_format"]["json_schema"]["name"] == "Report" and "get_weather" not in _offered(restate)
    said = [m["content"] for m in restate["messages"] if m["role"] == "assistant" and m.get("content")]
    assert said == [ANSWER]
    assert _weather_came_back(restate)
