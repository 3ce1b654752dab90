"""DSPy (``dspy``) against ``ragkit serve``: a DSPy program whose LM is ragkit, answering over a
vector store with ragkit's checked citations, a follow-up with ``dspy.History``, typed output
fields with a chat model, and ragkit's embedding model as a ``dspy.Embedder``.

* ``dspy.LM("openai/<model>", api_base=..., api_key=..., extra_body={"vector_store_ids": [store]})``:
  DSPy calls LiteLLM's OpenAI provider, which sends ``extra_body`` as body fields, so ragkit's chat
  completions answer over the store. LiteLLM hands the message's ``citations`` on to DSPy, which
  keeps them with the call in ``lm.history[-1]["outputs"]``.
* ``GroundedAdapter`` (below): DSPy's default ``ChatAdapter`` wraps the question in its field
  markers and format instructions (``[[ ## question ## ]] ... Respond with the corresponding
  output fields ...``) and parses the reply by those markers. ragkit searches the last user
  message and answers in its own words (offline: quotes from the documents), so the instructions
  would be searched too and the reply has no markers to parse: DSPy raises ``AdapterParseError``.
  The adapter sends the question, after the earlier turns of a ``dspy.History``, as plain chat
  messages and reads the whole reply, ``[n]`` markers included, as the answer.
* With a chat model behind ragkit, the ``ChatAdapter`` and typed fields work too when the model
  follows DSPy's format: DSPy's system message reaches it as the operator's instructions, beside
  the passages ragkit found.
* ``dspy.Embedder("openai/ragkit-embedding", api_base=..., api_key=...)``: the vectors ragkit
  searches with.

LiteLLM fetches its model price map from GitHub when imported: ``LITELLM_LOCAL_MODEL_COST_MAP``
(set below) keeps it offline. ``cache=False`` keeps DSPy from answering a repeated call from its
disk cache (``~/.dspy_cache``), which would hide a change to the store.

Run::

    pip install 'ragkit[examples]' dspy
    python examples/dspy_client.py

Environment: ``RAGKIT_BASE_URL`` (default http://127.0.0.1:8080/v1), ``RAGKIT_API_KEY``,
``RAGKIT_VECTOR_STORE_ID`` (default: a store of the sample corpus, created on first use).
"""

from __future__ import annotations

import os
import sys
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dspy  # noqa: E402
from ragkit_env import EMBEDDING_MODEL, OFFLINE_MODEL, api_key, base_url, chat_model, check, client, vector_store  # noqa: E402

QUESTION = "How long is the warranty on the WS-200 sensor array?"
FOLLOW_UP = "Can I extend it?"


class GroundedAdapter(dspy.Adapter):
    """For signatures with one text input (and an optional ``dspy.History``) and one text output:
    ragkit answers the question itself, from the store, so it is sent as it is and the reply is
    the answer."""

    def format(self, signature: Any, demos: list[dict[str, Any]], inputs: dict[str, Any]) -> list[dict[str, Any]]:
        asked = next(name for name, field in signature.input_fields.items() if field.annotation is not dspy.History)
        answered = next(iter(signature.output_fields))
        history = next((value for value in inputs.values() if isinstance(value, dspy.History)), None)
        messages = []
        for turn in history.messages if history else []:
            messages += [{"role": "user", "content": str(turn[asked])},
                         {"role": "assistant", "content": str(turn[answered])}]
        return messages + [{"role": "user", "content": str(inputs[asked])}]

    def parse(self, signature: Any, completion: str) -> dict[str, Any]:
        return {next(iter(signature.output_fields)): completion}


def show_citations(lm: dspy.LM) -> int:
    """Print the citations of the LM's last call as ``[n] file p.page: quote``; return how many."""
    output = lm.history[-1]["outputs"][0]  # a dict when the reply had more than text
    cited = (output.get("citations") or []) if isinstance(output, dict) else []
    for c in cited:
        page = f" p.{c['page']}" if c.get("page") else ""
        print(f"  [{c['n']}] {c['filename']}{page}: {' '.join(c['quote'].split())}")
    return len(cited)


def answer_over_the_store(lm: dspy.LM) -> None:
    qa = dspy.Predict("question -> answer")
    with dspy.context(lm=lm, adapter=GroundedAdapter()):
        print(f"Q: {QUESTION}")
        first = qa(question=QUESTION)
        print(f"A: {first.answer}")
        check(show_citations(lm), "the answer has no citations")

        chat = dspy.Predict("question, history: dspy.History -> answer")
        history = dspy.History(messages=[{"question": QUESTION, "answer": first.answer}])
        print(f"\nQ (follow-up): {FOLLOW_UP}")
        follow = chat(question=FOLLOW_UP, history=history)
        print(f"A: {follow.answer}")
        check(show_citations(lm), "the follow-up's answer has no citations")


def typed_fields(lm: dspy.LM) -> None:
    """DSPy's own ChatAdapter, its field markers read by the chat model behind ragkit."""
    facts = dspy.Predict("question -> product: str, warranty_years: int")
    with dspy.context(lm=lm):
        print(f"\nQ (typed fields, ChatAdapter): {QUESTION}")
        found = facts(question=QUESTION)
    print(f"A: product={found.product!r} warranty_years={found.warranty_years!r}")
    check(isinstance(found.warranty_years, int), "warranty_years was not read as an int")
    show_citations(lm)


def embeddings() -> None:
    embedder = dspy.Embedder(f"openai/{EMBEDDING_MODEL}", api_base=base_url(), api_key=api_key(), caching=False)
    texts = ["The warranty covers defects in materials and workmanship.",
             "Hold the SYNC button for 10 seconds to reset the sensor array."]
    vectors = embedder(texts)
    query = embedder("what does the warranty cover")
    scores = vectors @ query / ((vectors ** 2).sum(axis=1) ** 0.5 * (query ** 2).sum() ** 0.5)
    print(f"\nembeddings: {len(vectors)} texts, {vectors.shape[1]} dimensions")
    for text, score in sorted(zip(texts, scores), key=lambda pair: -pair[1]):
        print(f"  {score:.3f}  {text}")
    check(scores[0] > scores[1], "the warranty passage should be nearest to the warranty query")


def main() -> int:
    sdk = client()
    store = vector_store(sdk)
    model = chat_model(sdk)
    lm = dspy.LM(f"openai/{model or OFFLINE_MODEL}", api_base=base_url(), api_key=api_key(), cache=False,
                 extra_body={"vector_store_ids": [store]})
    answer_over_the_store(lm)
    if model:
        typed_fields(lm)
    else:
        print("\nNo chat model behind ragkit: skipping the typed fields (DSPy's ChatAdapter needs a model "
              "that follows its format; ragkit-extractive quotes the documents).")
    embeddings()
    return 0


if __name__ == "__main__":
    sys.exit(main())
