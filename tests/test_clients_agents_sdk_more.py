"""The OpenAI Agents SDK (``openai-agents``) against a real ``ragkit serve``, beyond
examples/openai_agents_sdk.py: the SDK's memories (``OpenAIConversationsSession`` on ragkit's
/v1/conversations, ``SQLiteSession``, ``conversation_id``, ``previous_response_id``),
``FileSearchTool``'s options, the ``ModelSettings`` fields it sends, its stream and the usage it
reads, offline (the extractive answerer); with a chat model (the scripted test model,
tests/openai_server.py), handoffs, an input guardrail agent without tools,
``tool_use_behavior="stop_on_first_tool"`` and a session over function calls.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel
from server_helpers import SOURCE, Server, manuals_store
from tool_loop_helpers import MODEL, client, server, store  # noqa: F401 - the chat model's server

agents = pytest.importorskip("agents")
from openai import AsyncOpenAI  # noqa: E402

pytestmark = pytest.mark.timeout(600)
OFFLINE = "ragkit-extractive"
E42 = "What does error code E42 mean?"
SEARCH = {"tool_calls": [{"name": "file_search", "arguments": {"query": "error code E42"}}]}
STATUS_CALL = {"tool_calls": [{"name": "station_status", "arguments": {"station_id": "OSL-7"}}]}
agents.set_tracing_disabled(True)  # traces would go to OpenAI


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("agents-offline") / "home", "--no-auth").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def labelled(offline):
    """The manuals store, its files labelled ``kind`` and ``year`` for ``FileSearchTool``'s filters."""
    sdk = offline.client()
    vs = manuals_store(sdk)
    for attached in sdk.vector_stores.files.list(vs):
        manual = sdk.files.retrieve(attached.id).filename.startswith("ws200")
        sdk.vector_stores.files.update(attached.id, vector_store_id=vs, attributes={
            "kind": "manual" if manual else "faq", "year": 2024 if manual else 2022})
    return vs


def _sdk(running: Server) -> AsyncOpenAI:
    """An async client (made inside each run: it belongs to the event loop it is used in)."""
    return AsyncOpenAI(base_url=running.base_url, api_key="none", max_retries=0)


def _agent(running: Server, store: str, model: str = OFFLINE, **kwargs: Any):
    kwargs.setdefault("tools", [agents.FileSearchTool(vector_store_ids=[store])])
    kwargs.setdefault("name", "support")
    return agents.Agent(model=agents.OpenAIResponsesModel(model, _sdk(running)), **kwargs)


def _searches(result) -> list:
    return [i.raw_item for i in result.new_items
            if isinstance(i, agents.ToolCallItem) and i.raw_item.type == "file_search_call"]


def _cited(result) -> list[str]:
    return [note.filename for item in result.new_items if isinstance(item, agents.MessageOutputItem)
            for note in item.raw_item.content[0].annotations]


def cite(word: str, text: str):
    """A scripted answer citing the passage that holds ``word``."""
    def reply(body: dict) -> dict:
        passages = "\n".join(str(m["content"]) for m in body["messages"] if m["role"] == "tool")
        number = next(n for n, _file, _page, found in SOURCE.findall(passages) if word in found)
        return {"content": f"{text} [{number}]"}
    return reply


def _bodies(llm) -> list[dict]:
    return [r["body"] for r in llm.chat_requests()]


# --- offline -------------------------------------------------------------------------------------


def test_a_conversations_session_keeps_the_turns_in_a_ragkit_conversation(offline, labelled):
    """``OpenAIConversationsSession`` creates a conversation, reads it back before each turn and
    adds the turn's items; ``pop_item`` deletes the last, ``clear_session`` the conversation."""
    async def scenario() -> tuple:
        session = agents.OpenAIConversationsSession(openai_client=_sdk(offline))
        agent = _agent(offline, labelled)
        first = await agents.Runner.run(agent, E42, session=session)
        follow = await agents.Runner.run(agent, "How do I fix it?", session=session)
        kept, last_two = await session.get_items(), await session.get_items(limit=2)
        popped = await session.pop_item()
        left = await session.get_items()
        await session.add_items([{"role": "user", "content": "Thanks."}])
        grown, conversation = await session.get_items(), session.session_id
        await session.clear_session()
        return first, follow, kept, last_two, popped, left, grown, conversation

    first, follow, kept, last_two, popped, left, grown, conversation = asyncio.run(scenario())
    assert "anemometer cable is disconnected" in first.final_output
    assert "E42" in _searches(follow)[0].queries[0]  # the follow-up, made standalone from the session's turns
    assert [(i["type"], i.get("role")) for i in kept] == [
        ("message", "user"), ("file_search_call", None), ("message", "assistant")] * 2
    assert kept[2]["content"][0]["annotations"][0]["filename"] == "ws200-user-manual.pdf"  # citations kept
    assert last_two == kept[-2:] and popped == kept[-1] and left == kept[:-1]
    assert grown[-1]["role"] == "user" and len(grown) == 6
    with pytest.raises(openai.NotFoundError):
        offline.client().conversations.retrieve(conversation)


