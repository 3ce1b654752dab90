"""Microsoft Agent Framework and smolagents against a real ``ragkit serve``, as their docs write an
OpenAI-compatible server (docs/clients.md has what each shows and what it cannot do).

* Agent Framework 1.x (``agent-framework-core`` with ``agent-framework-openai``): an ``Agent`` on
  ``OpenAIChatClient`` (the Responses API) with ``get_file_search_tool``, the file uploaded and the
  store made through the client's own ``AsyncOpenAI``, a question, a streamed follow-up in the same
  session (``previous_response_id``), the citations as the framework's annotations, and the clean-up
  calls; the same agent on ``OpenAIChatCompletionClient`` with the store in ``extra_body`` and a
  ``response_parser`` that keeps ragkit's ``citations``; a function tool beside ``file_search`` with
  a chat model behind ragkit, on both clients, run and streamed.
* smolagents: ``OpenAIServerModel`` passes its extra keyword arguments to ``chat.completions.create``,
  so ``extra_body={"vector_store_ids": [...]}`` names the store; a ``ToolCallingAgent`` with a chat
  model (its ``tool_choice: "required"``, the ``final_answer`` tool, tool results sent back as user
  messages), streamed, and a follow-up with ``reset=False``; offline its tools are a 400 naming the
  chat model it needs.

Two servers: an offline one (the extractive answerer) and one whose chat model is the scripted
test server (tests/openai_server.py). Each library is skipped when it is not installed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import CORPUS
from server_helpers import Server, chat_model_server, manuals_store
from tool_loop_helpers import QUESTION, SEARCH_AND_CALL, WEATHER, get_weather

pytestmark = pytest.mark.timeout(600)
MODEL = "test-model"
E42 = "Error code E42 means the anemometer cable is disconnected."


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("maf-offline") / "home", "--no-auth").start()
    files = ["ws200-user-manual.pdf", "warranty-and-returns.docx"]
    server.store = manuals_store(server.client(), files)  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chat(tmp_path_factory, openai_server):
    server = chat_model_server(tmp_path_factory.mktemp("maf-chat") / "home", openai_server.url, MODEL)
    server.store = manuals_store(server.client(), ["ws200-user-manual.pdf"])  # type: ignore[attr-defined]
    yield server
    server.stop()


# --- Microsoft Agent Framework ---------------------------------------------------------------


@pytest.fixture(scope="module")
def maf():
    """Skips before the servers start (a module fixture listed first) when the framework is absent."""
    pytest.importorskip("agent_framework_openai", reason="pip install agent-framework-core agent-framework-openai")
    import agent_framework

    return agent_framework


def _citations(response) -> list[Any]:
    """The framework's citation annotations on the response's text, deduplicated by file."""
    found = {}
    for message in response.messages:
        for content in message.contents:
            for note in (content.annotations or []) if content.type == "text" else []:
                found[note["file_id"]] = note
    return list(found.values())


def test_an_agent_on_the_responses_api_with_file_search(maf, offline):
    """As the framework's file search sample: upload, store and clean-up through ``client.client``
    (its ``AsyncOpenAI``), then an agent with the store's ``file_search`` tool in a session."""
    from agent_framework.openai import OpenAIChatClient

    manual = ("ws200-user-manual.pdf", (CORPUS / "ws200-user-manual.pdf").read_bytes())

    async def scenario() -> None:
        client = OpenAIChatClient(model="ragkit-extractive", base_url=offline.base_url, api_key="none")
        file = await client.client.files.create(file=manual, purpose="user_data")
        store = await client.client.vector_stores.create(name="kb", expires_after={"anchor": "last_active_at",
                                                                                   "days": 1})
        done = await client.client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file.id)
        assert done.status == "completed" and done.last_error is None
        agent = maf.Agent(client=client, instructions="Answer from the manual.",
                          tools=[OpenAIChatClient.get_file_search_tool(vector_store_ids=[store.id])])
        session = agent.create_session()

        first = await agent.run("What does error E42 mean?", session=session)
        assert E42 in first.text
        kinds = [content.type for message in first.messages for content in message.contents]
        assert kinds[:2] == ["search_tool_call", "search_tool_result"]
        [note] = _citations(first)
        assert note["file_id"] == file.id and note["url"] == "ws200-user-manual.pdf"
        assert note["raw_representation"].page == 4  # ragkit's page and quote ride along
        assert note["raw_representation"].quote == E42
        first_id = session.service_session_id
        assert first_id.startswith("resp_")

        stream = agent.run("How do I fix it?", session=session, stream=True)
        pieces = [update.text async for update in stream if update.text]
        follow_up = await stream.get_final_response()
        assert pieces and "E42" in follow_up.text  # "it" read from the session's earlier turn
        assert _citations(follow_up)[0]["file_id"] == file.id
        stored = await client.client.responses.retrieve(session.service_session_id)
        assert stored.previous_response_id == first_id

        assert (await client.client.vector_stores.delete(store.id)).deleted
        assert (await client.client.files.delete(file.id)).deleted

    asyncio.run(scenario())


