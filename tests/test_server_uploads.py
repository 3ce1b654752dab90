"""``/v1/uploads``: a file sent in parts with the stock SDK's ``uploads.upload_file_chunked`` (and
the calls under it) becomes an ordinary file that a vector store can ingest and search."""

from __future__ import annotations

import asyncio
import hashlib

import openai
import pytest
from conftest import CORPUS
from server_helpers import Server, create_key

MANUAL = CORPUS / "ws200-user-manual.pdf"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("uploads") / "home"
    home.mkdir()
    keys = [create_key(home, name, "--scope", "write") for name in ("first", "second")]
    running = Server(home, "--max-upload-mb", "1").start()
    running.keys = keys  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client(server.keys[0])


def test_a_file_sent_in_parts_is_searchable_like_any_upload(client, tmp_path):
    data = MANUAL.read_bytes()
    upload = client.uploads.upload_file_chunked(file=MANUAL, mime_type="application/pdf", purpose="assistants",
                                                part_size=len(data) // 3 + 1)
    assert upload.status == "completed" and upload.filename == MANUAL.name and upload.bytes == len(data)
    assert upload.file is not None and upload.file.bytes == len(data) and upload.file.filename == MANUAL.name
    assert client.files.content(upload.file.id).read() == data  # the parts, in order
    assert client.files.retrieve(upload.file.id).id == upload.file.id

    store = client.vector_stores.create(name="uploaded")
    attached = client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=upload.file.id)
    assert attached.status == "completed", attached.last_error
    found = client.vector_stores.search(vector_store_id=store.id, query="error code E42")
    assert found.data and found.data[0].file_id == upload.file.id


def test_parts_are_joined_in_the_order_complete_names_and_checked_by_md5(client):
    first, second = b"Second half of the note.\n", b"The first half of the note, "
    upload = client.uploads.create(bytes=len(first + second), filename="../../note.txt", mime_type="text/plain",
                                   purpose="assistants")
    assert upload.status == "pending" and upload.filename == "note.txt" and upload.expires_at > upload.created_at
    tail = client.uploads.parts.create(upload.id, data=first)
    head = client.uploads.parts.create(upload.id, data=second)
    assert tail.upload_id == upload.id and tail.object == "upload.part"
    with pytest.raises(openai.BadRequestError) as wrong_md5:
        client.uploads.complete(upload.id, part_ids=[head.id, tail.id], md5=hashlib.md5(b"other").hexdigest())
    assert wrong_md5.value.body["param"] == "md5"
    done = client.uploads.complete(upload.id, part_ids=[head.id, tail.id],
                                   md5=hashlib.md5(second + first).hexdigest())
    assert client.files.content(done.file.id).read() == second + first
    with pytest.raises(openai.BadRequestError):  # completed: no more parts
        client.uploads.parts.create(upload.id, data=b"more")


def test_sizes_that_do_not_add_up_and_cancelled_uploads_are_clear_errors(client):
    upload = client.uploads.create(bytes=10, filename="short.txt", mime_type="text/plain", purpose="assistants")
    part = client.uploads.parts.create(upload.id, data=b"12345")
    with pytest.raises(openai.BadRequestError) as short:
        client.uploads.complete(upload.id, part_ids=[part.id])
    assert "5 bytes" in short.value.message and "bytes=10" in short.value.message
    with pytest.raises(openai.BadRequestError) as too_many:
        client.uploads.parts.create(upload.id, data=b"1234567890")
    assert "more than the 10" in too_many.value.message
    with pytest.raises(openai.BadRequestError) as foreign:
        client.uploads.complete(upload.id, part_ids=[part.id, "part_nope"])
    assert foreign.value.body["param"] == "part_ids"
    assert client.uploads.cancel(upload.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError) as cancelled:
        client.uploads.parts.create(upload.id, data=b"12345")
    assert "cancelled" in cancelled.value.message


