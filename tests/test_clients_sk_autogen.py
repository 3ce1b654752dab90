"""Semantic Kernel and AutoGen against a real ``ragkit serve``, each as its docs write it for an
OpenAI-compatible server (docs/clients.md):

* Semantic Kernel's ``OpenAIAssistantAgent`` (its file search sample: ``files.create``,
  ``vector_stores.create(file_ids=...)``, ``configure_file_search_tool``, an assistant, a thread,
  ``get_response``, ``invoke``, ``invoke_stream``, a file attached through ``additional_messages``,
  the deletes) and its ``OpenAIResponsesAgent`` with ``configure_file_search_tool``;
* AutoGen's ``OpenAIAssistantAgent`` with ``file_search`` (it creates the vector store, uploads the
  file and polls the batch itself), ``OpenAIAgent`` (the Responses API) and
  ``OpenAIChatCompletionClient`` under an ``AssistantAgent``, with the store in ``extra_body``.

Offline (the extractive answerer) for file search; with the scripted chat model
(tests/openai_server.py) for the frameworks' own function tools beside it. Each framework is
skipped when it is not installed (neither is a dependency of ragkit:
``pip install semantic-kernel autogen-agentchat "autogen-ext[openai]"``).
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Annotated, Any

import openai
import pytest
from conftest import CORPUS
from server_helpers import Server, chat_model_server, e42_and_weather, manuals_store

pytestmark = pytest.mark.timeout(600)
MODEL = "test-model"
MOUNT = "How high above the ground should the WS-200 sensor array be mounted?"
MAST = "What mast diameter does its bracket fit?"
SOLAR = "Which direction should the solar panel face in the northern hemisphere?"
E42_AND_WEATHER = "What does E42 mean, and what is the weather in Oslo?"
WEATHER = "cloudy, 12 C"
#: skipped before the module's servers start when the framework is not installed
needs_sk = pytest.mark.skipif(importlib.util.find_spec("semantic_kernel") is None,
                              reason="semantic-kernel is not installed: pip install semantic-kernel")
needs_autogen = pytest.mark.skipif(importlib.util.find_spec("autogen_ext") is None,
                                   reason="AutoGen is not installed: pip install autogen-agentchat "
                                          "'autogen-ext[openai]'")


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("sk-autogen-offline") / "home", "--no-auth").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def chat(tmp_path_factory, openai_server):
    running = chat_model_server(tmp_path_factory.mktemp("sk-autogen-chat") / "home", openai_server.url, MODEL)
    running.store = manuals_store(running.client())  # type: ignore[attr-defined]
    yield running
    running.stop()


def _script(llm, function: str) -> None:
    """The model searches and calls ``function`` at once, then answers from both."""
    llm.state.tool_script.extend([
        {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}},
                        {"name": function, "arguments": {"city": "Oslo"}}]}, e42_and_weather])


def _gone(*lookups: tuple[Any, str]) -> None:
    """Each (retrieve, id) is a 404: the framework's delete call deleted it."""
    for lookup, object_id in lookups:
        with pytest.raises(openai.NotFoundError):
            lookup(object_id)


# --- Semantic Kernel ---------------------------------------------------------------------------


def _kernel_weather():
    from semantic_kernel import functions

    class Weather:
        @functions.kernel_function(description="The weather in a city now.")
        def get_weather(self, city: Annotated[str, "the city"]) -> str:
            return WEATHER if city == "Oslo" else "unknown"

    return Weather()