def test_follow_ups_by_sqlite_session_conversation_id_and_previous_response_id(offline, labelled):
    async def scenario() -> tuple:
        agent, sdk, session = _agent(offline, labelled), _sdk(offline), agents.SQLiteSession("support")
        await agents.Runner.run(agent, E42, session=session)
        by_session = await agents.Runner.run(agent, "How do I fix it?", session=session)
        conversation = (await sdk.conversations.create()).id
        await agents.Runner.run(agent, E42, conversation_id=conversation)
        by_conversation = await agents.Runner.run(agent, "How do I fix it?", conversation_id=conversation)
        held = [item async for item in sdk.conversations.items.list(conversation)]
        first = await agents.Runner.run(agent, E42)
        by_previous = await agents.Runner.run(agent, "How do I fix it?", previous_response_id=first.last_response_id)
        return (by_session, by_conversation, by_previous), held

    follow_ups, held = asyncio.run(scenario())
    for result in follow_ups:
        assert "E42" in _searches(result)[0].queries[0] and _cited(result) == ["ws200-user-manual.pdf"]
    assert len(held) == 6  # with conversation_id the SDK sends only the new question


def test_file_search_tool_options(offline, labelled):
    async def search(question: str, **options: Any) -> tuple:
        tool = agents.FileSearchTool(vector_store_ids=[labelled], include_search_results=True, **options)
        result = await agents.Runner.run(_agent(offline, labelled, tools=[tool]), question)
        [call] = _searches(result)
        return result, call.results

    async def scenario() -> list[tuple]:
        support = "How do I contact support?"
        return [await search(E42, max_num_results=2), await search(E42, ranking_options={"score_threshold": 0.99}),
                await search(E42, ranking_options={"ranker": "auto", "hybrid_search": {
                    "embedding_weight": 0.5, "text_weight": 0.5}}),
                await search(support, filters={"type": "eq", "key": "kind", "value": "faq"}),
                await search(support, filters={"type": "and", "filters": [
                    {"type": "eq", "key": "kind", "value": "manual"}, {"type": "gte", "key": "year", "value": 2024}]})]

    capped, strict, hybrid, faq, manual = asyncio.run(scenario())
    assert len(capped[1]) == 2 and _cited(capped[0]) == ["ws200-user-manual.pdf"]
    assert strict[1] == [] and not _cited(strict[0])
    assert hybrid[1] and "anemometer" in hybrid[0].final_output
    assert {r.filename for r in faq[1]} == {"support-faq.txt"} and "support@halvard.example" in faq[0].final_output
    assert manual[1] and {(r.filename, r.attributes["kind"]) for r in manual[1]} == {
        ("ws200-user-manual.pdf", "manual")}


