"""The Responses API against ``ragkit serve``: ``file_search`` with checkable citations, then a
function tool round trip, with the stock ``openai`` SDK.

1. ``file_search``: a question answered over a vector store; the answer is printed with its
   citations as ``[n] file p.page: quote`` (ragkit adds ``n``, ``page`` and the exact ``quote``
   to each ``file_citation`` annotation, beside OpenAI's ``file_id``, ``filename``, ``index``).
2. A function tool: the model asks for ``station_status`` (run here, in the client), gets its
   output back with ``previous_response_id`` and answers from it and from the documents.
   This part needs a chat model behind ragkit; without one the script says so and stops after
   part 1 (ragkit's offline answerer quotes documents but cannot call functions).

Run::

    ragkit serve --no-auth &                      # offline: part 1 only
    RAGKIT_MODEL=gpt-4.1-mini OPENAI_API_KEY=... ragkit serve --no-auth &   # both parts
    python examples/openai_sdk_responses.py

Environment: ``RAGKIT_BASE_URL`` (default http://127.0.0.1:8080/v1), ``RAGKIT_API_KEY``,
``RAGKIT_VECTOR_STORE_ID`` (default: a store of the sample corpus, created on first use).
"""

from __future__ import annotations

import json
import sys

from ragkit_env import OFFLINE_MODEL, chat_model, check, client, vector_store

QUESTION = "How long is the warranty on the WS-200 sensor array?"
STATION_QUESTION = "Station OSL-7 reports a fault. Look up its status and tell me what its error code means."
STATION_STATUS = {
    "type": "function", "name": "station_status",
    "description": "The live status of a weather station: its last error code and battery level.",
    "parameters": {"type": "object", "properties": {"station_id": {"type": "string"}},
                   "required": ["station_id"], "additionalProperties": False},
}


def station_status(station_id: str) -> dict[str, str]:
    """Stands in for the caller's own system (a fleet database, an API)."""
    return {"station_id": station_id, "last_error": "E42", "battery": "81%"}


def citations(response) -> list[str]:
    """``[n] file p.page: quote`` for each ``file_citation`` of the answer."""
    lines = []
    for item in response.output:
        if item.type != "message":
            continue
        for part in item.content:
            for note in getattr(part, "annotations", []):
                if note.type != "file_citation":
                    continue
                page = getattr(note, "page", None)
                where = f"{note.filename} p.{page}" if page else note.filename
                quote = " ".join(str(getattr(note, "quote", "") or "").split())
                lines.append(f"[{getattr(note, 'n', '?')}] {where}: {quote}")
    return lines


def show_answer(response) -> None:
    print(response.output_text)
    for line in citations(response):
        print("  " + line)


def file_search_answer(sdk, model: str, store: str) -> None:
    response = sdk.responses.create(model=model, input=QUESTION,
                                    tools=[{"type": "file_search", "vector_store_ids": [store]}],
                                    include=["file_search_call.results"])
    searched = next(item for item in response.output if item.type == "file_search_call")
    print(f"Q: {QUESTION}\n(searched {searched.queries}, {len(searched.results or [])} results)")
    show_answer(response)
    check(citations(response), "the answer has no citation")


def function_round_trip(sdk, model: str, store: str) -> None:
    tools = [{"type": "file_search", "vector_store_ids": [store]}, STATION_STATUS]
    print(f"\nQ: {STATION_QUESTION}")
    response = sdk.responses.create(model=model, input=STATION_QUESTION, tools=tools)
    for _ in range(5):  # the model may call functions again after seeing their outputs
        calls = [item for item in response.output if item.type == "function_call"]
        if not calls:
            break
        outputs = []
        for call in calls:
            result = station_status(**json.loads(call.arguments))
            print(f"  -> {call.name}({call.arguments}) = {json.dumps(result)}")
            outputs.append({"type": "function_call_output", "call_id": call.call_id, "output": json.dumps(result)})
        response = sdk.responses.create(model=model, previous_response_id=response.id, input=outputs, tools=tools)
    check(response.status == "completed", f"the response {response.status}: {response.error}")
    show_answer(response)
    check(response.output_text, "the model gave no answer")


def main() -> int:
    sdk = client()
    store = vector_store(sdk)
    model = chat_model(sdk)
    file_search_answer(sdk, model or OFFLINE_MODEL, store)
    if model is None:
        print("\nNo chat model behind ragkit: skipping the function tool round trip (start ragkit serve "
              "with RAGKIT_MODEL, and RAGKIT_BASE_URL for a local OpenAI-compatible server).")
        return 0
    function_round_trip(sdk, model, store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