@needs_sk
def test_semantic_kernel_assistant_agent_searches_follows_up_and_streams_citations(offline):
    """The sample does not wait for the store: the run waits for its files. Streamed, each
    citation is a ``StreamingAnnotationContent`` of the marker's delta."""
    from semantic_kernel import agents
    from semantic_kernel.contents import (
        AnnotationContent, AuthorRole, ChatMessageContent, FileReferenceContent, StreamingAnnotationContent,
        TextContent,
    )

    made: dict[str, Any] = {}

    async def main() -> None:
        client = agents.OpenAIAssistantAgent.create_client(api_key="none", ai_model_id="gpt-4o",
                                                           base_url=offline.base_url)
        with open(CORPUS / "ws200-user-manual.pdf", "rb") as handle:
            file = await client.files.create(file=handle, purpose="assistants")
        store = await client.vector_stores.create(name="sk", file_ids=[file.id])
        tools, resources = agents.OpenAIAssistantAgent.configure_file_search_tool(store.id)
        definition = await client.beta.assistants.create(model="gpt-4o", name="FileSearch", tools=tools,
                                                         tool_resources=resources,
                                                         instructions="Answer from the manual.")
        agent = agents.OpenAIAssistantAgent(client=client, definition=definition)
        reply = await agent.get_response(messages=MOUNT)
        assert "1.5 metres" in str(reply)
        notes = [i for i in reply.items if isinstance(i, AnnotationContent)]
        assert notes and {n.file_id for n in notes} == {file.id}
        thread = reply.thread
        [follow] = [r async for r in agent.invoke(messages=MAST, thread=thread)]
        assert "25 and 50 millimetres" in str(follow)
        chunks = [c async for c in agent.invoke_stream(messages=SOLAR, thread=thread)]
        assert "south" in "".join(str(c) for c in chunks)
        streamed = [(str(c), i) for c in chunks for i in c.items if isinstance(i, StreamingAnnotationContent)]
        assert streamed and all(text == note.quote for text, note in streamed)  # the marker
        assert {note.file_id for _, note in streamed} == {file.id}
        messages = [m async for m in thread.get_messages(sort_order="asc")]
        assert [m.role for m in messages] == [AuthorRole.USER, AuthorRole.ASSISTANT] * 3

        # a file attached for file_search in additional_messages: the assistant needs no store
        with open(CORPUS / "support-faq.txt", "rb") as handle:
            faq = await client.files.create(file=handle, purpose="assistants")
        bare = agents.OpenAIAssistantAgent(client=client, definition=await client.beta.assistants.create(
            model="gpt-4o", tools=[{"type": "file_search"}]))
        own = agents.AssistantAgentThread(client=client)
        await own.create()
        question = ChatMessageContent(role=AuthorRole.USER, items=[
            TextContent(text="How do I update the firmware?"),
            FileReferenceContent(file_id=faq.id, tools=["file_search"])])
        attached = await bare.get_response(thread=own, additional_messages=[question])
        assert "Settings > Firmware" in str(attached)

        made.update(store=store.id, files=(file.id, faq.id), threads=(thread.id, own.id),
                    assistants=(agent.id, bare.id))
        await client.vector_stores.delete(store.id)
        for file_id in made["files"]:
            await client.files.delete(file_id)
        for used in (thread, own):
            await used.delete()
        for assistant_id in made["assistants"]:
            await client.beta.assistants.delete(assistant_id)

    asyncio.run(main())
    sync = offline.client()
    _gone((sync.vector_stores.retrieve, made["store"]), *[(sync.files.retrieve, f) for f in made["files"]],
          *[(sync.beta.threads.retrieve, t) for t in made["threads"]],
          *[(sync.beta.assistants.retrieve, a) for a in made["assistants"]])


@needs_sk
def test_semantic_kernel_responses_agent_answers_over_the_store_and_follows_up(offline):
    from semantic_kernel import agents
    from semantic_kernel.contents import AnnotationContent

    async def main() -> None:
        client = agents.OpenAIResponsesAgent.create_client(api_key="none", ai_model_id="ragkit-extractive",
                                                           base_url=offline.base_url)
        with open(CORPUS / "ws200-user-manual.pdf", "rb") as handle:
            file = await client.files.create(file=handle, purpose="assistants")
        store = await client.vector_stores.create(name="sk-responses")
        await client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file.id)
        search = agents.OpenAIResponsesAgent.configure_file_search_tool(store.id, max_num_results=5,
                                                                        score_threshold=0.1, ranker="auto")
        agent = agents.OpenAIResponsesAgent(ai_model_id="ragkit-extractive", client=client, name="FileSearch",
                                            instructions="Answer from the manual.", tools=[search])
        reply = await agent.get_response(messages=MOUNT)
        assert "1.5 metres" in str(reply)
        notes = [i for i in reply.items if isinstance(i, AnnotationContent)]
        assert notes and notes[0].file_id == file.id and "1.5 metres" in notes[0].quote  # ragkit's quote
        thread = reply.thread
        [follow] = [r async for r in agent.invoke(messages=MAST, thread=thread)]
        assert "25 and 50 millimetres" in str(follow)
        chunks = [str(c) async for c in agent.invoke_stream(messages=SOLAR, thread=thread)]
        assert "south" in "".join(chunks)
        await thread.delete()
        await client.vector_stores.delete(store.id)
        await client.files.delete(file.id)

    asyncio.run(main())


