"""Pydantic AI (``pydantic-ai-slim[openai]``) against ``ragkit serve``: an agent whose model is
ragkit, with OpenAI's ``FileSearchTool`` over a vector store and a Python function tool; run,
asked a follow-up, and streamed; then the same agent on chat completions.

* ``OpenAIResponsesModel(model, provider=OpenAIProvider(base_url=...))`` with
  ``NativeTool(FileSearchTool(file_store_ids=[store]))``: ragkit runs ``file_search`` over its
  store. Each answer's ``TextPart`` keeps the response's ``file_citation`` annotations in
  ``provider_details["citations"]``, ragkit's ``n``, ``page`` and exact ``quote`` included.
  A follow-up goes with ``message_history``; ragkit makes it standalone before searching.
* ``OpenAIChatModel`` has no native tools: the store goes in
  ``model_settings={"extra_body": {"vector_store_ids": [...]}}``, and the answer cites with
  ``[n]`` in its text (Pydantic AI keeps no ``citations`` from a chat completion).

The function tool (``station_status``) needs a chat model behind ragkit (start ``ragkit serve``
with ``RAGKIT_MODEL``, and ``RAGKIT_BASE_URL`` for a local OpenAI-compatible server); without
one the agents keep only the store and ragkit's offline answerer answers with quotes.

Run::

    pip install 'ragkit[examples]'
    python examples/pydantic_ai_client.py

Environment: ``RAGKIT_BASE_URL`` (default http://127.0.0.1:8080/v1), ``RAGKIT_API_KEY``,
``RAGKIT_VECTOR_STORE_ID`` (default: a store of the sample corpus, created on first use).
"""

from __future__ import annotations

import asyncio
import json
import sys

from pydantic_ai import Agent
from pydantic_ai.capabilities import NativeTool
from pydantic_ai.messages import ModelResponse, NativeToolCallPart, TextPart, ToolCallPart
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.native_tools import FileSearchTool
from pydantic_ai.providers.openai import OpenAIProvider
from ragkit_env import OFFLINE_MODEL, api_key, base_url, chat_model, check, client, vector_store

QUESTION = "Station OSL-7 reports a fault. Look up its status and tell me what its error code means."
OFFLINE_QUESTION = "What does error code E42 mean?"
FOLLOW_UP = "How do I fix it?"
STREAMED_QUESTION = "How do I reset the WS-200 sensor array?"
INSTRUCTIONS = "Answer questions about Halvard weather stations from their documents."


def station_status(station_id: str) -> str:
    """The live status of a weather station: its last error code and battery level.

    Args:
        station_id: the station's identifier, such as OSL-7.
    """
    return json.dumps({"station_id": station_id, "last_error": "E42", "battery": "81%"})


def show(messages) -> list[str]:
    """Print the tool calls of a run's new messages; return the answer's citations as
    ``[n] file p.page: quote`` lines."""
    lines = []
    for message in messages:
        if not isinstance(message, ModelResponse):
            continue
        for part in message.parts:
            if isinstance(part, NativeToolCallPart):
                print(f"  tool call: {part.tool_name} {part.args_as_dict().get('queries')}")
            elif isinstance(part, ToolCallPart):
                print(f"  tool call: {part.tool_name}({part.args_as_json_str()})")
            elif isinstance(part, TextPart):
                for note in (part.provider_details or {}).get("citations") or []:
                    if note.get("type") == "url_citation":  # chat completions: file and page as title, the quote
                        cited = note["url_citation"]
                        lines.append(f"{cited['title']}: {' '.join(cited.get('content', '').split())} <{cited['url']}>")
                        continue
                    page = f" p.{note['page']}" if note.get("page") else ""
                    lines.append(f"[{note.get('n', '?')}] {note['filename']}{page}: {' '.join(note['quote'].split())}")
    return lines


def answered(output: str, citations: list[str]) -> None:
    print(f"A: {output}")
    for line in citations:
        print("  " + line)
    check(citations, "the answer has no citation")


async def over_responses(provider: OpenAIProvider, model: str | None, store: str) -> None:
    tools = [station_status] if model else []
    agent = Agent(OpenAIResponsesModel(model or OFFLINE_MODEL, provider=provider), instructions=INSTRUCTIONS,
                  capabilities=[NativeTool(FileSearchTool(file_store_ids=[store], max_num_results=5))], tools=tools)
    question = QUESTION if model else OFFLINE_QUESTION
    print(f"Q: {question}")
    result = await agent.run(question)
    answered(result.output, show(result.new_messages()))

    print(f"\nQ (follow-up): {FOLLOW_UP}")
    follow_up = await agent.run(FOLLOW_UP, message_history=result.all_messages())
    answered(follow_up.output, show(follow_up.new_messages()))

    print(f"\nQ (streamed): {STREAMED_QUESTION}\nA: ", end="", flush=True)
    async with agent.run_stream(STREAMED_QUESTION) as stream:
        deltas = 0
        async for delta in stream.stream_text(delta=True):
            print(delta, end="", flush=True)
            deltas += 1
        print()
        check(deltas and await stream.get_output(), "the streamed run produced no text")
        print(f"  usage: {stream.usage.input_tokens} in, {stream.usage.output_tokens} out")


async def over_chat_completions(provider: OpenAIProvider, model: str | None, store: str) -> None:
    agent = Agent(OpenAIChatModel(model or OFFLINE_MODEL, provider=provider), instructions=INSTRUCTIONS,
                  model_settings={"extra_body": {"vector_store_ids": [store]}},
                  tools=[station_status] if model else [])
    question = QUESTION if model else OFFLINE_QUESTION
    print(f"\nQ (chat completions): {question}")
    result = await agent.run(question)
    show(result.new_messages())
    print(f"A: {result.output}")
    check("[" in result.output, "the answer has no [n] citation")


async def main() -> int:
    model = chat_model(client())
    store = vector_store(client())
    if model is None:
        print("No chat model behind ragkit: the agents answer from the store only, through ragkit's offline "
              "answerer (function tools need a chat model).\n")
    provider = OpenAIProvider(base_url=base_url(), api_key=api_key())
    await over_responses(provider, model, store)
    await over_chat_completions(provider, model, store)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