def test_limits_purposes_and_other_keys(server, client):
    with pytest.raises(openai.APIStatusError) as large:
        client.uploads.create(bytes=2 * 1024 * 1024, filename="big.pdf", mime_type="application/pdf",
                              purpose="assistants")
    assert large.value.status_code == 413
    with pytest.raises(openai.BadRequestError) as purpose:
        client.uploads.create(bytes=3, filename="a.txt", mime_type="text/plain", purpose="holiday")
    assert purpose.value.body["param"] == "purpose"
    upload = client.uploads.create(bytes=3, filename="a.txt", mime_type="text/plain", purpose="assistants")
    other = server.client(server.keys[1])
    with pytest.raises(openai.NotFoundError):  # another key's upload does not exist for it
        other.uploads.parts.create(upload.id, data=b"abc")
    with pytest.raises(openai.NotFoundError):
        other.uploads.cancel(upload.id)
    with pytest.raises(openai.APIStatusError) as part_too_large:  # a part past the upload limit: 413
        client.uploads.parts.create(upload.id, data=b"x" * (1024 * 1024 + 2 * 1024 * 1024))
    assert part_too_large.value.status_code == 413


async def _at_once(server, calls) -> list:
    """Each ``calls`` entry (a function of an async client) sent at the same moment; the results or errors."""
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key=server.keys[0], max_retries=0,
                                  timeout=120) as client:
        return await asyncio.gather(*[call(client) for call in calls], return_exceptions=True)


def test_a_complete_racing_a_cancel_or_another_complete_is_a_400_not_a_lost_part(server, client):
    """The request that loses finds the parts gone (the winner removed them): it is told the upload
    is no longer pending, as it would have been a moment later, not an internal error."""
    size, count = 16 * 1024, 64
    for round_ in range(6):
        upload = client.uploads.create(bytes=size * count, filename="race.bin", mime_type="application/octet-stream",
                                       purpose="assistants")
        parts = [client.uploads.parts.create(upload.id, data=bytes([n]) * size).id for n in range(count)]
        complete = lambda c: c.uploads.complete(upload.id, part_ids=parts)  # noqa: E731
        rival = (lambda c: c.uploads.cancel(upload.id)) if round_ % 2 else complete
        outcomes = asyncio.run(_at_once(server, [complete, rival, complete]))
        failed = [o for o in outcomes if isinstance(o, Exception)]
        assert all(isinstance(f, openai.BadRequestError) and f.body["param"] == "upload_id" for f in failed), failed
        assert len(failed) == 2, outcomes  # one request wins: the others are told what the upload became


def test_a_part_racing_a_cancel_is_a_400(server, client):
    """A cancel removes the parts' directory while a part is being written into it."""
    for _ in range(12):
        upload = client.uploads.create(bytes=1024 * 1024, filename="race.bin", mime_type="application/octet-stream",
                                       purpose="assistants")
        part = lambda c: c.uploads.parts.create(upload.id, data=b"x" * 1024 * 1024)  # noqa: E731
        outcomes = asyncio.run(_at_once(server, [part, lambda c: c.uploads.cancel(upload.id)]))
        failed = [o for o in outcomes if isinstance(o, Exception)]
        assert all(isinstance(f, openai.BadRequestError) and "cancelled" in f.message for f in failed), failed


def test_a_wrong_bytes_is_a_400_naming_bytes(client):
    """``bytes`` is also the name of a type, which a union's members are named by in pydantic's
    errors: the field's name had been dropped from the 400 (``param: null``)."""
    for wrong, code in ((1.5, "invalid_type"), ("ten", "invalid_type"), (-1, "invalid_value")):
        with pytest.raises(openai.BadRequestError) as caught:
            client.uploads.create(bytes=wrong, filename="a.txt", mime_type="text/plain", purpose="assistants")
        assert (caught.value.param, caught.value.code) == ("bytes", code), caught.value.message
