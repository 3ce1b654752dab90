"""LangChain (``langchain-openai``) against ``ragkit serve``: a chat model that answers over a
vector store, and ragkit's embedding model as LangChain ``Embeddings``.

* ``ChatOpenAI(base_url=..., model=..., extra_body={"vector_store_ids": [...]})``: ragkit's chat
  completions answer over the store, with ``[n]`` citations in the text; the cited file, page
  and quote of each arrive as the message's ``citations``, which LangChain drops (it keeps only
  OpenAI's own message fields): ``CitingChatOpenAI`` below keeps them. A follow-up is sent with the
  history, as a LangChain chat app does; ragkit makes it standalone before searching. Also
  streamed (``.stream``).
* ``OpenAIEmbeddings(model="ragkit-embedding", check_embedding_ctx_length=False)``: the vectors
  ragkit searches with. ``check_embedding_ctx_length=False`` is required: by default LangChain
  splits texts with tiktoken and sends OpenAI token ids, which mean nothing to ragkit's model
  (ragkit answers 400), and tiktoken would first download its vocabulary.

Works offline (``ragkit-extractive`` answers with quotes) or with a chat model behind ragkit.

Run::

    pip install 'ragkit[examples]'
    python examples/langchain_client.py

Environment: ``RAGKIT_BASE_URL`` (default http://127.0.0.1:8080/v1), ``RAGKIT_API_KEY``,
``RAGKIT_VECTOR_STORE_ID`` (default: a store of the sample corpus, created on first use).
"""

from __future__ import annotations

import math
import sys

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from ragkit_env import EMBEDDING_MODEL, OFFLINE_MODEL, api_key, base_url, chat_model, check, client, vector_store

QUESTION = "What does error code E42 mean?"
FOLLOW_UP = "How do I fix it?"


class CitingChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` that keeps ragkit's ``citations``: LangChain builds its ``AIMessage`` from
    OpenAI's own message fields only, so they are copied into ``additional_kwargs`` here."""

    def _create_chat_result(self, response, generation_info=None):  # type: ignore[no-untyped-def]
        result = super()._create_chat_result(response, generation_info)
        raw = response if isinstance(response, dict) else response.model_dump()
        for generation, choice in zip(result.generations, raw.get("choices") or []):
            citations = (choice.get("message") or {}).get("citations")
            if citations:
                generation.message.additional_kwargs["citations"] = citations
        return result


def show_citations(message: AIMessage) -> int:
    """Print ragkit's citations of an answer as ``[n] file p.page: quote``; return how many."""
    cited = message.additional_kwargs.get("citations") or []
    for c in cited:
        page = f" p.{c['page']}" if c.get("page") else ""
        print(f"  [{c['n']}] {c['filename']}{page}: {' '.join(c['quote'].split())}")
    return len(cited)


def chat(model: str, store: str) -> None:
    llm = CitingChatOpenAI(base_url=base_url(), api_key=api_key(), model=model, temperature=0,
                           extra_body={"vector_store_ids": [store]})
    history = [SystemMessage("Answer for a field technician."), HumanMessage(QUESTION)]
    print(f"Q: {QUESTION}")
    answer = llm.invoke(history)
    print(f"A: {answer.content}")
    check(show_citations(answer), "the answer has no citations")

    history += [AIMessage(answer.content), HumanMessage(FOLLOW_UP)]
    print(f"\nQ (follow-up, streamed): {FOLLOW_UP}\nA: ", end="", flush=True)
    pieces = []
    for chunk in llm.stream(history):
        print(chunk.content, end="", flush=True)
        pieces.append(str(chunk.content))
    print()
    check("".join(pieces).strip(), "the streamed answer was empty")


def embeddings() -> None:
    embedder = OpenAIEmbeddings(base_url=base_url(), api_key=api_key(), model=EMBEDDING_MODEL,
                                check_embedding_ctx_length=False)
    texts = ["Hold the SYNC button for 10 seconds to reset the sensor array.",
             "The warranty covers defects in materials and workmanship."]
    vectors = embedder.embed_documents(texts)
    query = embedder.embed_query("how to reset the sensor")
    scores = [sum(a * b for a, b in zip(query, v)) / (math.hypot(*query) * math.hypot(*v)) for v in vectors]
    print(f"\nembeddings: {len(vectors)} texts, {len(query)} dimensions")
    for text, score in sorted(zip(texts, scores), key=lambda pair: -pair[1]):
        print(f"  {score:.3f}  {text}")
    check(scores[0] > scores[1], "the reset passage should be nearest to the reset query")


def main() -> int:
    sdk = client()
    store = vector_store(sdk)
    chat(chat_model(sdk) or OFFLINE_MODEL, store)
    embeddings()
    return 0


if __name__ == "__main__":
    sys.exit(main())
