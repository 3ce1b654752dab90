"""Haystack (``haystack-ai``) against ``ragkit serve``: chat generators that answer over a vector
store, a function tool an ``Agent`` runs, and ragkit's embedding model in an embedding pipeline.

* ``OpenAIChatGenerator(api_base_url=..., generation_kwargs={"extra_body": {"vector_store_ids":
  [...]}})``: ragkit's chat completions answer over the store, with ``[n]`` citations in the text.
  The cited file, page and quote of each arrive as the message's ``citations``, which Haystack
  drops (its ``ChatMessage`` keeps only OpenAI's own fields): ``CitingChatGenerator`` below keeps
  them in ``reply.meta["citations"]``. The follow-up goes with the chat's history, streamed
  through a ``streaming_callback``; ragkit makes it standalone before searching.
* ``Agent(chat_generator=..., tools=[Tool(...)])`` with a chat model behind ragkit: the model
  calls the function, Haystack runs it and sends its output back, ragkit offers ``file_search``
  beside it and the answer cites the documents.
* ``OpenAIResponsesChatGenerator(tools=[{"type": "file_search", "vector_store_ids": [...]}])``:
  the Responses API; ragkit's ``ragkit.citations`` stay in ``reply.meta``. With a chat model, a
  function tool beside ``file_search`` (as an OpenAI tool dict: Haystack takes OpenAI tools or
  its own ``Tool`` objects, not both), its output sent back as a ``ChatMessage.from_tool``.
* ``OpenAIDocumentEmbedder`` / ``OpenAITextEmbedder(model="ragkit-embedding")``: documents
  embedded into an ``InMemoryDocumentStore`` and a query retrieved from it, with the vectors
  ragkit searches with.

Haystack sends usage telemetry to PostHog unless ``HAYSTACK_TELEMETRY_ENABLED=False``; set
before Haystack is imported (below), so the example never tries the network.

Works offline (``ragkit-extractive`` answers with quotes; the function tool is skipped) or with a
chat model behind ragkit.

Run::

    pip install 'ragkit[examples]'
    python examples/haystack_client.py

Environment: ``RAGKIT_BASE_URL`` (default http://127.0.0.1:8080/v1), ``RAGKIT_API_KEY``,
``RAGKIT_VECTOR_STORE_ID`` (default: a store of the sample corpus, created on first use).
"""

import json
import os
import sys
from typing import Any

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"  # read once, when Haystack is imported

from haystack import Document, Pipeline, component  # noqa: E402
from haystack.components.agents import Agent  # noqa: E402
from haystack.components.embedders import OpenAIDocumentEmbedder, OpenAITextEmbedder  # noqa: E402
from haystack.components.generators.chat import OpenAIChatGenerator, OpenAIResponsesChatGenerator  # noqa: E402
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever  # noqa: E402
from haystack.dataclasses import ChatMessage, StreamingCallbackT, StreamingChunk  # noqa: E402
from haystack.document_stores.in_memory import InMemoryDocumentStore  # noqa: E402
from haystack.tools import Tool, ToolsType  # noqa: E402
from haystack.utils import Secret  # noqa: E402
from ragkit_env import EMBEDDING_MODEL, OFFLINE_MODEL, api_key, base_url, chat_model, check, client, vector_store  # noqa: E402

QUESTION = "What does error code E42 mean?"
FOLLOW_UP = "How do I fix it?"
WARRANTY = "How long is the warranty on the WS-200 sensor array?"
WARRANTY_FOLLOW_UP = "Can I extend it?"
STATION_QUESTION = "Station OSL-7 shows an error. What is its status, and what does the error mean?"


