"""``ragkit serve`` end to end: a real server subprocess driven with the stock openai SDK.

One server (auth on, 1 MB upload limit) and one vector store built from the sample corpus are
shared by the module; each test drives one part of the API as a client would.
"""

from __future__ import annotations

import json
import urllib.request

import openai
import pytest
from conftest import CORPUS
from server_helpers import Server, create_key, ragkit, upload, upload_batch

pytestmark = pytest.mark.timeout(600)

PDF = CORPUS / "ws200-user-manual.pdf"
BATCH = ["support-faq.txt", "warranty-and-returns.docx", "cloud-api-guide.md", "firmware-release-notes.md",
         "safety-data-sheet.pdf"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir()
    admin = create_key(home, "admin", "--scope", "admin")
    # a limit no corpus file reaches, so that test_bad_files_fail_alone_with_reasons can pass it
    running = Server(home, "--max-upload-mb", "1", env={"RAGKIT_MAX_FILE_TOKENS": "20000"}).start()
    running.admin_key = admin  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client(server.admin_key)


@pytest.fixture(scope="module")
def store(client):
    """The guide's first steps: files.create -> vector_stores.create -> create_and_poll -> upload_and_poll."""
    with open(PDF, "rb") as handle:
        manual = client.files.create(file=handle, purpose="assistants")
    assert manual.filename == "ws200-user-manual.pdf" and manual.bytes == PDF.stat().st_size
    vs = client.vector_stores.create(name="halvard", metadata={"team": "support"})
    attached = client.vector_stores.files.create_and_poll(
        vector_store_id=vs.id, file_id=manual.id, attributes={"dept": "engineering", "year": 2024, "public": True},
        poll_interval_ms=100)
    assert attached.status == "completed", attached.last_error
    assert attached.attributes == {"dept": "engineering", "year": 2024, "public": True}
    batch = upload_batch(client, vs.id, [CORPUS / name for name in BATCH])
    assert batch.status == "completed"
    assert batch.file_counts.completed == len(BATCH) and batch.file_counts.failed == 0
    ids = {f.id: f for f in client.vector_stores.files.list(vector_store_id=vs.id)}
    names = {client.files.retrieve(i).filename: i for i in ids}
    for name in BATCH:  # attributes for filter tests
        client.vector_stores.files.update(vector_store_id=vs.id, file_id=names[name],
                                          attributes={"dept": "support" if name.endswith(".txt") else "docs",
                                                      "year": 2023})
    return {"id": vs.id, "manual": manual.id, "names": names}


def test_models_list_and_unknown_model(client, store):
    assert [m.id for m in client.models.list()] == ["ragkit-extractive", "ragkit-embedding"]
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="gpt-nope", input="hi",
                                tools=[{"type": "file_search", "vector_store_ids": [store["id"]]}])
    assert caught.value.code == "model_not_found"


def test_vector_store_object(client, store):
    vs = client.vector_stores.retrieve(store["id"])
    assert vs.status == "completed" and vs.name == "halvard" and vs.metadata == {"team": "support"}
    assert vs.file_counts.completed == 1 + len(BATCH) and vs.file_counts.total == 1 + len(BATCH)
    sizes = sum((CORPUS / n).stat().st_size for n in BATCH) + PDF.stat().st_size
    assert vs.usage_bytes == sizes
    updated = client.vector_stores.update(store["id"], name="halvard docs", expires_after={"anchor": "last_active_at", "days": 7})
    assert updated.name == "halvard docs" and updated.expires_after.days == 7 and updated.expires_at
    assert store["id"] in [v.id for v in client.vector_stores.list()]