def test_the_model_settings_the_sdk_sends_and_the_usage_it_reads(offline, labelled):
    """Every ``ModelSettings`` field reaches ragkit as a Responses parameter it accepts and echoes;
    ``top_logprobs`` is the 400 that says a grounded answer has none (ragkit serves no log
    probabilities)."""
    settings = agents.ModelSettings(
        truncation="auto", store=True, metadata={"team": "support"}, parallel_tool_calls=True, temperature=0.2,
        top_p=0.9, max_tokens=400, reasoning={"effort": "low"}, verbosity="low", tool_choice="file_search",
        response_include=["file_search_call.results"], prompt_cache_retention="24h",
        extra_args={"service_tier": "auto", "user": "u-1"})

    async def scenario() -> tuple:
        done = await agents.Runner.run(_agent(offline, labelled, model_settings=settings), E42)
        unstored = await agents.Runner.run(
            _agent(offline, labelled, model_settings=agents.ModelSettings(store=False)), E42)
        with pytest.raises(openai.BadRequestError) as refused:
            await agents.Runner.run(_agent(offline, labelled, model_settings=agents.ModelSettings(top_logprobs=2)), E42)
        return done, unstored, refused.value

    done, unstored, refused = asyncio.run(scenario())
    kept = offline.client().responses.retrieve(done.last_response_id)
    assert (kept.metadata, kept.truncation, kept.temperature, kept.top_p, kept.max_output_tokens) == (
        {"team": "support"}, "auto", 0.2, 0.9, 400)
    assert kept.parallel_tool_calls is True and kept.user == "u-1" and _searches(done)[0].results
    usage = done.context_wrapper.usage
    assert usage.requests == 1 and usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    with pytest.raises(openai.NotFoundError):
        offline.client().responses.retrieve(unstored.last_response_id)
    assert refused.body["param"] == "top_logprobs" and "leave it out" in refused.message


def test_run_streamed_sends_the_raw_response_events_and_the_run_items(offline, labelled):
    async def scenario() -> tuple:
        run = agents.Runner.run_streamed(_agent(offline, labelled), E42)
        kinds = [event.data.type if event.type == "raw_response_event" else getattr(event, "name", event.type)
                 async for event in run.stream_events()]
        return run, kinds

    run, kinds = asyncio.run(scenario())
    raw = [k for k in kinds if k.startswith("response.")]
    assert raw[:2] == ["response.created", "response.in_progress"] and raw[-1] == "response.completed"
    for kind in ("response.file_search_call.completed", "response.output_text.delta",
                 "response.output_text.annotation.added", "response.output_text.done"):
        assert kind in raw
    assert kinds[-2:] == ["tool_called", "message_output_created"]
    assert "anemometer cable is disconnected" in run.final_output and run.context_wrapper.usage.total_tokens > 0


# --- with a chat model ---------------------------------------------------------------------------


def test_a_handoff_goes_on_with_the_next_agents_instructions_and_tools(server, store, llm):
    """A handoff is a function call the SDK answers itself, then the next agent asks with the
    exchange so far, its own instructions and tools; run, and streamed."""
    transfer = {"tool_calls": [{"name": "transfer_to_expert", "arguments": {}}]}
    answer = cite("E42", "E42 means the anemometer cable is disconnected")
    llm.state.tool_script.extend([transfer, SEARCH, answer, transfer, SEARCH, answer])

    def triage():
        expert = _agent(server, store, MODEL, name="Expert", instructions="You explain error codes.")
        return _agent(server, store, MODEL, name="Triage", instructions="Hand error codes to the expert.",
                      tools=[], handoffs=[expert])

    async def scenario() -> tuple:
        result = await agents.Runner.run(triage(), "What does E42 mean?")
        streamed = agents.Runner.run_streamed(triage(), "What does E42 mean?")
        names = [event.name if event.type == "run_item_stream_event" else event.new_agent.name
                 async for event in streamed.stream_events() if event.type != "raw_response_event"]
        return result, streamed, names

    result, streamed, names = asyncio.run(scenario())
    for done in (result, streamed):
        assert done.last_agent.name == "Expert"
        assert done.final_output == "E42 means the anemometer cable is disconnected [1]"
        assert _cited(done) == ["ws200-user-manual.pdf"]
    assert [i.type for i in result.new_items] == ["handoff_call_item", "handoff_output_item", "tool_call_item",
                                                  "message_output_item"]
    assert names == ["Triage", "handoff_requested", "handoff_occured", "Expert", "tool_called",
                     "message_output_created"]
    for asked, instructions, tools in zip(_bodies(llm), ["Hand error codes to the expert.", "You explain error codes."],
                                          [["transfer_to_expert"], ["file_search"]]):
        assert asked["messages"][0]["content"].endswith(instructions)
        assert [t["function"]["name"] for t in asked["tools"]] == tools


class Topic(BaseModel):
    off_topic: bool