class CitingChatGenerator(OpenAIChatGenerator):
    """``OpenAIChatGenerator`` that keeps ragkit's ``citations`` in each reply's ``meta``: Haystack
    builds its ``ChatMessage`` from OpenAI's own message fields only. The client's
    ``chat.completions.create`` is wrapped to note them, from the message or, streamed, from the
    chunk whose delta carries them."""

    def warm_up(self) -> None:
        if self.client is None:
            super().warm_up()
            completions = self.client.chat.completions  # type: ignore[union-attr]
            completions.create = self._noting_citations(completions.create)  # type: ignore[method-assign]

    def _noting_citations(self, create):  # type: ignore[no-untyped-def]
        def noted(**args: Any):  # type: ignore[no-untyped-def]
            result = create(**args)
            if args.get("stream"):
                return self._chunks(result)
            for choice in result.choices:
                self._citations += (choice.message.model_extra or {}).get("citations") or []
            return result
        return noted

    def _chunks(self, stream):  # type: ignore[no-untyped-def]
        for chunk in stream:
            for choice in chunk.choices:
                self._citations += (choice.delta.model_extra or {}).get("citations") or []
            yield chunk

    # the parent's signature, types included: Haystack checks it against ``run_async``'s, and an
    # Agent looks for ``tools`` in it (so this module does without ``from __future__ import annotations``)
    @component.output_types(replies=list[ChatMessage])
    def run(self, messages: list[ChatMessage] | str, streaming_callback: StreamingCallbackT | None = None,
            generation_kwargs: dict[str, Any] | None = None, *, tools: ToolsType | None = None,
            tools_strict: bool | None = None) -> dict[str, list[ChatMessage]]:
        self._citations: list[dict[str, Any]] = []
        result = super().run(messages, streaming_callback, generation_kwargs, tools=tools, tools_strict=tools_strict)
        for reply in result["replies"]:
            reply.meta["citations"] = self._citations
        return result


def station_status(station_id: str) -> str:
    """The live status of a weather station (a stand-in for a real monitoring API)."""
    return json.dumps({"station_id": station_id, "battery": "81%", "last_error": "E42", "online": True})


STATION_TOOL = Tool(name="station_status", description="Live status of a weather station: battery, last error.",
                    parameters={"type": "object", "properties": {"station_id": {"type": "string"}},
                                "required": ["station_id"]},
                    function=station_status)


def show_citations(cited: list[dict[str, Any]]) -> int:
    """Print ragkit's citations of an answer as ``[n] file p.page: quote``; return how many."""
    for c in cited:
        page = f" p.{c['page']}" if c.get("page") else ""
        print(f"  [{c['n']}] {c['filename']}{page}: {' '.join(c['quote'].split())}")
    return len(cited)


def printing(chunk: StreamingChunk) -> None:
    """A ``streaming_callback``: each piece of text as it arrives."""
    print(chunk.content, end="", flush=True)


def chat(model: str, store: str) -> None:
    llm = CitingChatGenerator(api_key=Secret.from_token(api_key()), api_base_url=base_url(), model=model,
                              generation_kwargs={"temperature": 0, "extra_body": {"vector_store_ids": [store]}})
    history = [ChatMessage.from_system("Answer for a field technician."), ChatMessage.from_user(QUESTION)]
    print(f"Q: {QUESTION}")
    answer = llm.run(history)["replies"][0]
    print(f"A: {answer.text}")
    check(show_citations(answer.meta["citations"]), "the answer has no citations")

    history += [answer, ChatMessage.from_user(FOLLOW_UP)]
    print(f"\nQ (follow-up, streamed): {FOLLOW_UP}\nA: ", end="", flush=True)
    streamed = llm.run(history, streaming_callback=printing)["replies"][0]
    print()
    check((streamed.text or "").strip(), "the streamed answer was empty")
    check(show_citations(streamed.meta["citations"]), "the streamed answer has no citations")


def agent(model: str, store: str) -> None:
    llm = CitingChatGenerator(api_key=Secret.from_token(api_key()), api_base_url=base_url(), model=model,
                              generation_kwargs={"extra_body": {"vector_store_ids": [store]}})
    helper = Agent(chat_generator=llm, tools=[STATION_TOOL],
                   system_prompt="Answer from the manuals and the live station status.")
    print(f"\nQ (agent with a function tool): {STATION_QUESTION}")
    messages = helper.run([ChatMessage.from_user(STATION_QUESTION)])["messages"]
    for message in messages:
        for call in message.tool_calls:
            print(f"  -> {call.tool_name}({json.dumps(call.arguments)})")
        for result in message.tool_call_results:
            print(f"  <- {result.result}")
    check(any(m.tool_calls for m in messages), "the model did not call station_status")
    answer = messages[-1]
    print(f"A: {answer.text}")
    check(show_citations(answer.meta.get("citations") or []), "the agent's answer has no citations")