def test_search_with_attribute_and_page_filters(client, store):
    page = client.vector_stores.search(vector_store_id=store["id"], query="What does error code E42 mean?",
                                       max_num_results=3)
    first = page.data[0]
    assert first.filename == "ws200-user-manual.pdf" and "E42" in first.content[0].text
    assert first.attributes == {"dept": "engineering", "year": 2024, "public": True}  # as set, nothing added
    assert first.page == 4 and first.chunk_id and first.vector_store_id == store["id"]  # ragkit's extras
    assert len(page.data) <= 3 and all(0 <= r.score <= 1 for r in page.data)

    only_support = client.vector_stores.search(
        vector_store_id=store["id"], query="warranty", filters={"type": "eq", "key": "dept", "value": "support"})
    assert only_support.data and {r.filename for r in only_support.data} == {"support-faq.txt"}

    compound = {"type": "and", "filters": [{"type": "eq", "key": "type", "value": "pdf"},
                                           {"type": "gte", "key": "year", "value": 2024},
                                           {"type": "in", "key": "page", "value": [2, 3]}]}
    pages = client.vector_stores.search(vector_store_id=store["id"], query="sensor", filters=compound,
                                        max_num_results=10)
    assert pages.data and {(r.filename, r.page) for r in pages.data} <= {
        ("ws200-user-manual.pdf", 2), ("ws200-user-manual.pdf", 3)}

    either = {"type": "or", "filters": [{"type": "eq", "key": "filename", "value": "cloud-api-guide.md"},
                                        {"type": "nin", "key": "dept", "value": ["docs", "engineering"]}]}
    names = {r.filename for r in client.vector_stores.search(
        vector_store_id=store["id"], query="support data export", filters=either, max_num_results=20).data}
    assert names and names <= {"cloud-api-guide.md", "support-faq.txt"}

    strict = client.vector_stores.search(vector_store_id=store["id"], query="E42",
                                         ranking_options={"score_threshold": 0.99})
    assert all(r.score >= 0.99 for r in strict.data)


@pytest.mark.parametrize("bad", [
    {"type": "eq", "key": "dept"},
    {"type": "between", "key": "year", "value": 1},
    {"type": "in", "key": "year", "value": 2024},
    {"type": "and", "filters": []},
    {"type": "gt", "key": "page", "value": "two"},
])
def test_malformed_filters_are_bad_requests(client, store, bad):
    with pytest.raises(openai.BadRequestError) as caught:
        client.vector_stores.search(vector_store_id=store["id"], query="x", filters=bad)
    assert caught.value.param == "filters"


def test_responses_with_file_search_cite_pages_and_quotes(client, store):
    from ingest.loaders import load_file

    response = client.responses.create(
        model="ragkit-extractive", input="What does error code E42 mean?",
        tools=[{"type": "file_search", "vector_store_ids": [store["id"]], "max_num_results": 4}],
        include=["file_search_call.results"])
    call, message = response.output
    assert call.type == "file_search_call" and call.queries == ["What does error code E42 mean?"]
    assert call.results and call.results[0].file_id in set(store["names"].values()) | {store["manual"]}
    text = message.content[0]
    assert "anemometer" in text.text and response.output_text == text.text
    assert text.annotations
    files = {i: client.files.retrieve(i) for i in store["names"].values()} | {
        store["manual"]: client.files.retrieve(store["manual"])}
    for note in text.annotations:
        assert note.type == "file_citation" and note.file_id in files
        assert note.filename == files[note.file_id].filename
        assert text.text[note.index] == "["
        original = CORPUS / note.filename
        page_text = load_file(original).texts[note.page]
        assert note.quote and note.quote in page_text
    assert response.usage.total_tokens > 0