@needs_sk
def test_semantic_kernel_agents_call_kernel_functions_beside_file_search(chat, llm):
    from semantic_kernel import agents
    weather = _kernel_weather()

    async def main() -> None:
        client = agents.OpenAIAssistantAgent.create_client(api_key="none", ai_model_id=MODEL, base_url=chat.base_url)
        tools, resources = agents.OpenAIAssistantAgent.configure_file_search_tool(chat.store)
        definition = await client.beta.assistants.create(model=MODEL, tools=tools, tool_resources=resources)
        agent = agents.OpenAIAssistantAgent(client=client, definition=definition, plugins=[weather])
        _script(llm, "Weather-get_weather")
        reply = await agent.get_response(messages=E42_AND_WEATHER)
        assert "anemometer cable is disconnected [1]" in str(reply) and WEATHER in str(reply)
        _script(llm, "Weather-get_weather")
        streamed = "".join([str(c) async for c in agent.invoke_stream(messages=E42_AND_WEATHER, thread=reply.thread)])
        assert "disconnected [1]" in streamed and WEATHER in streamed
        await reply.thread.delete()
        await client.beta.assistants.delete(agent.id)

        responses = agents.OpenAIResponsesAgent(
            ai_model_id=MODEL, client=client, name="FileSearch", plugins=[weather],
            tools=[agents.OpenAIResponsesAgent.configure_file_search_tool(chat.store)])
        _script(llm, "Weather-get_weather")
        reply = await responses.get_response(messages=E42_AND_WEATHER)
        assert "disconnected [1]" in str(reply) and WEATHER in str(reply)

    asyncio.run(main())
    outputs = [m for r in llm.chat_requests() for m in r["body"]["messages"] if m["role"] == "tool"]
    assert {"role": "tool", "tool_call_id": "call_1_1", "content": WEATHER} in outputs


# --- AutoGen -----------------------------------------------------------------------------------


async def get_weather(city: str) -> str:
    """The weather in a city now."""
    return WEATHER if city == "Oslo" else "unknown"


@needs_autogen
def test_autogen_assistant_agent_uploads_searches_and_cleans_up(offline):
    """The agent makes the store, uploads the file and polls the batch itself; ``on_reset``
    deletes the thread's messages, the ``delete_*`` calls the rest."""
    from autogen_ext.agents.openai import OpenAIAssistantAgent
    from autogen_agentchat.base import Response
    from autogen_agentchat.messages import TextMessage
    from autogen_core import CancellationToken

    state: dict[str, Any] = {}

    async def main() -> None:
        token = CancellationToken()
        agent = OpenAIAssistantAgent(
            name="manuals", description="Answers from the manuals.", model="gpt-4o",
            client=openai.AsyncOpenAI(api_key="none", base_url=offline.base_url),
            instructions="Answer from the files.", tools=["file_search"])
        await agent.on_upload_for_file_search(str(CORPUS / "ws200-user-manual.pdf"), token)
        reply = await agent.on_messages([TextMessage(source="user", content=MOUNT)], token)
        assert "1.5 metres" in reply.chat_message.content
        events = [e async for e in agent.on_messages_stream([TextMessage(source="user", content=MAST)], token)]
        assert isinstance(events[-1], Response) and "25 and 50 millimetres" in events[-1].chat_message.content
        state.update(await agent.save_state())
        await agent.on_reset(token)
        await agent.delete_uploaded_files(token)
        await agent.delete_vector_store(token)
        await agent.delete_assistant(token)

    asyncio.run(main())
    sync = offline.client()
    assert not sync.beta.threads.messages.list(thread_id=state["thread_id"]).data
    _gone((sync.vector_stores.retrieve, state["vector_store_id"]),
          (sync.files.retrieve, state["uploaded_file_ids"][0]), (sync.beta.assistants.retrieve, state["assistant_id"]))