def keep_citations(message: Any, contents: list[Any]) -> list[Any]:
    """A ``response_parser``: ragkit's ``citations`` (on the message, or on the last streamed delta)
    as the framework's citation annotations, which it does not read itself."""
    from agent_framework import Annotation, Content

    cited = getattr(message, "citations", None) or []
    if not cited:
        return contents
    notes = [Annotation(type="citation", file_id=c["file_id"], url=c["filename"], additional_properties=c)
             for c in cited]
    text = next((content for content in contents if content.type == "text"), None)
    if text is None:
        return [*contents, Content.from_text("", annotations=notes)]
    text.annotations = [*(text.annotations or []), *notes]
    return contents


def test_an_agent_on_chat_completions_over_a_store(maf, offline):
    """The store in ``extra_body``; the session's history goes with the streamed follow-up."""
    from agent_framework.openai import OpenAIChatCompletionClient

    async def scenario() -> None:
        client = OpenAIChatCompletionClient(model="ragkit-extractive", base_url=offline.base_url, api_key="none",
                                            response_parser=keep_citations)
        agent = maf.Agent(client=client, instructions="Answer from the documents.",
                          default_options={"extra_body": {"vector_store_ids": [offline.store]}})
        session = agent.create_session()
        first = await agent.run("What does error E42 mean?", session=session)
        assert E42 in first.text
        [note] = _citations(first)
        assert note["additional_properties"]["page"] == 4 and note["url"] == "ws200-user-manual.pdf"

        stream = agent.run("How do I fix it?", session=session, stream=True)
        async for _update in stream:
            pass
        follow_up = await stream.get_final_response()
        assert "E42" in follow_up.text and _citations(follow_up)

    asyncio.run(scenario())


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "stream"])
@pytest.mark.parametrize("api", ["responses", "chat"])
def test_an_agent_with_a_function_tool_beside_the_store(maf, chat, llm, api, streamed):
    """The model searches and calls the function at once: ragkit runs the search, the framework
    the function, and the answer cites the passage and uses the function's output, on both APIs."""
    from agent_framework.openai import OpenAIChatClient, OpenAIChatCompletionClient

    answer = f"E42 means the anemometer cable is disconnected [1]. Oslo: {WEATHER}."
    llm.state.tool_script.extend([SEARCH_AND_CALL, {"content": answer}])
    if api == "responses":
        client: Any = OpenAIChatClient(model=MODEL, base_url=chat.base_url, api_key="none")
        options: dict[str, Any] = {"tools": [get_weather,
                                             OpenAIChatClient.get_file_search_tool(vector_store_ids=[chat.store])]}
    else:
        client = OpenAIChatCompletionClient(model=MODEL, base_url=chat.base_url, api_key="none")
        options = {"tools": [get_weather], "default_options": {"extra_body": {"vector_store_ids": [chat.store]}}}
    agent = maf.Agent(client=client, instructions="Answer from the manual.", **options)

    async def scenario():
        if not streamed:
            return await agent.run(QUESTION)
        stream = agent.run(QUESTION, stream=True)
        async for _update in stream:
            pass
        return await stream.get_final_response()

    result = asyncio.run(scenario())
    kinds = [content.type for message in result.messages for content in message.contents]
    assert ["function_call", "function_result"] == [k for k in kinds if k.startswith("function")]
    calls = [content.name for message in result.messages for content in message.contents
             if content.type == "function_call"]
    assert calls == ["get_weather"]  # ragkit's search is not the framework's to run
    second = llm.chat_requests()[-1]["body"]
    assert {"role": "tool", "tool_call_id": "call_1_1", "content": WEATHER} in second["messages"]
    # the search before the call is in the request again: on the Responses API ragkit goes on from
    # the stored response; on chat completions the framework drops ragkit.searches, but the server
    # kept them under the calls. The passage keeps its number, so [1] stays.
    [searched] = [m["content"] for m in second["messages"] if m.get("tool_call_id") == "call_1_0"]
    assert "anemometer cable is disconnected" in searched
    assert result.text == answer


