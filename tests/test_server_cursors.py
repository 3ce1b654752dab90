"""Deleting the objects of a list while paging through it, as the stock SDK's auto-pagination
does it (``for vs in client.vector_stores.list(): client.vector_stores.delete(vs.id)``): each
next page is asked for ``after`` an object just deleted, and goes on from where it stood, on
every list whose objects a client deletes. A cursor that never named an object is still a 400."""

from __future__ import annotations

import openai
import pytest
from offline_server_fixtures import client, server  # noqa: F401 - the module's fixtures

pytestmark = pytest.mark.timeout(600)


def _delete_while_paging(listing, delete) -> int:
    deleted = 0
    for item in listing():
        if delete(item):
            deleted += 1
    return deleted


def test_deleting_every_vector_store_while_paging_through_them(client):
    made = {client.vector_stores.create(name="paged").id for _ in range(5)}
    deleted = _delete_while_paging(lambda: client.vector_stores.list(limit=2),
                                   lambda vs: vs.id in made and client.vector_stores.delete(vs.id).deleted)
    assert deleted == 5
    assert not made & {vs.id for vs in client.vector_stores.list(limit=100)}


def test_deleting_files_and_detaching_store_files_while_paging(client):
    ids = [client.files.create(file=(f"page-{i}.txt", b"the word paging %d" % i), purpose="user_data").id
           for i in range(5)]
    store = client.vector_stores.create(name="detach", file_ids=ids)
    detached = _delete_while_paging(
        lambda: client.vector_stores.files.list(vector_store_id=store.id, limit=2),
        lambda f: client.vector_stores.files.delete(file_id=f.id, vector_store_id=store.id).deleted)
    assert detached == 5 and not client.vector_stores.files.list(vector_store_id=store.id).data
    deleted = _delete_while_paging(lambda: client.files.list(limit=2, purpose="user_data"),
                                   lambda f: client.files.delete(f.id).deleted)
    assert deleted == 5 and not client.files.list(purpose="user_data").data


def test_deleting_messages_items_and_assistants_while_paging(client):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": f"m{i}"} for i in range(5)])
    deleted = _delete_while_paging(
        lambda: client.beta.threads.messages.list(thread_id=thread.id, limit=2),
        lambda m: client.beta.threads.messages.delete(message_id=m.id, thread_id=thread.id).deleted)
    assert deleted == 5 and not client.beta.threads.messages.list(thread_id=thread.id).data

    conversation = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": f"m{i}"} for i in range(5)])
    deleted = _delete_while_paging(
        lambda: client.conversations.items.list(conversation.id, limit=2),
        lambda item: client.conversations.items.delete(item.id, conversation_id=conversation.id).id)
    assert deleted == 5 and not client.conversations.items.list(conversation.id).data

    made = {client.beta.assistants.create(model="gpt-4o", name="paged").id for _ in range(5)}
    deleted = _delete_while_paging(lambda: client.beta.assistants.list(limit=2),
                                   lambda a: a.id in made and client.beta.assistants.delete(a.id).deleted)
    assert deleted == 5


def test_a_deleted_cursor_keeps_its_place_and_an_unknown_one_is_a_400(client):
    first, middle, last = (client.vector_stores.create(name=f"place-{i}").id for i in range(3))
    client.vector_stores.delete(middle)
    after = client.vector_stores.list(order="asc", after=middle, limit=100).data
    assert after[0].id == last
    before = client.vector_stores.list(order="asc", before=middle, limit=1).data
    assert [vs.id for vs in before] == [first]
    with pytest.raises(openai.BadRequestError) as unknown:
        client.vector_stores.list(after="vs_never_made")
    assert unknown.value.body["param"] == "after"


def test_a_cursor_file_that_finished_since_the_last_page_still_places_the_next_one(client):
    """Paging through a store's ``in_progress`` files as they finish: the last file of a page may
    be ``completed`` by the time the next page is asked for after it."""
    ids = [client.files.create(file=(f"status-{i}.txt", b"the word status %d" % i), purpose="assistants").id
           for i in range(3)]
    store = client.vector_stores.create(name="status")
    batch = client.vector_stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=ids,
                                                              poll_interval_ms=100)
    assert batch.file_counts.completed == 3
    page = client.vector_stores.files.list(vector_store_id=store.id, filter="in_progress", after=ids[0], order="asc")
    assert page.data == []
    done = client.vector_stores.file_batches.list_files(batch_id=batch.id, vector_store_id=store.id,
                                                        filter="completed", after=ids[0], order="asc")
    assert [f.id for f in done.data] == ids[1:]
