"""LlamaIndex's Responses LLM and agents, Haystack's Responses generator and the ``openai``
SDK's command-line tool against a real ``ragkit serve`` (docs/clients.md has what each shows and
what it cannot do).

* LlamaIndex (``llama-index-core`` 0.14, ``llama-index-llms-openai`` 0.8, ``-openai-like`` 0.8):
  ``OpenAIResponses`` with ``built_in_tools=[file_search]``: ``chat``, ``stream_chat``, ``achat``,
  ``astream_chat``, follow-ups from the history or with ``track_previous_responses``, the
  ``file_citation`` annotations in ``additional_kwargs``; a ``FunctionAgent`` with a Python function
  on it, and on ``OpenAI`` / ``OpenAILike`` chat completions with the store in ``extra_body``, run
  and streamed, with a follow-up question from the agent's memory.
* Haystack (``haystack-ai`` 3.x): ``OpenAIResponsesChatGenerator`` with the ``file_search`` tool in
  ``generation_kwargs``, a ``streaming_callback``, ragkit's citations in ``meta``; a function beside
  the store; an ``Agent`` whose ``Tool`` the generation kwargs' ``tools`` replace.
* the ``openai`` command-line tool (``openai api ...``), which the SDK shipped until 2.34
  (``pip install 'openai<2.35'``): models, chat completions over ``--default-vector-store``, files.

Three servers: an offline one (the extractive answerer), one whose chat model is the scripted test
server (tests/openai_server.py) and one for the command-line tool. Each library is skipped, before
any server starts, when it is not installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from conftest import CORPUS
from server_helpers import Server, chat_model_server, create_key, manuals_store, upload_batch
from tool_loop_helpers import QUESTION, SEARCH_AND_CALL, WEATHER, get_weather

pytestmark = pytest.mark.timeout(600)
#: a name LlamaIndex's ``OpenAI`` class knows (it refuses others): the scripted model answers to any
MODEL = "gpt-4o-mini"
E42 = "Error code E42 means the anemometer cable is disconnected."
ANSWER = f"E42 means the anemometer cable is disconnected [1]. Oslo: {WEATHER}."
FIX = [{"tool_calls": [{"name": "file_search", "arguments": {"query": "fix error E42"}}]},
       {"content": "Reconnect the anemometer cable [1]."}]
#: on chat completions ragkit first has the model make a follow-up in a longer chat standalone
REWRITE = {"content": "How do I fix error E42?", "when": "Last message"}


@pytest.fixture(scope="session")
def llama():
    """Session-scoped, so that it is set up (or skips) before the scripted model server starts."""
    pytest.importorskip("llama_index.llms.openai", reason="pip install llama-index-llms-openai llama-index-core")
    pytest.importorskip("llama_index.llms.openai_like", reason="pip install llama-index-llms-openai-like")
    from llama_index.core.agent import workflow

    return workflow


@pytest.fixture(scope="session")
def haystack():
    os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"  # read when Haystack is imported
    chat = pytest.importorskip("haystack.components.generators.chat", reason="pip install haystack-ai")
    if not hasattr(chat, "OpenAIResponsesChatGenerator"):
        pytest.skip("this haystack-ai has no OpenAIResponsesChatGenerator")
    return chat


@pytest.fixture(scope="session")
def openai_cli():
    return pytest.importorskip("openai.cli", reason="the openai SDK shipped its CLI up to 2.34: "
                                                    "pip install 'openai<2.35'")


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("li-hs-offline") / "home", "--no-auth").start()
    server.store = manuals_store(server.client())  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chat(tmp_path_factory, openai_server):
    server = chat_model_server(tmp_path_factory.mktemp("li-hs-chat") / "home", openai_server.url, MODEL)
    server.store = manuals_store(server.client(), ["ws200-user-manual.pdf"])  # type: ignore[attr-defined]
    yield server
    server.stop()


def _model_requests(llm) -> list[list[dict[str, Any]]]:
    return [r["body"]["messages"] for r in llm.chat_requests()]


def _outputs_follow_calls(messages: list[dict[str, Any]]) -> bool:
    """Each assistant message with ``tool_calls`` is followed at once by one tool message per call."""
    for i, message in enumerate(messages):
        calls = [c["id"] for c in message.get("tool_calls") or []]
        if calls and sorted(m.get("tool_call_id") or "" for m in messages[i + 1:i + 1 + len(calls)]) != sorted(calls):
            return False
    return True


# --- LlamaIndex ------------------------------------------------------------------------------


def test_llamaindex_responses_llm_with_file_search(llama, offline):
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai import OpenAIResponses

    def responses(**options: Any) -> OpenAIResponses:
        return OpenAIResponses(model="ragkit-extractive", api_base=offline.base_url, api_key="none", max_retries=0,
                               built_in_tools=[{"type": "file_search", "vector_store_ids": [offline.store]}],
                               **options)

    asked = [ChatMessage(role="user", content="What does error E42 mean?")]
    with pytest.raises(ValueError, match="Unknown model 'ragkit-extractive'"):
        responses().chat(asked)  # its context window comes from OpenAI's model list unless given
    llm = responses(context_window=8192, include=["file_search_call.results"])
    first = llm.chat(asked)
    assert E42 in first.message.content
    [note] = first.additional_kwargs["annotations"]
    assert (note.type, note.filename, note.page, note.quote) == ("file_citation", "ws200-user-manual.pdf", 4, E42)
    [search] = first.additional_kwargs["built_in_tool_calls"]
    assert search.type == "file_search_call" and search.results[0].filename == "ws200-user-manual.pdf"

    history = [*asked, first.message, ChatMessage(role="user", content="How do I fix it?")]
    chunks = list(llm.stream_chat(history))
    assert "E42" in chunks[-1].message.content and "".join(c.delta or "" for c in chunks).strip()
    assert chunks[-1].raw.type == "response.completed"
    # streamed, the annotations are the events' own: dicts with openai 2, typed objects with openai 3
    streamed_notes = chunks[-1].additional_kwargs["annotations"]
    assert [n["page"] if isinstance(n, dict) else n.page for n in streamed_notes] == [4]
    assert chunks[-1].raw.response.ragkit["search_query"] != "How do I fix it?"  # made standalone

    async def in_one_loop() -> tuple[Any, Any]:  # the async client belongs to the loop that used it first
        answered = await llm.achat(asked)
        streamed = [chunk async for chunk in await llm.astream_chat(history)]
        return answered, streamed[-1]

    answered, streamed = asyncio.run(in_one_loop())
    assert E42 in answered.message.content and "E42" in streamed.message.content

    tracking = responses(context_window=8192, track_previous_responses=True)
    opened = tracking.chat(asked)
    followed = tracking.chat([ChatMessage(role="user", content="How do I fix it?")])
    assert "E42" in followed.message.content
    assert followed.raw.previous_response_id == opened.raw.id


def _agent_runs(agent, memory, llm, replies: list[Any]) -> list[tuple[Any, list[str]]]:
    """The question, then the follow-up (the model's ``replies`` to it scripted first), in one
    event loop: the LLM's async client belongs to the loop that used it first."""
    async def ask(question: str) -> tuple[Any, list[str]]:
        handler = agent.run(question, memory=memory)
        kinds = [type(event).__name__ async for event in handler.stream_events()]
        return await handler, kinds

    async def scenario() -> list[tuple[Any, list[str]]]:
        first = await ask(QUESTION)
        llm.state.tool_script.extend(replies)
        return [first, await ask("How do I fix it?")]

    return asyncio.run(scenario())


@pytest.mark.parametrize("streaming", [False, True], ids=["run", "stream"])
@pytest.mark.parametrize("track", [False, True], ids=["history", "previous-response-id"])
def test_a_llamaindex_function_agent_on_the_responses_llm(llama, chat, llm, track, streaming):
    """The model searches and calls the function at once: ragkit runs the search, the agent the
    function. LlamaIndex sends the exchange back without the ``file_search_call``; with
    ``track_previous_responses`` it sends ``previous_response_id`` too (and the whole exchange
    again), so ragkit goes on from the stored response, passages and ``[1]`` included."""
    from llama_index.core.memory import ChatMemoryBuffer
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.openai import OpenAIResponses

    llm.state.tool_script.extend([SEARCH_AND_CALL, {"content": ANSWER}])
    model = OpenAIResponses(model=MODEL, api_base=chat.base_url, api_key="none", max_retries=0,
                            track_previous_responses=track,
                            built_in_tools=[{"type": "file_search", "vector_store_ids": [chat.store]}])
    agent = llama.FunctionAgent(tools=[FunctionTool.from_defaults(get_weather)], llm=model, streaming=streaming,
                                system_prompt="Answer from the manual.")
    memory = ChatMemoryBuffer.from_defaults(llm=model)
    (result, kinds), (follow_up, _) = _agent_runs(agent, memory, llm, FIX)
    assert [call.tool_name for call in result.tool_calls] == ["get_weather"]
    assert ("AgentStream" in kinds) == streaming
    assert str(result) == (ANSWER if track else ANSWER.replace(" [1]", ""))
    notes = result.raw["response"]["output"][-1]["content"][0]["annotations"] if streaming else \
        result.raw["output"][-1]["content"][0]["annotations"]
    assert [n["page"] for n in notes] == ([4] if track else [])
    assert all(_outputs_follow_calls(messages) for messages in _model_requests(llm))
    assert str(follow_up) == "Reconnect the anemometer cable [1]."
    last = _model_requests(llm)[-1]
    assert any(m["content"] == QUESTION for m in last if m["role"] == "user")  # the memory went with it
    assert _outputs_follow_calls(last)
    assert [m.get("tool_call_id") for m in last].count("call_1_1") == 1  # get_weather's output, once


@pytest.mark.parametrize("streaming", [False, True], ids=["run", "stream"])
@pytest.mark.parametrize("kind", ["OpenAI", "OpenAILike"])
def test_a_llamaindex_function_agent_on_chat_completions(llama, chat, llm, kind, streaming):
    """The store in ``additional_kwargs={"extra_body": ...}``; ragkit offers ``file_search`` beside
    the agent's function. LlamaIndex keeps no ``ragkit.searches`` of the returned message, but the
    server kept them under the calls: the passages are in the request after the call again, and the
    ``[1]`` stays with its citation."""
    from llama_index.core.memory import ChatMemoryBuffer
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.openai import OpenAI
    from llama_index.llms.openai_like import OpenAILike

    llm.state.tool_script.extend([SEARCH_AND_CALL, {"content": ANSWER}])
    options: dict[str, Any] = {"model": MODEL, "api_base": chat.base_url, "api_key": "none", "max_retries": 0,
                               "additional_kwargs": {"extra_body": {"vector_store_ids": [chat.store]}}}
    model = OpenAI(**options) if kind == "OpenAI" else \
        OpenAILike(**options, is_chat_model=True, is_function_calling_model=True, context_window=8192)
    agent = llama.FunctionAgent(tools=[FunctionTool.from_defaults(get_weather)], llm=model, streaming=streaming,
                                system_prompt="Answer from the manual.")
    memory = ChatMemoryBuffer.from_defaults(llm=model)
    (result, _), (follow_up, _) = _agent_runs(agent, memory, llm, [REWRITE, *FIX])
    assert str(result) == ANSWER
    assert (result.raw["choices"][0]["delta" if streaming else "message"]["citations"][0]["page"]) == 4
    first, second = _model_requests(llm)[:2]
    assert "Answer from the manual." in first[0]["content"]  # the agent's system prompt: the operator's
    # the model gets the turn as it ran: its search (kept by the server) and its function call
    called, searched, weather = second[-3:]
    assert called == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1_0", "type": "function",
         "function": {"name": "file_search", "arguments": '{"query": "error code E42"}'}},
        {"id": "call_1_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}
    assert searched["role"] == "tool" and searched["tool_call_id"] == "call_1_0" and E42 in searched["content"]
    assert weather == {"role": "tool", "tool_call_id": "call_1_1", "content": WEATHER}
    assert str(follow_up) == "Reconnect the anemometer cable [1]."
    assert (follow_up.raw["choices"][0]["delta" if streaming else "message"]["citations"][0]["page"]) == 4


# --- Haystack --------------------------------------------------------------------------------


def test_haystack_responses_generator_with_file_search_in_generation_kwargs(haystack, offline):
    """The reply's ``meta`` is the response without its ``output``: ragkit's ``ragkit.citations``
    are there; a ``streaming_callback`` gets each event, the annotations as their own chunks."""
    from haystack.dataclasses import ChatMessage
    from haystack.utils import Secret

    file_search = {"type": "file_search", "vector_store_ids": [offline.store]}
    generator = haystack.OpenAIResponsesChatGenerator(api_key=Secret.from_token("none"), model="ragkit-extractive",
                                                      api_base_url=offline.base_url,
                                                      generation_kwargs={"tools": [file_search]})
    history = [ChatMessage.from_user("What does error E42 mean?")]
    reply = generator.run(history)["replies"][0]
    assert E42 in reply.text
    [cited] = reply.meta["ragkit"]["citations"]
    assert (cited["filename"], cited["page"], cited["quote"]) == ("ws200-user-manual.pdf", 4, E42)

    chunks: list[Any] = []
    history += [reply, ChatMessage.from_user("How do I fix it?")]
    streamed = generator.run(history, streaming_callback=chunks.append)["replies"][0]
    assert "E42" in streamed.text and streamed.meta["ragkit"]["citations"][0]["page"] == 4
    assert "".join(chunk.content for chunk in chunks) == streamed.text
    [note] = [c.meta["annotation"] for c in chunks if c.meta.get("type") == "response.output_text.annotation.added"]
    assert note["type"] == "file_citation" and note["page"] == 4
    assert streamed.meta["ragkit"]["search_query"] != "How do I fix it?"  # made standalone

    answered = asyncio.run(generator.run_async(history[:1]))["replies"][0]
    assert E42 in answered.text


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "stream"])
def test_haystack_a_function_beside_file_search(haystack, chat, llm, streamed):
    """The function as an OpenAI tool dict beside ``file_search``; Haystack sends the call back with
    its item id, so ragkit goes on from the stored response and ``[1]`` stays cited. An ``Agent``'s
    ``Tool`` is lost when ``generation_kwargs`` carry ``tools``: they replace the agent's."""
    from haystack.components.agents import Agent
    from haystack.dataclasses import ChatMessage
    from haystack.tools import Tool
    from haystack.utils import Secret

    weather = Tool(name="get_weather", description="The weather in a city now.", function=get_weather,
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    file_search = {"type": "file_search", "vector_store_ids": [chat.store]}
    llm.state.tool_script.extend([SEARCH_AND_CALL, {"content": ANSWER}])
    generator = haystack.OpenAIResponsesChatGenerator(
        api_key=Secret.from_token("none"), api_base_url=chat.base_url, model=MODEL,
        generation_kwargs={"tools": [file_search, {"type": "function", **weather.tool_spec}]})
    callback = (lambda chunk: None) if streamed else None
    history = [ChatMessage.from_user(QUESTION)]
    reply = generator.run(history, streaming_callback=callback)["replies"][0]
    [call] = reply.tool_calls
    assert (call.tool_name, call.arguments, call.extra["call_id"]) == ("get_weather", {"city": "Oslo"}, "call_1_1")
    history += [reply, ChatMessage.from_tool(weather.invoke(**call.arguments), origin=call)]
    answer = generator.run(history, streaming_callback=callback)["replies"][0]
    assert answer.text == ANSWER and answer.meta["ragkit"]["citations"][0]["page"] == 4
    assert _outputs_follow_calls(_model_requests(llm)[-1])

    replaced = haystack.OpenAIResponsesChatGenerator(api_key=Secret.from_token("none"), api_base_url=chat.base_url,
                                                     model=MODEL, generation_kwargs={"tools": [file_search]})
    messages = Agent(chat_generator=replaced, tools=[weather]).run([ChatMessage.from_user(QUESTION)])["messages"]
    assert [tool["type"] for tool in messages[-1].meta["tools"]] == ["file_search"]  # the request's tools
    assert not any(m.tool_calls for m in messages)


# --- the openai command-line tool ------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory):
    """A server with keys whose chat completions answer over ``--default-vector-store``: the
    tool has no option for ragkit's ``vector_store_ids``. The store is made first, then the
    server restarted with it."""
    home = tmp_path_factory.mktemp("li-hs-cli") / "home"
    key = create_key(home, "cli", "--scope", "write")
    first = Server(home).start()
    vs = first.client(key).vector_stores.create(name="manuals")
    assert upload_batch(first.client(key), vs.id, [CORPUS / "ws200-user-manual.pdf"]).file_counts.completed == 1
    first.stop()
    server = Server(home, "--default-vector-store", vs.id).start()
    server.key = key  # type: ignore[attr-defined]
    yield server
    server.stop()


def _cli(server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": server.key}
    done = subprocess.run([sys.executable, "-m", "openai", *args], capture_output=True, text=True, env=env,
                          timeout=120)
    assert not check or done.returncode == 0, done.stderr
    return done


def _objects(text: str) -> list[dict[str, Any]]:
    """The JSON objects the tool prints one after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) >= 0:
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found


def test_the_openai_command_line_tool(openai_cli, cli_server):
    models = _objects(_cli(cli_server, "api", "models.list").stdout)
    assert [m["id"] for m in models] == ["ragkit-extractive", "ragkit-embedding"]
    assert _objects(_cli(cli_server, "api", "models.retrieve", "-i", "ragkit-embedding").stdout)[0]["object"] == "model"

    question = ["api", "chat.completions.create", "-m", "ragkit-extractive", "-g", "user", "What does error E42 mean?"]
    assert E42 in _cli(cli_server, *question).stdout
    assert E42 in _cli(cli_server, *question, "--stream").stdout
    follow_up = [*question, "-g", "assistant", E42, "-g", "user", "How do I fix it?", "-M", "200", "-t", "0"]
    assert "E42" in _cli(cli_server, *follow_up).stdout
    refused = _cli(cli_server, *question, "-n", "2", check=False)  # the tool prints errors, exit status 0
    assert "n=2 is not supported" in refused.stderr  # one grounded answer a request

    uploaded = _objects(_cli(cli_server, "api", "files.create", "-f", str(CORPUS / "support-faq.txt"),
                             "-p", "assistants").stdout)[0]
    size = (CORPUS / "support-faq.txt").stat().st_size
    assert uploaded["filename"] == "support-faq.txt" and uploaded["bytes"] == size
    listed = _objects(_cli(cli_server, "api", "files.list").stdout)
    assert {f["filename"] for f in listed} == {"support-faq.txt", "ws200-user-manual.pdf"}
    # the tool's own bug: files.retrieve and files.delete read their --id as files.create's arguments
    broken = _cli(cli_server, "api", "files.retrieve", "-i", uploaded["id"], check=False)
    assert "CLIFileCreateArgs" in broken.stderr
    assert cli_server.client(cli_server.key).files.retrieve(uploaded["id"]).id == uploaded["id"]

    # --api-base is used as it is given: without the trailing slash the paths run on from it
    base = ["-b", cli_server.base_url, "-k", cli_server.key, "api", "models.list"]
    assert "/v1models" in _cli(cli_server, *base, check=False).stderr
    assert _objects(_cli(cli_server, "-b", cli_server.base_url + "/", *base[2:]).stdout) == models
    unserved = _cli(cli_server, "api", "fine_tuning.jobs.list", check=False)
    assert "ragkit does not serve fine-tuning" in unserved.stderr
