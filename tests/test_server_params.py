"""Parameters an OpenAI client sends are honoured or refused by name, checked with the stock SDK
against a real offline ``ragkit serve``: ``max_tokens`` / ``max_completion_tokens`` cut the answer
(``finish_reason: "length"``), a file's ``expires_after`` sets its ``expires_at`` and an expired
file is deleted, ``store: true`` on a chat completion is a 400, and every 400 names the parameter
that is wrong (invalid JSON names none). What Python's JSON parser reads but JSON does not allow
(NaN, 1e400, unpaired surrogates, thousands of digits, deep nesting) and page bounds beyond any
document had been 500s: found by fuzzing (test_server_fuzz.py)."""

from __future__ import annotations

import httpx
import openai
import pytest
from conftest import CORPUS
from factories import make_pdf
from offline_server_fixtures import client, server  # noqa: F401 - fixtures
from server_helpers import wait_until

from ragkit.library.answering import count_tokens
from ragkit.state import file_expiry, open_home
from ragkit.state.tables import Tables

pytestmark = pytest.mark.timeout(600)
QUESTION = [{"role": "user", "content": "How do I update the firmware?"}]


@pytest.fixture(scope="module")
def store(client):
    vs = client.vector_stores.create()
    with open(CORPUS / "support-faq.txt", "rb") as handle:
        file_id = client.files.create(file=handle, purpose="assistants").id
    attached = client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=file_id, poll_interval_ms=100)
    assert attached.status == "completed", attached.last_error
    return vs


def _chat(client, vs, **options):
    return client.chat.completions.create(model="ragkit-extractive", messages=QUESTION,
                                          extra_body={"vector_store_ids": [vs.id]}, **options)


def _refused(call) -> dict:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    return caught.value.body


# -- max_tokens ------------------------------------------------------------------------------
def test_max_tokens_cuts_the_answer_and_its_citations(client, store):
    whole = _chat(client, store)
    text = whole.choices[0].message.content
    assert whole.choices[0].finish_reason == "stop" and "[1]" in text
    assert whole.usage.completion_tokens == count_tokens(text) > 5
    for option in ("max_tokens", "max_completion_tokens"):
        cut = _chat(client, store, **{option: 5})
        choice = cut.choices[0]
        assert choice.finish_reason == "length" and cut.usage.completion_tokens <= 5
        assert text.startswith(choice.message.content) and count_tokens(choice.message.content) <= 5
        assert choice.message.model_extra["citations"] == []  # its [1] was cut away
    roomy = _chat(client, store, max_completion_tokens=count_tokens(text))
    assert roomy.choices[0].finish_reason == "stop" and roomy.choices[0].message.content == text