@needs_autogen
def test_autogen_openai_agent_and_chat_completion_client_answer_over_the_store(offline):
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.messages import ModelClientStreamingChunkEvent
    from autogen_core.models import ModelFamily, UserMessage
    from autogen_ext.agents.openai import OpenAIAgent
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    sync = offline.client()
    store = manuals_store(sync)

    async def main() -> None:
        responses = OpenAIAgent(name="manuals", description="d", model="ragkit-extractive",
                                client=openai.AsyncOpenAI(api_key="none", base_url=offline.base_url),
                                instructions="Answer from the files.",
                                tools=[{"type": "file_search", "vector_store_ids": [store]}])
        assert "1.5 metres" in (await responses.run(task=MOUNT)).messages[-1].content
        assert "25 and 50 millimetres" in (await responses.run(task=MAST)).messages[-1].content

        info = {"vision": False, "function_calling": True, "json_output": True, "structured_output": True,
                "family": ModelFamily.UNKNOWN}
        model = OpenAIChatCompletionClient(model="ragkit-extractive", base_url=offline.base_url, api_key="none",
                                           model_info=info, extra_body={"vector_store_ids": [store]})
        made = await model.create([UserMessage(content=MOUNT, source="user")])
        assert "1.5 metres" in made.content and made.usage.prompt_tokens > 0
        chunks = [c async for c in model.create_stream([UserMessage(content=MOUNT, source="user")],
                                                       include_usage=True)]
        assert "1.5 metres" in chunks[-1].content and chunks[-1].usage.completion_tokens > 0
        agent = AssistantAgent("manuals", model_client=model, model_client_stream=True)
        events = [e async for e in agent.run_stream(task=SOLAR)]
        assert any(isinstance(e, ModelClientStreamingChunkEvent) for e in events)
        assert "south" in events[-1].messages[-1].content
        follow = await agent.run(task="And in the southern hemisphere?")
        assert "north in the southern hemisphere" in follow.messages[-1].content
        await model.close()

    asyncio.run(main())


@needs_autogen
def test_autogen_agents_call_their_functions_beside_file_search(chat, llm):
    """The model searches and calls ``get_weather`` at once, on the Assistants API and on chat
    completions; either way the answer cites the passage searched before the call."""
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.messages import TextMessage, ToolCallExecutionEvent
    from autogen_core import CancellationToken
    from autogen_core.models import ModelFamily
    from autogen_ext.agents.openai import OpenAIAssistantAgent
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    async def main() -> None:
        token = CancellationToken()
        assistant = OpenAIAssistantAgent(
            name="manuals", description="d", model=MODEL, instructions="Answer field technicians.",
            client=openai.AsyncOpenAI(api_key="none", base_url=chat.base_url), tools=["file_search", get_weather],
            tool_resources={"file_search": {"vector_store_ids": [chat.store]}})
        _script(llm, "get_weather")
        reply = await assistant.on_messages([TextMessage(source="user", content=E42_AND_WEATHER)], token)
        assert "disconnected [1]" in reply.chat_message.content and WEATHER in reply.chat_message.content
        assert any(isinstance(m, ToolCallExecutionEvent) for m in reply.inner_messages)
        await assistant.delete_assistant(token)

        info = {"vision": False, "function_calling": True, "json_output": True, "structured_output": True,
                "family": ModelFamily.UNKNOWN}
        model = OpenAIChatCompletionClient(model=MODEL, base_url=chat.base_url, api_key="none", model_info=info,
                                           extra_body={"vector_store_ids": [chat.store]})
        # AutoGen sends the function's output back without ragkit's searches, but the server kept
        # them under the calls: the passage is in the answering request again and [1] stays
        _script(llm, "get_weather")
        agent = AssistantAgent("manuals", model_client=model, tools=[get_weather], reflect_on_tool_use=True)
        result = await agent.run(task=E42_AND_WEATHER)
        said = result.messages[-1].content
        assert said == f"E42 means the anemometer cable is disconnected [1]. In Oslo it is {WEATHER}."
        last = llm.chat_requests()[-1]["body"]["messages"]
        assert any(m["role"] == "tool" and "anemometer cable is disconnected" in m["content"] for m in last)
        await model.close()

    asyncio.run(main())