def test_an_input_guardrail_agent_without_tools(server, store, llm):
    """The guardrail's own agent has no tools and an ``output_type``: the chat model answers it
    from its instructions alone (there is no store to search), and its verdict trips the wire or
    lets the support agent answer over the store."""
    llm.state.tool_script.extend([{"content": '{"off_topic": true}'}, {"content": '{"off_topic": false}'}])

    async def scenario() -> tuple:
        guard = agents.Agent(name="Guard", instructions="Say whether the question is off topic.", output_type=Topic,
                             model=agents.OpenAIResponsesModel(MODEL, _sdk(server)))

        @agents.input_guardrail(run_in_parallel=False)  # the verdict first: the scripted replies come in order
        async def on_topic(context, agent, question):
            verdict = await agents.Runner.run(guard, question, context=context.context)
            return agents.GuardrailFunctionOutput(output_info=verdict.final_output,
                                                  tripwire_triggered=verdict.final_output.off_topic)

        support = _agent(server, store, MODEL, input_guardrails=[on_topic])
        with pytest.raises(agents.InputGuardrailTripwireTriggered) as tripped:
            await agents.Runner.run(support, "What is 2+2?")
        return tripped.value, await agents.Runner.run(support, E42)

    tripped, answered = asyncio.run(scenario())
    assert tripped.guardrail_result.output.output_info == Topic(off_topic=True)
    assert "anemometer cable is disconnected" in answered.final_output
    assert "ws200-user-manual.pdf" in _cited(answered)
    *checks, answering = _bodies(llm)
    assert len(checks) == 2 and all("tools" not in body for body in checks)
    assert all(body["response_format"]["json_schema"]["name"] == "final_output" for body in checks)
    assert all(body["messages"][0]["content"].startswith("Say whether the question is off topic.") for body in checks)
    assert "E42" in json.dumps(answering["messages"])  # the support agent's grounded answer


@agents.function_tool
def station_status(station_id: str) -> str:
    """The live status of a weather station.

    Args:
        station_id: the station's identifier, such as OSL-7.
    """
    return json.dumps({"station_id": station_id, "last_error": "E42"})


def test_stop_on_first_tool_ends_the_run_with_the_functions_output(server, store, llm):
    llm.state.tool_script.append(STATUS_CALL)
    agent = _agent(server, store, MODEL, tools=[agents.FileSearchTool(vector_store_ids=[store]), station_status],
                   tool_use_behavior="stop_on_first_tool")
    result = agents.Runner.run_sync(agent, "What is the status of OSL-7?")
    assert json.loads(result.final_output) == {"station_id": "OSL-7", "last_error": "E42"}
    assert len(_bodies(llm)) == 1


def test_a_session_and_server_side_chaining_over_function_calls(server, store, llm):
    """Two turns with a function call, kept three ways: in an ``OpenAIConversationsSession`` (the
    SDK sends the turn's items back, the answer with its id: the model reads it once), with
    ``auto_previous_response_id`` and with ``conversation_id`` (ragkit holds the exchange)."""
    for _ in range(3):
        llm.state.tool_script.extend([STATUS_CALL, SEARCH, cite("E42", "OSL-7 reports E42"), SEARCH,
                                      cite("anemometer", "Reconnect the anemometer cable")])

    async def turns(**memory: Any) -> tuple:
        agent = _agent(server, store, MODEL, tools=[agents.FileSearchTool(vector_store_ids=[store]), station_status])
        first = await agents.Runner.run(agent, "What is wrong with OSL-7?", **memory)
        if "auto_previous_response_id" in memory:
            memory = {"previous_response_id": first.last_response_id}
        return first, await agents.Runner.run(agent, "How do I fix it?", **memory)

    async def scenario() -> list[tuple]:
        conversation = (await _sdk(server).conversations.create()).id
        return [await turns(session=agents.OpenAIConversationsSession(openai_client=_sdk(server))),
                await turns(auto_previous_response_id=True), await turns(conversation_id=conversation)]

    for first, follow in asyncio.run(scenario()):
        assert first.final_output == "OSL-7 reports E42 [1]" and first.context_wrapper.usage.requests == 2
        assert follow.final_output == "Reconnect the anemometer cable [1]"
    answers = [[m["content"] for m in body["messages"] if m["role"] == "assistant" and m["content"]]
               for body in _bodies(llm)]
    assert [said for said in answers if said] == [["OSL-7 reports E42 [1]"]] * 6
