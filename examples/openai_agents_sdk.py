"""The OpenAI Agents SDK (``openai-agents``) against ``ragkit serve``: an agent with
``FileSearchTool`` over a vector store and a ``@function_tool``, run once and once streamed.

The Agents SDK talks to the Responses API (``OpenAIResponsesModel``), which ragkit serves:
``file_search`` runs in ragkit over its vector stores, and a call to ``station_status`` is
handed back to the SDK, which runs the Python function and sends its output with the next
request, as it would to OpenAI. ``FileSearchTool`` is a hosted tool, which the chat-completions
model class (``OpenAIChatCompletionsModel``) cannot carry; the last part shows that class too,
with the store passed in ``ModelSettings(extra_body={"vector_store_ids": [...]})`` instead.

Tracing is turned off (``set_tracing_disabled(True)``): it would upload traces to OpenAI.

The function tool needs a chat model behind ragkit (start ``ragkit serve`` with ``RAGKIT_MODEL``,
and ``RAGKIT_BASE_URL`` for a local OpenAI-compatible server). Without one, the agent keeps only
``FileSearchTool`` and ragkit's offline answerer answers with quotes from the documents.

Run::

    pip install 'ragkit[examples]'
    python examples/openai_agents_sdk.py

Environment: ``RAGKIT_BASE_URL`` (default http://127.0.0.1:8080/v1), ``RAGKIT_API_KEY``,
``RAGKIT_VECTOR_STORE_ID`` (default: a store of the sample corpus, created on first use).
"""

from __future__ import annotations

import asyncio
import json
import sys

from agents import (
    Agent, FileSearchTool, ItemHelpers, MessageOutputItem, ModelSettings, OpenAIChatCompletionsModel,
    OpenAIResponsesModel, Runner, ToolCallItem, ToolCallOutputItem, function_tool, set_tracing_disabled,
)
from openai import AsyncOpenAI
from ragkit_env import OFFLINE_MODEL, api_key, base_url, chat_model, check, client, vector_store

QUESTION = "Station OSL-7 reports a fault. Look up its status and tell me what its error code means."
OFFLINE_QUESTION = "What does error code E42 mean?"
STREAMED_QUESTION = "How do I reset the WS-200 sensor array?"


@function_tool
def station_status(station_id: str) -> str:
    """The live status of a weather station: its last error code and battery level.

    Args:
        station_id: the station's identifier, such as OSL-7.
    """
    return json.dumps({"station_id": station_id, "last_error": "E42", "battery": "81%"})


def citations(items) -> list[str]:
    """``[n] file p.page: quote`` for each ``file_citation`` in the agent's messages."""
    lines = []
    for item in items:
        if not isinstance(item, MessageOutputItem):
            continue
        for part in item.raw_item.content:
            for note in getattr(part, "annotations", None) or []:
                if note.type == "file_citation":
                    page = getattr(note, "page", None)
                    quote = " ".join(str(getattr(note, "quote", "") or "").split())
                    lines.append(f"[{getattr(note, 'n', '?')}] {note.filename}{f' p.{page}' if page else ''}: {quote}")
    return lines


def show_steps(items) -> None:
    for item in items:
        if isinstance(item, ToolCallItem):
            raw = item.raw_item
            kind = getattr(raw, "type", "")
            detail = getattr(raw, "queries", None) if kind == "file_search_call" else getattr(raw, "arguments", "")
            print(f"  tool call: {getattr(raw, 'name', None) or kind} {detail}")
        elif isinstance(item, ToolCallOutputItem):
            print(f"  tool output: {item.output}")


async def run_once(agent: Agent, question: str) -> None:
    print(f"Q: {question}")
    result = await Runner.run(agent, question)
    show_steps(result.new_items)
    print(f"A: {result.final_output}")
    lines = citations(result.new_items)
    for line in lines:
        print("  " + line)
    check(result.final_output, "the agent gave no answer")
    check(lines, "the agent's answer has no citation")


async def run_streamed(agent: Agent, question: str) -> None:
    print(f"\nQ (streamed): {question}\nA: ", end="", flush=True)
    result = Runner.run_streamed(agent, question)
    deltas = 0
    async for event in result.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            print(event.data.delta, end="", flush=True)
            deltas += 1
        elif event.type == "run_item_stream_event" and event.name == "message_output_created":
            text = ItemHelpers.text_message_output(event.item)
            check(text, "a streamed message was empty")
    print()
    for line in citations(result.new_items):
        print("  " + line)
    check(deltas and result.final_output, "the streamed run produced no text")


async def main() -> int:
    set_tracing_disabled(True)
    model_name = chat_model(client())
    store = vector_store(client())
    sdk = AsyncOpenAI(base_url=base_url(), api_key=api_key(), timeout=300)
    search = FileSearchTool(vector_store_ids=[store], max_num_results=5)
    if model_name is None:
        print("No chat model behind ragkit: the agent answers with file search only, through ragkit's "
              "offline answerer (function tools need a chat model).\n")
        tools, question = [search], OFFLINE_QUESTION
    else:
        tools, question = [search, station_status], QUESTION
    agent = Agent(name="Halvard support", model=OpenAIResponsesModel(model_name or OFFLINE_MODEL, sdk),
                  instructions="Answer questions about Halvard weather stations from their documents.",
                  tools=tools)
    await run_once(agent, question)
    await run_streamed(agent, STREAMED_QUESTION)
    if model_name is not None:
        await over_chat_completions(sdk, model_name, store)
    return 0


async def over_chat_completions(sdk: AsyncOpenAI, model_name: str, store: str) -> None:
    """The same agent on ``OpenAIChatCompletionsModel``: hosted tools such as ``FileSearchTool``
    do not exist there, so the store goes in the request (``extra_body``) and ragkit offers
    ``file_search`` to the model beside the agent's functions. Citations are then ``[n]`` markers
    in the text (the SDK keeps no annotations from chat completions)."""
    agent = Agent(name="Halvard support (chat completions)", model=OpenAIChatCompletionsModel(model_name, sdk),
                  instructions="Answer questions about Halvard weather stations from their documents.",
                  tools=[station_status], model_settings=ModelSettings(extra_body={"vector_store_ids": [store]}))
    print(f"\nQ (chat completions): {QUESTION}")
    result = await Runner.run(agent, QUESTION)
    show_steps(result.new_items)
    print(f"A: {result.final_output}")
    check("[" in str(result.final_output), "the answer has no [n] citation")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
