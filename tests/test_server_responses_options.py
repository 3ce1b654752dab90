"""``/v1/responses`` parameters that change the answer, offline (the extractive answerer): history
sent as an ``input`` array, a file_search tool's ranking options, ``max_output_tokens``,
``include`` and ``truncation``, and a stored response replayed as its event stream. A real
``ragkit serve`` subprocess, the stock SDK."""

from __future__ import annotations

import openai
import pytest
from conftest import CORPUS
from offline_server_fixtures import client, server  # noqa: F401 - fixtures
from server_helpers import upload_batch

from ragkit.library.answering import count_tokens

pytestmark = pytest.mark.timeout(600)
MODEL = "ragkit-extractive"
FILES = ["ws200-user-manual.pdf", "warranty-and-returns.docx", "support-faq.txt", "firmware-release-notes.md"]
WARRANTY = "How long is the WS-200 warranty?"
FOLLOW = "and the solar panel?"


@pytest.fixture(scope="module")
def store(client) -> str:
    vs = client.vector_stores.create(name="halvard")
    assert upload_batch(client, vs.id, [CORPUS / name for name in FILES]).file_counts.completed == len(FILES)
    return vs.id


def _tool(store: str, **options) -> list[dict]:
    return [{"type": "file_search", "vector_store_ids": [store], **options}]


def _searched(response) -> str:
    return response.model_extra["ragkit"]["search_query"]


def test_history_in_the_input_array_is_condensed_as_chat_completions_condenses_it(client, store):
    first = client.responses.create(model=MODEL, input=WARRANTY, tools=_tool(store))
    history = [{"role": "user", "content": WARRANTY}, {"role": "assistant", "content": first.output_text},
               {"role": "user", "content": FOLLOW}]
    follow = client.responses.create(model=MODEL, input=history, tools=_tool(store))
    query = _searched(follow)
    assert query != FOLLOW and "solar panel" in query
    assert follow.output[0].queries == [query]
    chat = client.chat.completions.create(model=MODEL, messages=history, extra_body={"vector_store_ids": [store]})
    assert chat.model_extra["ragkit"]["search_query"] == query  # one condenser for both surfaces
    parts = [{"role": "user", "content": [{"type": "input_text", "text": WARRANTY}]},
             {"role": "assistant", "content": [{"type": "output_text", "text": first.output_text}]},
             {"role": "user", "content": [{"type": "input_text", "text": FOLLOW}]}]
    assert _searched(client.responses.create(model=MODEL, input=parts, tools=_tool(store))) == query
    # after previous_response_id's turns come the input's: the latest subject is the input's
    other = client.responses.create(model=MODEL, input="What does error code E42 mean?", tools=_tool(store))
    both = client.responses.create(model=MODEL, input=history, previous_response_id=other.id, tools=_tool(store))
    assert _searched(both) == query