def test_a_streamed_answer_ends_at_the_limit_with_finish_reason_length(client, store):
    chunks = list(_chat(client, store, max_completion_tokens=5, stream=True, stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"] and 0 < count_tokens(streamed) <= 5
    assert chunks[-1].usage.completion_tokens <= 5
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    assert final.model_extra["ragkit"]["text"] == streamed


# -- store -----------------------------------------------------------------------------------
def test_store_true_is_refused_and_stored_completions_are_not_served(client, store):
    body = _refused(lambda: _chat(client, store, store=True))
    assert body["param"] == "store" and "Responses API" in body["message"]
    assert _chat(client, store, store=False).choices[0].finish_reason == "stop"
    for call in (client.chat.completions.list, lambda: client.chat.completions.retrieve("chatcmpl-1"),
                 lambda: client.chat.completions.delete("chatcmpl-1"),
                 lambda: client.chat.completions.messages.list("chatcmpl-1")):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert "does not store chat completions" in caught.value.message


# -- files -----------------------------------------------------------------------------------
def test_expires_after_sets_expires_at_and_an_expired_file_is_deleted(client, store, server):
    with open(CORPUS / "support-faq.txt", "rb") as handle:
        kept = client.files.create(file=handle, purpose="assistants")
        handle.seek(0)
        expiring = client.files.create(file=handle, purpose="assistants",
                                       expires_after={"anchor": "created_at", "seconds": 3600})
    assert kept.expires_at is None
    assert expiring.expires_at == expiring.created_at + 3600
    assert client.files.retrieve(expiring.id).expires_at == expiring.expires_at
    attached = client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=expiring.id,
                                                          poll_interval_ms=100)
    assert attached.status == "completed"

    state = open_home(server.home)  # the hour is over
    file_expiry.set_expiry(Tables(state), expiring.id, expiring.created_at - 1)
    state.dispose()
    assert expiring.id not in [f.id for f in client.files.list()]
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(expiring.id)
    wait_until(lambda: expiring.id not in [f.id for f in client.vector_stores.files.list(store.id)])
    assert client.files.retrieve(kept.id).id == kept.id


def test_a_wrong_expires_after_or_an_unknown_form_field_is_a_400_naming_it(client):
    def upload(**options):
        with open(CORPUS / "support-faq.txt", "rb") as handle:
            return client.files.create(file=handle, purpose="assistants", **options)

    short = _refused(lambda: upload(expires_after={"anchor": "created_at", "seconds": 60}))
    assert short["param"] == "expires_after.seconds" and "3600" in short["message"]
    anchor = _refused(lambda: upload(expires_after={"anchor": "last_active_at", "seconds": 3600}))
    assert anchor["param"] == "expires_after.anchor"
    unknown = _refused(lambda: upload(extra_body={"colour": "red"}))
    assert unknown == {"message": "Unrecognized request argument supplied: colour", "type": "invalid_request_error",
                       "param": "colour", "code": "unknown_parameter"}


def test_an_expires_after_of_thousands_of_digits_or_other_scripts_digits_is_a_400(server):
    """``int()`` refuses more than 4300 digits (it was a 500) and takes "٣٦٠٠" (it was 3600 s)."""
    for seconds in ("9" * 5000, "\u0663\u0666\u0660\u0660"):
        refused = httpx.post(server.base_url + "/files", files={"file": ("a.txt", b"hello", "text/plain")},
                             data={"purpose": "assistants", "expires_after[anchor]": "created_at",
                                   "expires_after[seconds]": seconds})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["param"] == "expires_after.seconds"


def test_a_batch_over_openais_limit_is_a_400_naming_file_ids(client, store):
    body = _refused(lambda: client.vector_stores.file_batches.create(vector_store_id=store.id,
                                                                     file_ids=["file-x"] * 2001))
    assert body["param"] == "file_ids" and "2000" in body["message"]


# -- errors name the parameter -----------------------------------------------------------------
def test_errors_name_the_parameter_that_is_wrong(client, store, server):
    for path in ("/chat/completions", f"/vector_stores/{store.id}/search", "/embeddings"):
        broken = httpx.post(server.base_url + path, content=b"{1", headers={"content-type": "application/json"})
        assert broken.status_code == 400
        assert broken.json()["error"]["param"] is None and "not valid JSON" in broken.json()["error"]["message"]
    query = _refused(lambda: client.vector_stores.search(vector_store_id=store.id, query=5))
    assert query["param"] == "query" and "expected a string or an array, but got an integer" in query["message"]
    role = _refused(lambda: client.chat.completions.create(
        model="ragkit-extractive", messages=[{"role": "wizard", "content": "hi"}],
        extra_body={"vector_store_ids": [store.id]}))
    assert role["param"] == "messages[0].role" and "'wizard'" in role["message"] and "'user'" in role["message"]
    nested = _refused(lambda: client.vector_stores.file_batches.create(
        vector_store_id=store.id, files=[{"file_id": "file-x", "attributes": {"year": [2024]}}]))
    assert nested["param"] == "files[0].attributes.year"
    empty = _refused(lambda: client.embeddings.create(model="ragkit-embedding", input=[]))
    assert empty["param"] == "input" and "must not be empty" in empty["message"]
    with pytest.raises(openai.NotFoundError) as no_store:
        client.post("/vector_stores/search", body={"query": "firmware"}, cast_to=object)
    assert "/v1/vector_stores/{vector_store_id}/search" in no_store.value.message


@pytest.mark.parametrize(("raw", "said"), [
    ('"query": NaN', "NaN is not a finite number"),
    ('"query": "w", "max_num_results": -Infinity', "-Infinity is not a finite number"),
    ('"query": "w", "ranking_options": {"score_threshold": 1e400}', "1e400 is not a finite number"),
    ('"query": "\\ud800 warranty"', "unpaired UTF-16 surrogate \\ud800"),
    ('"query": "warranty \\udc00"', "unpaired UTF-16 surrogate \\udc00"),
    ('"query": "w", "max_num_results": ' + "9" * 5000, "a number has more than 4300 digits"),
    ('"query": ' + "[" * 5000 + "]" * 5000, "nested too deeply"),
], ids=["NaN", "-Infinity", "1e400", "lone high surrogate", "lone low surrogate", "5000 digits", "deep nesting"])
def test_a_body_python_reads_but_json_does_not_allow_is_a_400_on_every_route(server, store, raw, said):
    """NaN, infinities and unpaired surrogate escapes had reached the tokenizer and the database
    (500s, an attribute of NaN stored as null); a huge number or deep nesting broke chat
    completions, which reads its body itself. Each is a JSON error, on every route alike."""
    for path, rest in ((f"/vector_stores/{store.id}/search", ""),
                       ("/chat/completions", f', "messages": [{{"role": "user", "content": "hi"}}], '
                                             f'"vector_store_ids": ["{store.id}"]'),
                       ("/embeddings", ', "model": "ragkit-embedding", "input": "x"')):
        body = ("{" + raw + rest + "}").encode()  # refused as it is read: before "query" is found unknown
        refused = httpx.post(server.base_url + path, content=body, headers={"content-type": "application/json"})
        assert refused.status_code == 400, (path, refused.text)
        error = refused.json()["error"]
        assert said in error["message"] and "We could not parse the JSON body" in error["message"], error
    paired = httpx.post(server.base_url + f"/vector_stores/{store.id}/search",
                        content=b'{"query": "\\ud83d\\ude00 firmware"}', headers={"content-type": "application/json"})
    assert paired.status_code == 200 and paired.json()["search_query"] == ["\U0001f600 firmware"]


def test_a_page_bound_beyond_any_document_selects_nothing_or_everything(client, tmp_path):
    """A page bound of 1e308 or 2**70 overflowed the lexical index's 64-bit page field (a 500)."""
    vs = client.vector_stores.create(name="paged")
    with open(make_pdf(tmp_path / "paged.pdf", ["Calibration of the anemometer.", "Calibration of the vane."]),
              "rb") as handle:
        file_id = client.files.create(file=handle, purpose="assistants").id
    attached = client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=file_id, poll_interval_ms=100)
    assert attached.status == "completed", attached.last_error

    def pages(kind: str, value) -> set[int]:
        found = client.vector_stores.search(vector_store_id=vs.id, query="calibration",
                                            filters={"type": kind, "key": "page", "value": value})
        return {r.model_extra["page"] for r in found.data}

    assert pages("lt", 1e308) == pages("lte", 2**70) == pages("gt", -(10**400)) == {1, 2}
    assert pages("gt", 1e308) == pages("gte", 2**70) == pages("lt", -(10**400)) == set()


# -- values ------------------------------------------------------------------------------------
def test_a_store_without_a_name_has_a_null_name(client):
    vs = client.vector_stores.create()
    assert vs.name is None and client.vector_stores.retrieve(vs.id).name is None
    assert client.vector_stores.create(name="named").name == "named"


def test_an_encrypted_pdf_tells_an_api_client_what_it_can_do(client, tmp_path):
    path = make_pdf(tmp_path / "locked.pdf", ["Launch date: 12 May."], password="s3cret")
    vs = client.vector_stores.create(name="locked")
    with open(path, "rb") as handle:
        file_id = client.files.create(file=handle, purpose="assistants").id
    failed = client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=file_id, poll_interval_ms=100)
    assert failed.status == "failed" and failed.last_error.code == "invalid_file"
    message = failed.last_error.message
    assert "encrypted" in message and "unencrypted copy" in message and "--pdf-password" not in message
