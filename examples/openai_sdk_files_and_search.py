"""Files, a vector store and search with the stock ``openai`` SDK against ``ragkit serve``.

Uploads three documents of the sample corpus, creates a vector store, attaches each file with
attributes (``kind``, ``year``), polls until they are indexed, then searches: once over the
whole store, once with an attribute filter (only ``kind == "manual"``) and a ``score_threshold``.
Each hit is printed as ``score  file p.page  attributes`` with the start of its text.

Run (no chat model needed)::

    ragkit serve --no-auth &            # or with a key: RAGKIT_API_KEY=rk-...
    python examples/openai_sdk_files_and_search.py [FILE ...]

``RAGKIT_BASE_URL`` defaults to http://127.0.0.1:8080/v1. Files given on the command line are
uploaded instead of the sample ones (all with ``kind: "manual"``). The store is deleted at the
end unless ``--keep`` is given.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ragkit_env import CORPUS, check, client

SAMPLE = {
    "ws200-user-manual.pdf": {"kind": "manual", "year": 2024},
    "support-faq.txt": {"kind": "faq", "year": 2023},
    "warranty-and-returns.docx": {"kind": "policy", "year": 2024},
}
QUESTION = "How do I reset the sensor array?"


def print_hits(title: str, results) -> None:
    print(f"\n{title}")
    for hit in results:
        text = " ".join(hit.content[0].text.split())[:90] if hit.content else ""
        page = (hit.model_extra or {}).get("page")
        where = f"{hit.filename} p.{page}" if page else hit.filename
        print(f"  {hit.score:.3f}  {where:32} {hit.attributes}  {text}")


def main(argv: list[str]) -> int:
    keep = "--keep" in argv
    paths = [Path(a) for a in argv if a != "--keep"]
    files = {p: {"kind": "manual", "year": 2024} for p in paths} or {CORPUS / n: a for n, a in SAMPLE.items()}
    sdk = client()

    store = sdk.vector_stores.create(name="openai-sdk-example")
    print(f"vector store {store.id}")
    for path, attributes in files.items():
        with open(path, "rb") as handle:
            uploaded = sdk.files.create(file=handle, purpose="assistants")
        # create_and_poll: attach, then poll until the server has parsed and embedded the file
        attached = sdk.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=uploaded.id,
                                                           attributes=attributes)
        print(f"  {path.name:30} {uploaded.id}  {attached.status}  attributes={attributes}")
        check(attached.status == "completed", f"{path.name} was not indexed: {attached.last_error}")

    everything = sdk.vector_stores.search(vector_store_id=store.id, query=QUESTION, max_num_results=5)
    print_hits(f"search {QUESTION!r}", everything.data)
    check(everything.data, "the search found nothing")

    manuals = sdk.vector_stores.search(
        vector_store_id=store.id, query=QUESTION, max_num_results=5,
        filters={"type": "and", "filters": [{"type": "eq", "key": "kind", "value": "manual"},
                                            {"type": "gte", "key": "year", "value": 2024}]},
        ranking_options={"score_threshold": 0.2})
    print_hits("only kind == 'manual' and year >= 2024, score >= 0.2", manuals.data)
    check(manuals.data, "the filtered search found nothing")
    check(all(h.attributes.get("kind") == "manual" and h.score >= 0.2 for h in manuals.data),
          "the filter or the score threshold was not applied")

    if not keep:
        for attached in sdk.vector_stores.files.list(vector_store_id=store.id):
            sdk.files.delete(attached.id)
        sdk.vector_stores.delete(store.id)
        print(f"\ndeleted {store.id} and its files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
