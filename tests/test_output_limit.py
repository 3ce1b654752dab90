"""An answer cut at a token cap (ragkit.library.output_limit), the one cut chat completions'
``max_tokens`` and Responses' ``max_output_tokens`` share: the text, the citations it still
makes, the usage it reports, and the same cut when the text is streamed; and the cut before a
chat completion's ``stop`` sequence, streamed or not."""

from __future__ import annotations

import pytest

from ragkit.library.answering import Grounded, count_tokens
from ragkit.library.output_limit import MAX_OUTPUT_TOKENS, StreamLimit, StreamStop, capped, cut, stopped
from ragkit.library.retrieval import Found
from ragkit.models import Citation, SearchHit

TEXT = "The WS-200 reports wind speed every 10 seconds [1]. It stores 30 days of readings [2]."


def _found(n: int) -> Found:
    hit = SearchHit(rank=n, chunk_id=f"c{n}", text=f"chunk {n}", source=f"doc{n}.txt", path=f"/d/doc{n}.txt",
                    page=None, section="", start=0, end=7, score=0.9)
    return Found(hit=hit, vector_store_id="vs_1", file_id=f"file-{n}", filename=f"doc{n}.txt")


def _grounded(text: str = TEXT, generator: str = "extractive", usage: dict | None = None) -> Grounded:
    citations = [Citation(n, f"doc{n}.txt", None, f"c{n}", f"chunk {n}", 0, 7) for n in (1, 2)]
    prompt = 100
    usage = usage or {"prompt_tokens": prompt, "completion_tokens": count_tokens(text),
                      "total_tokens": prompt + count_tokens(text)}
    return Grounded(question="q", text=text, refused=False, citations=citations, found=[_found(1), _found(2)],
                    generator=generator, model="m", usage=usage)


def test_an_answer_within_the_cap_is_unchanged():
    whole = _grounded()
    assert capped(whole, count_tokens(TEXT)) is whole and capped(whole, None) is whole
    assert cut(TEXT, count_tokens(TEXT)) == (TEXT, False)


def test_a_cut_answer_keeps_only_the_citations_its_text_still_makes():
    first = TEXT.index("[1]") + len("[1]")
    short = capped(_grounded(), count_tokens(TEXT[:first]))
    assert short.incomplete == MAX_OUTPUT_TOKENS
    assert short.text.startswith(TEXT[:first]) and "[2]" not in short.text
    assert [c.n for c in short.citations] == [1] and [n for _, n in short.markers()] == [1]
    assert short.usage == {"prompt_tokens": 100, "completion_tokens": count_tokens(short.text),
                           "total_tokens": 100 + count_tokens(short.text)}
    tiny = capped(_grounded(), 3)
    assert tiny.citations == [] and count_tokens(tiny.text) <= 3 and TEXT.startswith(tiny.text)


def test_a_chat_model_that_stopped_at_the_cap_is_incomplete_and_keeps_its_own_count():
    stopped = _grounded(generator="openai", usage={"prompt_tokens": 100, "completion_tokens": 8, "total_tokens": 108})
    assert capped(stopped, 8).incomplete == MAX_OUTPUT_TOKENS  # the model used the whole cap
    cut_short = capped(stopped, 5)
    assert cut_short.usage["completion_tokens"] == 5 and cut_short.incomplete == MAX_OUTPUT_TOKENS


def test_a_character_the_cut_splits_is_dropped_and_the_cap_holds_for_every_length():
    text = "Über die Brücke — 東京 and back 🙂 [1]."
    for limit in range(1, count_tokens(text) + 1):
        kept, was_cut = cut(text, limit)
        assert "\ufffd" not in kept and count_tokens(kept) <= limit and text.startswith(kept)
        assert was_cut == (limit < count_tokens(text))


@pytest.mark.parametrize("limit", [1, 5, 12, 19, 200])
def test_streamed_text_is_the_cut_a_finished_answer_gets(limit):
    sent: list[str] = []
    limiter = StreamLimit(limit, sent.append)
    for word in TEXT.split(" "):  # deltas as a chat model streams them
        limiter(word if word == TEXT.split(" ")[-1] else word + " ")
    finished = capped(_grounded(), limit)
    assert "".join(sent) == finished.text
    assert limiter.done == (finished.incomplete is not None)


def test_a_stop_sequence_ends_the_text_before_it_with_the_citations_left():
    ended = stopped(_grounded(), ["It stores", "never there"])
    assert ended.text == TEXT[:TEXT.index("It stores")] and ended.incomplete is None
    assert [c.n for c in ended.citations] == [1]
    assert ended.usage["completion_tokens"] == count_tokens(ended.text)
    whole = _grounded()
    assert stopped(whole, ["never there"]) is whole and stopped(whole, []) is whole


@pytest.mark.parametrize("size", [1, 2, 3, 7, len(TEXT)])
def test_a_streamed_answer_stops_where_the_whole_one_does_even_across_deltas(size):
    for stops in (["30 days"], ["[1]", "every"], ["not in it"]):
        sent: list[str] = []
        sink = StreamStop(stops, sent.append)
        for i in range(0, len(TEXT), size):
            sink(TEXT[i:i + size])
        sink.flush()
        assert "".join(sent) == stopped(_grounded(), stops).text