# --- smolagents ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smolagents():
    return pytest.importorskip("smolagents", reason="pip install 'smolagents[openai]'")


def test_a_smolagents_model_over_a_store(smolagents, offline):
    """``extra_body`` reaches ragkit as body fields; the raw completion keeps the citations."""
    model = smolagents.OpenAIServerModel(model_id="ragkit-extractive", api_base=offline.base_url, api_key="none",
                                         extra_body={"vector_store_ids": [offline.store]})
    messages = [smolagents.ChatMessage(role="user", content=[{"type": "text", "text": "What does error E42 mean?"}])]
    reply = model.generate(messages)
    assert E42 in reply.content and reply.token_usage.input_tokens > 0
    [cited] = reply.raw.choices[0].message.citations
    assert cited["filename"] == "ws200-user-manual.pdf" and cited["page"] == 4
    assert E42 in "".join(delta.content or "" for delta in model.generate_stream(messages))


def test_a_smolagents_tool_calling_agent_offline_is_a_400_naming_the_chat_model(smolagents, offline):
    """Its tools (``final_answer`` at least) need a model that calls functions."""
    model = smolagents.OpenAIServerModel(model_id="ragkit-extractive", api_base=offline.base_url, api_key="none",
                                         extra_body={"vector_store_ids": [offline.store]})
    agent = smolagents.ToolCallingAgent(tools=[], model=model, max_steps=1, verbosity_level=0)
    with pytest.raises(smolagents.utils.AgentGenerationError, match="need a chat model"):
        agent.run("What does error E42 mean?")


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "stream"])
def test_a_smolagents_tool_calling_agent_with_a_chat_model(smolagents, chat, llm, streamed):
    """The model searches and calls ``get_weather``; smolagents sends the call back as assistant
    text and its result as a user message ("Observation: ..."), which ragkit condenses with the
    turns before it, then the model ends with ``final_answer``. A follow-up with ``reset=False``
    sends the agent's memory again."""
    weather = smolagents.tool(get_weather)
    model = smolagents.OpenAIServerModel(model_id=MODEL, api_base=chat.base_url, api_key="none",
                                         extra_body={"vector_store_ids": [chat.store]})
    final = "E42 means the anemometer cable is disconnected [1]; Oslo is cloudy."
    llm.state.tool_script.extend([
        SEARCH_AND_CALL,
        {"content": QUESTION, "when": "Last message"},  # ragkit's standalone question for the search
        {"tool_calls": [{"name": "final_answer", "arguments": {"answer": final}}]},
    ])
    agent = smolagents.ToolCallingAgent(tools=[weather], model=model, max_steps=4, verbosity_level=0,
                                        stream_outputs=streamed)
    assert agent.run(QUESTION) == final
    asked = [r["body"] for r in llm.chat_requests() if r["body"].get("tools")]
    assert all(body["tool_choice"] == "required" for body in asked)
    assert {t["function"]["name"] for t in asked[0]["tools"]} == {"file_search", "get_weather", "final_answer"}
    assert any(WEATHER in str(m["content"]) for m in asked[-1]["messages"] if m["role"] == "user")

    llm.state.tool_script.extend([
        {"content": "How do I fix error E42?", "when": "Last message"},
        {"tool_calls": [{"name": "final_answer", "arguments": {"answer": "Reconnect the cable."}}]},
    ])
    assert agent.run("How do I fix it?", reset=False) == "Reconnect the cable."
    last = llm.chat_requests()[-1]["body"]
    assert any(QUESTION in str(m["content"]) for m in last["messages"])  # the memory went with it