def test_responses_stream_event_sequence(client, store):
    events = list(client.responses.create(
        model="ragkit-extractive", input=[{"role": "user", "content": "How do I reset the sensor array?"}],
        instructions="Answer briefly.", tools=[{"type": "file_search", "vector_store_ids": [store["id"]]}],
        stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and "response.file_search_call.completed" in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert "SYNC" in final.output_text and deltas == final.output_text
    assert final.output[1].content[0].annotations


def test_streamed_chat_completion_with_usage(client, store):
    chunks = list(client.chat.completions.create(
        model="ragkit-extractive", messages=[{"role": "user", "content": "What is the resolution of the rain gauge?"}],
        stream=True, stream_options={"include_usage": True}, extra_body={"vector_store_ids": [store["id"]]}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "0.2" in text and "[1]" in text
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"][0]
    citations = final.choices[0].delta.model_extra["citations"]
    assert citations[0]["filename"] == "ws200-user-manual.pdf" and citations[0]["page"] == 3

    plain = client.chat.completions.create(
        model="ragkit-extractive", messages=[{"role": "user", "content": "Who won the 1998 football world cup?"}],
        extra_body={"vector_store_ids": [store["id"]]})
    assert plain.model_extra["ragkit"]["refused"] and plain.choices[0].message.content == "Not found in the documents."


def test_chat_without_store_and_without_upstream_is_400(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="ragkit-extractive", messages=[{"role": "user", "content": "hi"}])


def test_bad_files_fail_alone_with_reasons(client, tmp_path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a pdf")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    odd = tmp_path / "notes.xyz"
    odd.write_text("plain words")
    dump = tmp_path / "dump.txt"
    dump.write_text(" ".join(f"r{i}" for i in range(12_000)))  # ~35k tokens, over the server's 20,000
    vs = client.vector_stores.create(name="mixed")
    batch = upload_batch(client, vs.id, [broken, empty, odd, dump, CORPUS / "support-faq.txt"])
    assert (batch.file_counts.completed, batch.file_counts.failed) == (1, 4)
    by_name = {client.files.retrieve(f.id).filename: f for f in
               client.vector_stores.file_batches.list_files(batch_id=batch.id, vector_store_id=vs.id)}
    assert by_name["support-faq.txt"].status == "completed"
    assert by_name["broken.pdf"].last_error.code == "invalid_file" and "PDF" in by_name["broken.pdf"].last_error.message
    assert by_name["empty.txt"].last_error.code == "invalid_file" and "empty" in by_name["empty.txt"].last_error.message
    assert by_name["notes.xyz"].last_error.code == "unsupported_file"
    assert by_name["dump.txt"].last_error.code == "invalid_file"
    assert "max_file_tokens" in by_name["dump.txt"].last_error.message
    failed = client.vector_stores.files.list(vector_store_id=vs.id, filter="failed")
    assert len(failed.data) == 4
    hits = client.vector_stores.search(vector_store_id=vs.id, query="contact support")
    assert {h.filename for h in hits.data} == {"support-faq.txt"}


def test_oversized_upload_is_413(client, tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * (300 * 1024))  # 1.5 MB > the 1 MB limit of this server
    with pytest.raises(openai.APIStatusError) as caught, open(big, "rb") as handle:
        client.files.create(file=handle, purpose="assistants")
    assert caught.value.status_code == 413 and caught.value.code == "request_too_large"


def test_large_json_body_is_413(server, client, store):
    with pytest.raises(openai.APIStatusError) as caught:
        client.vector_stores.search(vector_store_id=store["id"], query="x" * (2 * 1024 * 1024))
    assert caught.value.status_code == 413


def test_unknown_ids_are_not_found(client, store):
    for call in (lambda: client.files.retrieve("file-nope"),
                 lambda: client.vector_stores.retrieve("vs_nope"),
                 lambda: client.vector_stores.search(vector_store_id="vs_nope", query="x"),
                 lambda: client.vector_stores.files.retrieve(file_id="file-nope", vector_store_id=store["id"]),
                 lambda: client.vector_stores.file_batches.retrieve(batch_id="vsfb_nope", vector_store_id=store["id"]),
                 lambda: client.vector_stores.files.create(vector_store_id=store["id"], file_id="file-nope"),
                 lambda: client.responses.create(model="ragkit-extractive", input="x",
                                                 tools=[{"type": "file_search", "vector_store_ids": ["vs_nope"]}])):
        with pytest.raises(openai.NotFoundError):
            call()


def test_path_traversal_name_is_stored_safely(server, client, tmp_path):
    created = client.files.create(file=("../../etc/passwd", b"root:x:0:0", "text/plain"), purpose="assistants")
    assert created.filename == "passwd"
    stored = list((server.home / "files" / created.id).iterdir())
    assert [p.name for p in stored] == ["passwd"]
    assert client.files.content(created.id).content == b"root:x:0:0"
    assert client.files.delete(created.id).deleted
    assert not (server.home / "files" / created.id).exists()
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)


def test_file_list_pagination(client, tmp_path):
    ids = [client.files.create(file=(f"page-{i}.txt", f"text {i}".encode(), "text/plain"), purpose="user_data").id
           for i in range(5)]
    first = client.files.list(purpose="user_data", limit=2, order="asc")
    assert [f.id for f in first.data] == ids[:2] and first.has_more
    second = client.files.list(purpose="user_data", limit=2, order="asc", after=ids[1])
    assert [f.id for f in second.data] == ids[2:4]
    assert [f.id for f in client.files.list(purpose="user_data", order="asc")] == ids
    newest = client.files.list(purpose="user_data", limit=2)  # desc by default
    assert [f.id for f in newest.data] == [ids[4], ids[3]]
    before = client.files.list(purpose="user_data", limit=2, order="asc", extra_query={"before": ids[3]})
    assert [f.id for f in before.data] == ids[1:3]
    with pytest.raises(openai.BadRequestError):
        client.files.list(after="file-unknown")


def test_auth_keys_scopes_and_revocation(server, client, store):
    with pytest.raises(openai.AuthenticationError) as caught:
        server.client("unused").models.list(extra_headers={"Authorization": openai.Omit()})
    assert caught.value.code == "missing_api_key"
    with pytest.raises(openai.AuthenticationError) as caught:
        server.client("rk-not-a-key").models.list()
    assert caught.value.code == "invalid_api_key"

    other = client.vector_stores.create(name="other")
    scoped_key = create_key(server.home, "scoped", "--vector-store", other.id)
    scoped = server.client(scoped_key)
    assert scoped.vector_stores.retrieve(other.id).id == other.id
    with pytest.raises(openai.NotFoundError):
        scoped.vector_stores.retrieve(store["id"])
    with pytest.raises(openai.NotFoundError):
        scoped.vector_stores.search(vector_store_id=store["id"], query="warranty")
    assert store["id"] not in [v.id for v in scoped.vector_stores.list()]
    with pytest.raises(openai.PermissionDeniedError):  # read scope cannot upload
        scoped.files.create(file=("a.txt", b"a", "text/plain"), purpose="assistants")

    listed = json.loads(ragkit("keys", "list", "--json", home=server.home).stdout)
    assert {"admin", "scoped"} <= {k["name"] for k in listed}
    assert all("key" not in k and "hash" not in k for k in listed)
    ragkit("keys", "revoke", "scoped", home=server.home)
    with pytest.raises(openai.AuthenticationError):
        scoped.vector_stores.retrieve(other.id)


def test_rate_limit_answers_429_with_retry_after(server):
    limited = server.client(create_key(server.home, "limited", "--rate-limit", "2"))
    limited.models.list()
    limited.models.list()
    with pytest.raises(openai.RateLimitError) as caught:
        limited.models.list()
    assert int(caught.value.response.headers["retry-after"]) >= 1


def test_errors_never_leak_tracebacks(server, client):
    request = urllib.request.Request(server.base_url + "/vector_stores", data=b"{not json",
                                     headers={"Authorization": f"Bearer {server.admin_key}",
                                              "Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    body = json.loads(caught.value.read())
    assert caught.value.code == 400 and set(body["error"]) == {"message", "type", "param", "code"}
    assert "Traceback" not in json.dumps(body)


def test_audit_log_records_questions_never_keys(server, client, store):
    client.responses.create(model="ragkit-extractive", input="What is the temperature accuracy of the WS-200?",
                            tools=[{"type": "file_search", "vector_store_ids": [store["id"]]}])
    done = ragkit("logs", "--json", "--key", "admin", "--endpoint", "/v1/responses", home=server.home)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    record = [r for r in records if r.get("question") == "What is the temperature accuracy of the WS-200?"][-1]
    assert record["status"] == 200 and record["key"] == "admin" and record["vector_store"] == [store["id"]]
    assert record["retrieved"] and all({"chunk_id", "score"} <= set(h) for h in record["retrieved"])
    assert record["citations"] and record["answer"] and record["tokens"]["total_tokens"] > 0
    assert record["refused"] is False and record["latency_ms"] > 0
    every = ragkit("logs", "--json", home=server.home).stdout
    assert every.count("\n") >= len(records) and server.admin_key not in every


def test_deleting_a_file_from_a_store_removes_its_chunks(client):
    vs = client.vector_stores.create(name="temporary")
    [faq] = upload(client, [CORPUS / "support-faq.txt"])
    client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=faq, poll_interval_ms=100)
    assert client.vector_stores.search(vector_store_id=vs.id, query="contact support").data
    content = client.vector_stores.files.content(file_id=faq, vector_store_id=vs.id)
    assert any("support@halvard.example" in part.text for part in content)
    assert client.vector_stores.files.delete(file_id=faq, vector_store_id=vs.id).deleted
    assert client.vector_stores.search(vector_store_id=vs.id, query="contact support").data == []
    assert client.vector_stores.delete(vs.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(vs.id)


def test_static_chunking_strategy_is_honoured(client, store):
    static = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20}}
    vs = client.vector_stores.create(name="small chunks", chunking_strategy=static)
    [handbook] = upload(client, [CORPUS / "warranty-and-returns.docx"])
    attached = client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=handbook,
                                                          poll_interval_ms=100)
    assert attached.status == "completed"
    assert attached.chunking_strategy.static.max_chunk_size_tokens == 100
    small = list(client.vector_stores.files.content(file_id=handbook, vector_store_id=vs.id))
    default = list(client.vector_stores.files.content(file_id=store["names"]["warranty-and-returns.docx"],
                                                      vector_store_id=store["id"]))
    assert len(small) > len(default)
    other = {"type": "static", "static": {"max_chunk_size_tokens": 400, "chunk_overlap_tokens": 0}}
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.files.create(vector_store_id=vs.id, file_id=store["manual"], chunking_strategy=other)
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.create(chunking_strategy={"type": "static", "static": {
            "max_chunk_size_tokens": 100, "chunk_overlap_tokens": 80}})
    with pytest.raises(openai.BadRequestError) as caught:  # what OpenAI reports for old files, never a request's
        client.vector_stores.files.create(vector_store_id=vs.id, file_id=store["manual"],
                                          chunking_strategy={"type": "other"})
    assert caught.value.param.startswith("chunking_strategy")


def test_unsupported_response_features_are_bad_requests(client, store):
    tool = {"type": "file_search", "vector_store_ids": [store["id"]]}
    with pytest.raises(openai.BadRequestError) as caught:  # unknown, not unsupported: see test_server_conversations
        client.responses.create(model="ragkit-extractive", input="x", tools=[tool], previous_response_id="resp_1")
    assert caught.value.param == "previous_response_id" and caught.value.code == "previous_response_not_found"
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="ragkit-extractive", input="x", tools=[{"type": "web_search"}])
    assert caught.value.param == "tools[0].type"
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="ragkit-extractive", input="x")
    assert caught.value.param == "tools"
    # offline, structured output (which needs a chat model) is refused, never silently ignored
    schema = {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError, match="structured output") as caught:
        client.responses.create(model="ragkit-extractive", input="x", tools=[tool], text=schema)
    assert caught.value.param == "text" and "Value error" not in caught.value.message  # pydantic's prefix
    assert client.responses.create(model="ragkit-extractive", input="What does E42 mean?", tools=[tool],
                                   text={"format": {"type": "text"}}).output_text
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="ragkit-extractive", messages=[{"role": "user", "content": "x"}],
                                       response_format={"type": "json_object"},
                                       extra_body={"vector_store_ids": [store["id"]]})
    assert caught.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as caught:  # served on assistants with a chat model only
        client.beta.assistants.create(model="ragkit-extractive", response_format={"type": "json_object"})
    assert caught.value.param == "response_format" and "needs a chat model" in caught.value.message