def test_a_score_threshold_drops_weak_passages_and_is_reported(client, store):
    plain = client.responses.create(model=MODEL, input=WARRANTY, tools=_tool(store),
                                    include=["file_search_call.results"])
    scores = [r.score for r in plain.output[0].results]
    assert plain.output[0].model_extra["ranking_options"] == {"ranker": "auto", "score_threshold": 0.0}
    assert min(scores) < 0.5 and not plain.model_extra["ragkit"]["refused"]
    cut = sorted(scores)[len(scores) // 2]
    kept = client.responses.create(model=MODEL, input=WARRANTY, include=["file_search_call.results"],
                                   tools=_tool(store, max_num_results=3, ranking_options={"score_threshold": cut}))
    results = kept.output[0].results
    assert results and len(results) <= 3 and all(r.score >= cut for r in results)
    assert kept.output[0].model_extra["ranking_options"] == {"ranker": "auto", "score_threshold": cut}
    assert kept.tools[0].ranking_options.score_threshold == cut and kept.tools[0].max_num_results == 3
    strict = client.responses.create(model=MODEL, input=WARRANTY, include=["file_search_call.results"],
                                     tools=_tool(store, ranking_options={"ranker": "default-2024-11-15",
                                                                         "score_threshold": 0.99}))
    assert strict.output[0].results == [] and strict.model_extra["ragkit"]["refused"]
    assert strict.output[1].content[0].annotations == []
    assert strict.output[0].model_extra["ranking_options"]["ranker"] == "default-2024-11-15"


def test_unknown_include_values_and_rankers_are_400s_and_truncation_is_echoed(client, store):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input=WARRANTY, tools=_tool(store), include=["bogus.thing"])
    assert caught.value.param == "include[0]" and "file_search_call.results" in caught.value.message
    with pytest.raises(openai.BadRequestError) as ranker:
        client.responses.create(model=MODEL, input=WARRANTY, tools=_tool(store, ranking_options={"ranker": "xx"}))
    assert ranker.value.param == "tools[0].ranking_options.ranker" and "default-2024-11-15" in ranker.value.message
    with pytest.raises(openai.BadRequestError) as threshold:
        client.responses.create(model=MODEL, input=WARRANTY, tools=_tool(store, ranking_options={"score_threshold": 2}))
    assert threshold.value.param == "tools[0].ranking_options.score_threshold"
    auto = client.responses.create(model=MODEL, input=WARRANTY, tools=_tool(store), truncation="auto")
    assert auto.truncation == "auto" and client.responses.retrieve(auto.id).truncation == "auto"
    assert client.responses.create(model=MODEL, input=WARRANTY, tools=_tool(store)).truncation == "disabled"


def _consistent(response) -> list[int]:
    """The cited source numbers, after checking every annotation points at its marker in the text."""
    text = response.output[1].content[0]
    for note in text.annotations:
        assert text.text[note.index:].startswith(f"[{note.model_extra['n']}")
    cited = sorted({c["n"] for c in response.model_extra["ragkit"]["citations"]})
    assert cited == sorted({note.model_extra["n"] for note in text.annotations})
    return cited


def test_max_output_tokens_cuts_the_answer_and_its_citations(client, store):
    full = client.responses.create(model=MODEL, input=WARRANTY, tools=_tool(store))
    assert full.status == "completed" and full.incomplete_details is None and len(_consistent(full)) >= 2
    short = client.responses.create(model=MODEL, input=WARRANTY, tools=_tool(store), max_output_tokens=16)
    assert short.status == "incomplete" and short.incomplete_details.reason == "max_output_tokens"
    assert short.output[1].status == "incomplete" and full.output_text.startswith(short.output_text)
    assert count_tokens(short.output_text) == short.usage.output_tokens == 16
    first_marker = full.output_text.index("]") + 1  # keeps the first citation, not the last
    limit = count_tokens(full.output_text[:first_marker]) + 1
    part = client.responses.create(model=MODEL, input=WARRANTY, tools=_tool(store), max_output_tokens=limit)
    assert part.status == "incomplete" and 1 <= len(_consistent(part)) < len(_consistent(full))
    assert client.responses.retrieve(part.id).status == "incomplete"

    events = list(client.responses.create(model=MODEL, input=WARRANTY, tools=_tool(store), max_output_tokens=limit,
                                          stream=True))
    assert events[-1].type == "response.incomplete"
    final = events[-1].response
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == final.output_text == part.output_text and final.incomplete_details.reason == "max_output_tokens"
    assert _consistent(final) == _consistent(part)


def test_a_stored_response_is_replayed_as_its_event_stream(client, store):
    done = client.responses.create(model=MODEL, input=WARRANTY, tools=_tool(store))
    events = list(client.responses.retrieve(done.id, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert "response.file_search_call.completed" in kinds and "response.output_text.annotation.added" in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].response.status == "in_progress" and events[0].response.output == []
    assert events[-1].response.output_text == done.output_text and events[-1].response.id == done.id
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == done.output_text
    rest = list(client.responses.retrieve(done.id, stream=True, starting_after=5))
    assert [e.sequence_number for e in rest] == list(range(6, len(events)))
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_nope", stream=True)
