"""Small things OpenAI's API does that clients rely on, against a real offline ``ragkit serve``:
the ``x-request-id`` header on every response (the SDK's ``_request_id``), multipart file names
escaped as browsers and the SDKs escape them, and ``tool_choice: "none"`` on ``/v1/responses``."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest
from conftest import CORPUS
from offline_server_fixtures import client, server  # noqa: F401 - fixtures
from server_helpers import ragkit, upload_batch

pytestmark = pytest.mark.timeout(600)
REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")
MODEL = "ragkit-extractive"


@pytest.fixture(scope="module")
def store(client) -> str:
    vs = client.vector_stores.create(name="faq")
    assert upload_batch(client, vs.id, [CORPUS / "support-faq.txt"]).file_counts.completed == 1
    return vs.id


def _records(server) -> list[dict]:
    return [json.loads(line) for line in ragkit("logs", "--json", home=server.home).stdout.splitlines()]


def test_every_response_carries_an_x_request_id_the_sdk_reads(server, client, store):
    page = client.files.list()
    assert REQUEST_ID.match(page._request_id)
    raw = client.with_raw_response.files.list()
    assert REQUEST_ID.match(raw.headers["x-request-id"]) and raw.headers["x-request-id"] != page._request_id
    assert raw.request_id == raw.headers["x-request-id"]

    with pytest.raises(openai.NotFoundError) as missing:
        client.files.retrieve("file-missing")
    assert REQUEST_ID.match(missing.value.request_id)
    assert set(missing.value.body) == {"message", "type", "param", "code"}  # the error body is unchanged
    with client.responses.with_streaming_response.create(
            model=MODEL, input="How do I contact support?", stream=True,
            tools=[{"type": "file_search", "vector_store_ids": [store]}]) as streamed:
        assert REQUEST_ID.match(streamed.headers["x-request-id"])
        assert "response.completed" in streamed.read().decode()
    # answered by the request guard itself, before any route runs: a body over the 1 MB JSON limit
    too_big = httpx.post(server.base_url + "/vector_stores", content=b"{" + b" " * (2 << 20) + b"}",
                         headers={"Content-Type": "application/json"}, timeout=60)
    assert too_big.status_code == 413 and REQUEST_ID.match(too_big.headers["x-request-id"])
    assert set(too_big.json()["error"]) == {"message", "type", "param", "code"}

    # the server's request log names the same ids, so a client's error can be found in it
    logged = {r.get("request_id"): r for r in _records(server)}
    assert logged[missing.value.request_id]["status"] == 404
    assert logged[missing.value.request_id]["endpoint"] == "/v1/files/file-missing"
    assert logged[page._request_id]["status"] == 200
    assert logged[too_big.headers["x-request-id"]]["status"] == 413
    shown = ragkit("logs", home=server.home).stdout
    assert missing.value.request_id in shown


def _multipart(filename: str, data: bytes) -> tuple[bytes, str]:
    """A ``POST /v1/files`` body written by hand, the file name exactly as given."""
    boundary = "ragkit-test-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: text/plain\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(("sent", "stored"), [
    ("a%22b.txt", "a_b.txt"),                  # '"' as browsers and Node's FormData send it
    ("line%0D%0Abreak.txt", "linebreak.txt"),  # CR LF: control characters are dropped
    ("100%25 done.txt", "100_25 done.txt"),    # any other escape is the name's own characters
])
def test_multipart_file_names_are_read_as_browsers_escape_them(server, client, sent, stored):
    body, content_type = _multipart(sent, b"Some notes.\n")
    done = httpx.post(server.base_url + "/files", content=body, headers={"Content-Type": content_type}, timeout=60)
    assert done.status_code == 200, done.text
    assert done.json()["filename"] == stored
    assert client.files.retrieve(done.json()["id"]).filename == stored


def test_the_python_sdk_escapes_a_quote_in_a_file_name_the_same_way(client):
    created = client.files.create(file=('say "hi".txt', b"Hello.\n"), purpose="assistants")
    assert created.filename == "say _hi_.txt"


def test_tool_choice_none_with_file_search_is_a_400_offline(client, store):
    """``none`` forbids the file_search call, and the offline answerer answers only from what it finds."""
    tools = [{"type": "file_search", "vector_store_ids": [store]}]
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, input="How do I contact support?", tools=tools, tool_choice="none")
    assert refused.value.body["param"] == "tool_choice" and "chat model" in refused.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=MODEL, input="How do I contact support?", tools=tools, tool_choice="none",
                                stream=True)
    answered = client.responses.create(model=MODEL, input="How do I contact support?", tools=tools,
                                       tool_choice="auto")
    assert [item.type for item in answered.output] == ["file_search_call", "message"]