def test_search_takes_several_queries_and_checks_bounds(client, store):
    page = client.vector_stores.search(vector_store_id=store["id"], max_num_results=5,
                                       query=["What does error code E42 mean?", "How do I return a product?"])
    assert page.search_query == ["What does error code E42 mean?", "How do I return a product?"]
    assert {"ws200-user-manual.pdf", "support-faq.txt"} <= {r.filename for r in page.data}
    for bad in (0, 51):
        with pytest.raises(openai.BadRequestError):
            client.vector_stores.search(vector_store_id=store["id"], query="x", max_num_results=bad)


def test_rewrite_query_searches_the_keywords(client, store):
    page = client.vector_stores.search(vector_store_id=store["id"], rewrite_query=True,
                                       query="Please give me what error code E42 means")
    assert page.search_query == ["error code E42 means"]
    assert page.data and page.data[0].filename in ("ws200-user-manual.pdf", "firmware-release-notes.md")


def test_answer_cache_follows_the_store(client, store):
    def ask():
        return client.responses.create(model="ragkit-extractive", input="How often should the rain gauge funnel be cleaned?",
                                       tools=[{"type": "file_search", "vector_store_ids": [store["id"]]}])
    first, second = ask(), ask()
    assert second.model_extra["ragkit"]["cached"] and second.output_text == first.output_text
    client.vector_stores.files.update(vector_store_id=store["id"], file_id=store["manual"],
                                      attributes={"dept": "engineering", "year": 2024, "public": True, "rev": 2})
    assert not ask().model_extra["ragkit"]["cached"]  # the store's files changed: answer again


def test_invalid_tool_is_a_bad_request(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="ragkit-extractive", input="x", tools=[{"type": "file_search"}])
    assert caught.value.param == "tools[0].vector_store_ids"