def responses(model: str, store: str, with_function: bool) -> None:
    file_search = {"type": "file_search", "vector_store_ids": [store]}
    llm = OpenAIResponsesChatGenerator(api_key=Secret.from_token(api_key()), api_base_url=base_url(), model=model,
                                       tools=[file_search])
    history = [ChatMessage.from_user(WARRANTY)]
    print(f"\nQ (Responses, file_search): {WARRANTY}")
    answer = llm.run(history)["replies"][0]
    print(f"A: {answer.text}")
    check(show_citations(answer.meta["ragkit"]["citations"]), "the Responses answer has no citations")

    history += [answer, ChatMessage.from_user(WARRANTY_FOLLOW_UP)]
    print(f"\nQ (Responses follow-up, streamed): {WARRANTY_FOLLOW_UP}\nA: ", end="", flush=True)
    streamed = llm.run(history, streaming_callback=printing)["replies"][0]
    print()
    check((streamed.text or "").strip(), "the streamed Responses answer was empty")
    check(show_citations(streamed.meta["ragkit"]["citations"]), "the streamed Responses answer has no citations")
    if not with_function:
        return

    tools = [file_search, {"type": "function", **STATION_TOOL.tool_spec}]
    print(f"\nQ (Responses, file_search and a function): {STATION_QUESTION}")
    history = [ChatMessage.from_user(STATION_QUESTION)]
    for _ in range(4):
        reply = llm.run(history, tools=tools)["replies"][0]
        history.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            output = STATION_TOOL.invoke(**call.arguments)
            print(f"  -> {call.tool_name}({json.dumps(call.arguments)})\n  <- {output}")
            history.append(ChatMessage.from_tool(output, origin=call))
    check(len(history) > 2, "the model did not call station_status")
    print(f"A: {reply.text}")
    check(show_citations(reply.meta["ragkit"]["citations"]), "the answer after the function call has no citations")


def embeddings() -> None:
    """An indexing step and a query pipeline, both embedding with ragkit's model."""
    key = Secret.from_token(api_key())
    texts = ["Hold the SYNC button for 10 seconds to reset the sensor array.",
             "The warranty covers defects in materials and workmanship."]
    documents = OpenAIDocumentEmbedder(api_key=key, api_base_url=base_url(), model=EMBEDDING_MODEL,
                                       progress_bar=False).run([Document(content=t) for t in texts])["documents"]
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    store.write_documents(documents)

    query = Pipeline()
    query.add_component("embedder", OpenAITextEmbedder(api_key=key, api_base_url=base_url(), model=EMBEDDING_MODEL))
    query.add_component("retriever", InMemoryEmbeddingRetriever(document_store=store, scale_score=False))
    query.connect("embedder.embedding", "retriever.query_embedding")
    found = query.run({"embedder": {"text": "how to reset the sensor"}})["retriever"]["documents"]
    print(f"\nembeddings: {len(documents)} texts, {len(documents[0].embedding or [])} dimensions")
    for doc in found:
        print(f"  {doc.score:.3f}  {doc.content}")
    check(found and "SYNC" in (found[0].content or ""), "the reset passage should be nearest to the reset query")


def main() -> int:
    sdk = client()
    store = vector_store(sdk)
    model = chat_model(sdk)
    chat(model or OFFLINE_MODEL, store)
    if model is None:
        print("\nNo chat model behind ragkit: skipping the function tool (an Agent's Tool needs one).")
    else:
        agent(model, store)
    responses(model or OFFLINE_MODEL, store, with_function=model is not None)
    embeddings()
    return 0


if __name__ == "__main__":
    sys.exit(main())
