"""LlamaIndex against ``ragkit serve``: ``OpenAILike`` chatting over a vector store, and
``OpenAIEmbedding`` reading ragkit's embedding model from ``/v1/embeddings``.

* ``OpenAILike(model=..., api_base=..., is_chat_model=True,
  additional_kwargs={"extra_body": {"vector_store_ids": [...]}})``: each chat request carries
  the store, so ragkit answers over it with ``[n]`` citations; the cited file, page and quote
  are the message's ``citations`` in the raw completion (``response.raw``). A follow-up goes
  with the history, and is also streamed (``stream_chat``).
* ``OpenAIEmbedding(model_name="ragkit-embedding", api_base=...)``: ``model_name``, not
  ``model``: the class checks ``model`` against OpenAI's own model names and refuses others,
  while ``model_name`` is sent as is.

Works offline (``ragkit-extractive`` answers with quotes) or with a chat model behind ragkit.

Run::

    pip install 'ragkit[examples]'
    python examples/llamaindex_client.py

Environment: ``RAGKIT_BASE_URL`` (default http://127.0.0.1:8080/v1), ``RAGKIT_API_KEY``,
``RAGKIT_VECTOR_STORE_ID`` (default: a store of the sample corpus, created on first use).
"""

from __future__ import annotations

import sys

from llama_index.core.base.llms.types import ChatMessage
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai_like import OpenAILike
from ragkit_env import EMBEDDING_MODEL, OFFLINE_MODEL, api_key, base_url, chat_model, check, client, vector_store

QUESTION = "How long is the warranty on the WS-200 sensor array?"
FOLLOW_UP = "Can I extend it?"


def show_citations(raw) -> int:
    """Print ragkit's ``citations`` of a raw chat completion as ``[n] file p.page: quote``."""
    message = raw.choices[0].message
    cited = (message.model_extra or {}).get("citations") or []
    for c in cited:
        page = f" p.{c['page']}" if c.get("page") else ""
        print(f"  [{c['n']}] {c['filename']}{page}: {' '.join(c['quote'].split())}")
    return len(cited)


def chat(model: str, store: str) -> None:
    llm = OpenAILike(model=model, api_base=base_url(), api_key=api_key(), is_chat_model=True,
                     context_window=8192, timeout=300, max_retries=1,
                     additional_kwargs={"extra_body": {"vector_store_ids": [store]}})
    history = [ChatMessage(role="user", content=QUESTION)]
    print(f"Q: {QUESTION}")
    answer = llm.chat(history)
    print(f"A: {answer.message.content}")
    check(show_citations(answer.raw), "the answer has no citations")

    history += [answer.message, ChatMessage(role="user", content=FOLLOW_UP)]
    print(f"\nQ (follow-up, streamed): {FOLLOW_UP}\nA: ", end="", flush=True)
    text = ""
    for piece in llm.stream_chat(history):
        print(piece.delta or "", end="", flush=True)
        text = piece.message.content or ""
    print()
    check(text.strip(), "the streamed answer was empty")


def embeddings() -> None:
    embedder = OpenAIEmbedding(model_name=EMBEDDING_MODEL, api_base=base_url(), api_key=api_key())
    texts = ["Hold the SYNC button for 10 seconds to reset the sensor array.",
             "The warranty covers defects in materials and workmanship."]
    vectors = embedder.get_text_embedding_batch(texts)
    query = embedder.get_query_embedding("how long is the warranty")
    scores = [embedder.similarity(query, v) for v in vectors]
    print(f"\nembeddings: {len(vectors)} texts, {len(query)} dimensions")
    for text, score in sorted(zip(texts, scores), key=lambda pair: -pair[1]):
        print(f"  {score:.3f}  {text}")
    check(scores[1] > scores[0], "the warranty passage should be nearest to the warranty query")


def main() -> int:
    sdk = client()
    store = vector_store(sdk)
    chat(chat_model(sdk) or OFFLINE_MODEL, store)
    embeddings()
    return 0


if __name__ == "__main__":
    sys.exit(main())
