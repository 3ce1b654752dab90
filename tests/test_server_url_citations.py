"""Chat completions' ``url_citation`` annotations: every checked ``[n]`` of an answer as the one
annotation type chat completions define, so clients that show a completion's sources (the
Vercel AI SDK, Agno, Pydantic AI) show ragkit's. Pure cases of the function, then the stock SDK
against a real ``ragkit serve``, streamed and not; the urls are fetched back."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import CORPUS
from assistant_helpers import client, server  # noqa: F401 - the module's fixtures
from server_helpers import upload_batch

from ragkit.server.url_citations import url_citations

pytestmark = pytest.mark.timeout(600)
FILES = ["ws200-user-manual.pdf", "support-faq.txt"]
QUESTION = "How high above the ground should the WS-200 sensor array be mounted?"


def test_each_source_number_of_a_marker_is_one_annotation_over_the_marker():
    text = "Two years [1, 2]. Call support [3]."
    cited = [{"n": 1, "file_id": "file-a", "filename": "manual.pdf", "page": 4, "quote": "Two years."},
             {"n": 2, "file_id": "file-b", "filename": "faq.txt", "page": None},
             {"n": 3, "file_id": None, "filename": "ingested.txt", "page": None}]  # no address: no annotation
    notes = url_citations(text, cited, "http://127.0.0.1:8000/v1/files")
    assert [n["type"] for n in notes] == ["url_citation", "url_citation"]
    first, second = (n["url_citation"] for n in notes)
    assert text[first["start_index"]:first["end_index"]] == "[1, 2]" == text[second["start_index"]:second["end_index"]]
    assert first == {"start_index": 10, "end_index": 16, "title": "manual.pdf, page 4",
                     "url": "http://127.0.0.1:8000/v1/files/file-a/content#page=4", "content": "Two years."}
    assert second["title"] == "faq.txt" and second["url"] == "http://127.0.0.1:8000/v1/files/file-b/content"
    assert url_citations("No markers.", cited, "x") == []


@pytest.fixture(scope="module")
def store(client):
    vs = client.vector_stores.create(name="manuals")
    assert upload_batch(client, vs.id, [CORPUS / name for name in FILES]).file_counts.completed == len(FILES)
    return vs.id


def _ask(client, store, **kwargs):
    return client.chat.completions.create(model="ragkit-extractive", messages=[{"role": "user", "content": QUESTION}],
                                          extra_body={"vector_store_ids": [store]}, **kwargs)


def test_every_checked_marker_is_a_url_citation_to_the_cited_file(client, server, store):
    message = _ask(client, store).choices[0].message
    cited = {c["n"]: c for c in message.model_extra["citations"]}
    assert message.annotations and cited
    assert any(note.url_citation.url.endswith("#page=2") for note in message.annotations)  # the manual's page
    for note in message.annotations:
        place = note.url_citation
        marker = message.content[place.start_index:place.end_index]
        assert note.type == "url_citation" and marker.startswith("[") and marker.endswith("]")
        source = next(c for n, c in cited.items() if str(n) in marker)
        page = f", page {source['page']}" if source["page"] else ""
        assert place.title == source["filename"] + page and place.model_extra["content"] == source["quote"]
        address, _, fragment = place.url.partition("#")
        assert fragment == (f"page={source['page']}" if source["page"] else "")
        fetched = httpx.get(address, headers={"Authorization": f"Bearer {server.keys[0]}"}, timeout=30)
        assert fetched.status_code == 200 and fetched.content == (CORPUS / source["filename"]).read_bytes()


def test_a_streamed_answer_carries_the_same_annotations_in_its_last_delta(client, store):
    whole = _ask(client, store).choices[0].message
    deltas = [chunk.choices[0].delta for chunk in _ask(client, store, stream=True) if chunk.choices]
    text = "".join(d.content or "" for d in deltas)
    [last] = [d for d in deltas if (d.model_extra or {}).get("annotations")]
    assert text == whole.content
    assert last.model_extra["annotations"] == [json.loads(n.model_dump_json()) for n in whole.annotations]
