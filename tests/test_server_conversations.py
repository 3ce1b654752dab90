"""Follow-ups over ``/v1/responses``: ``previous_response_id`` and ``/v1/conversations`` with
``conversation=``, offline (the extractive answerer, the offline rewrite). A real server
subprocess with two keys, the stock SDK."""

from __future__ import annotations

import json

import openai
import pytest
from conftest import CORPUS
from assistant_helpers import client, server  # noqa: F401 - the module's fixtures
from server_helpers import upload

from ragkit.conversations.session import history_pairs
from ragkit.state import assistants as adb
from ragkit.state import open_home
from ragkit.state import responses as stored
from ragkit.state.server import ServerState

pytestmark = pytest.mark.timeout(600)
FIRST = "What battery does the sensor array use?"
FOLLOW = "Can I recharge it?"


@pytest.fixture(scope="module")
def tools(client):
    vs = client.vector_stores.create(name="manuals")
    ids = upload(client, [CORPUS / n for n in ("ws200-user-manual.pdf", "safety-data-sheet.pdf", "support-faq.txt")])
    batch = client.vector_stores.file_batches.create_and_poll(vector_store_id=vs.id, file_ids=ids)
    assert batch.file_counts.completed == 3
    return [{"type": "file_search", "vector_store_ids": [vs.id]}]


def _files(response) -> set[str]:
    return {a.filename for a in response.output[1].content[0].annotations}


def _searched(response) -> str:
    return response.model_extra["ragkit"]["search_query"]


def test_previous_response_id_carries_the_subject_into_the_follow_up(client, tools):
    first = client.responses.create(input=FIRST, tools=tools)
    assert first.store and "battery" in first.output_text
    alone = client.responses.create(input=FOLLOW, tools=tools)
    assert _searched(alone) == FOLLOW
    follow = client.responses.create(input=FOLLOW, previous_response_id=first.id, tools=tools)
    assert follow.previous_response_id == first.id
    assert "battery" in _searched(follow).lower()
    assert "safety-data-sheet.pdf" in _files(follow) and "recharge" in follow.output_text.lower()
    assert client.responses.retrieve(follow.id).output_text == follow.output_text
    [asked] = client.responses.input_items.list(follow.id).data
    assert asked.type == "message" and asked.role == "user" and asked.content[0].text == FOLLOW
    with pytest.raises(openai.BadRequestError, match="background"):
        client.responses.cancel(follow.id)  # only background responses can be; ragkit has none
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(input=FOLLOW, previous_response_id="resp_nope", tools=tools)
    assert caught.value.param == "previous_response_id" and caught.value.code == "previous_response_not_found"


def test_a_streamed_response_can_be_followed_up(client, tools):
    events = list(client.responses.create(input=FIRST, tools=tools, stream=True))
    first = events[-1].response
    assert events[-1].type == "response.completed"
    follow = client.responses.create(input=FOLLOW, previous_response_id=first.id, tools=tools)
    assert "battery" in _searched(follow).lower()


def test_a_conversation_keeps_the_items_and_rewrites_follow_ups(client, tools):
    conversation = client.conversations.create(metadata={"topic": "battery"})
    assert client.conversations.retrieve(conversation.id).metadata == {"topic": "battery"}
    first = client.responses.create(input=FIRST, conversation=conversation.id, tools=tools)
    follow = client.responses.create(input=[{"role": "user", "content": FOLLOW}], conversation=conversation.id,
                                     tools=tools)
    assert follow.conversation.id == conversation.id
    assert "battery" in _searched(follow).lower() and "safety-data-sheet.pdf" in _files(follow)

    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [(i.type, getattr(i, "role", None)) for i in items] == [
        ("message", "user"), ("file_search_call", None), ("message", "assistant")] * 2
    assert items[0].content[0].text == FIRST and items[2].id == first.output[1].id
    assert items[5].content[0].text == follow.output_text and items[5].content[0].annotations

    added = client.conversations.items.create(conversation.id, items=[
        {"type": "message", "role": "user", "content": "What does error code E42 mean?"},
        {"type": "message", "role": "assistant", "content": "The anemometer cable is disconnected."}])
    assert [i.role for i in added.data] == ["user", "assistant"]
    third = client.responses.create(input="and E17?", conversation=conversation.id, tools=tools)
    assert "E17" in _searched(third) and "E42" not in _searched(third)
    assert client.conversations.items.retrieve(added.data[0].id, conversation_id=conversation.id).role == "user"
    client.conversations.items.delete(added.data[0].id, conversation_id=conversation.id)
    assert added.data[0].id not in [i.id for i in client.conversations.items.list(conversation.id)]
    with pytest.raises(openai.BadRequestError) as caught:
        client.conversations.items.create(conversation.id, items=[{"type": "function_call_output", "output": "x"}])
    assert caught.value.param == "items[0]"

    assert client.conversations.delete(conversation.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(conversation.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(input=FOLLOW, conversation=conversation.id, tools=tools)
    assert caught.value.param == "conversation"


def test_another_key_cannot_use_the_first_keys_responses_or_conversations(server, client, tools):
    conversation = client.conversations.create()
    first = client.responses.create(input=FIRST, conversation=conversation.id, tools=tools)
    other = server.client(server.keys[1])
    for call in (lambda: other.conversations.retrieve(conversation.id),
                 lambda: other.conversations.items.list(conversation.id),
                 lambda: other.conversations.delete(conversation.id),
                 lambda: other.responses.retrieve(first.id),
                 lambda: other.responses.input_items.list(first.id),
                 lambda: other.responses.create(input=FOLLOW, conversation=conversation.id, tools=tools)):
        with pytest.raises(openai.NotFoundError):
            call()
    with pytest.raises(openai.BadRequestError, match="not found"):  # as OpenAI answers an unknown id
        other.responses.create(input=FOLLOW, previous_response_id=first.id, tools=tools)
    assert client.conversations.retrieve(conversation.id).id == conversation.id
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(input=FOLLOW, conversation=conversation.id, previous_response_id=first.id,
                                tools=tools)
    assert caught.value.param == "conversation"


def test_threads_and_conversations_keep_tool_calls_and_citations_in_one_model(server, client, tools):
    """What a client reads back and what ragkit keeps are one record: a conversation's
    file_search_call is a tool call item (its queries and results), its answer an item with the
    citations its annotations show; an Assistants thread's answer likewise; and both are read into
    a follow-up's history by the same function."""
    conversation = client.conversations.create()
    answered = client.responses.create(input=FIRST, conversation=conversation.id, tools=tools,
                                       include=["file_search_call.results"])
    _, search, message = client.conversations.items.list(conversation.id, order="asc").data
    notes = message.content[0].annotations
    assert search.type == "file_search_call" and search.results and notes

    db = ServerState(open_home(server.home))
    asked, call, said = stored.items(db, conversation.id)
    assert {i.response_id for i in (asked, call, said)} == {answered.id}
    assert asked.standalone == _searched(answered) and said.sources
    assert (call.kind, call.tool.name, call.tool.call_id) == ("file_search_call", "file_search", search.id)
    assert json.loads(call.tool.arguments) == search.queries
    assert [r["file_id"] for r in json.loads(call.tool.output)] == [r.file_id for r in search.results]
    assert [(c["file_id"], c["quote"]) for c in said.citations] == [(a.file_id, a.model_extra["quote"]) for a in notes]

    assistant = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}], tool_resources={
        "file_search": {"vector_store_ids": tools[0]["vector_store_ids"]}})
    thread = client.beta.threads.create(messages=[{"role": "user", "content": FIRST}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    reply = client.beta.threads.messages.list(thread_id=thread.id).data[0].content[0].text
    question, answer = adb.thread_messages(db, thread.id)
    assert (answer.run_id, answer.content) == (run.id, reply.value) and question.standalone == FIRST
    assert [c["quote"] for c in answer.citations] == [a.file_citation.quote for a in reply.annotations]

    for items in (stored.items(db, conversation.id), adb.thread_messages(db, thread.id)):
        [(user, assistant_turn)] = history_pairs(items)
        assert user.content == FIRST and assistant_turn.sources


def test_a_conversation_takes_the_tool_call_items_a_session_adds(client, tools):
    """A client that keeps its agent's memory in a conversation (the Agents SDK's
    ``OpenAIConversationsSession``) adds each turn's items itself, tool calls included, as sent back
    without their ids: ragkit keeps them (with ids of its own) and lists them in order, and the
    next turn, sent as those items, is answered from them."""
    conversation = client.conversations.create(items=[{"role": "user", "content": FIRST}])
    first = client.responses.create(input=FIRST, tools=tools)
    search, answer = (item.model_dump(exclude_none=True, exclude={"id"}) for item in first.output)
    added = client.conversations.items.create(conversation.id, items=[
        search, answer,
        {"type": "function_call", "call_id": "call_1", "name": "station_status", "arguments": '{"id": "OSL-7"}',
         "status": "completed"},
        {"type": "function_call_output", "call_id": "call_1", "output": '{"battery": "81%"}'}]).data
    assert [i.type for i in added] == ["file_search_call", "message", "function_call", "function_call_output"]
    assert all(i.id for i in added) and added[0].queries == search["queries"] and added[3].call_id == "call_1"
    listed = [i.model_dump(exclude_none=True) for i in client.conversations.items.list(conversation.id, order="asc")]
    assert [i["type"] for i in listed] == ["message", "file_search_call", "message", "function_call",
                                           "function_call_output"]
    follow = client.responses.create(input=[*listed[:3], {"role": "user", "content": FOLLOW}], tools=tools)
    assert "battery" in _searched(follow).lower()
    for bad, param in (({"type": "function_call_output", "output": "x"}, "items[0]"),
                       ({"type": "reasoning", "summary": []}, "items[0]")):
        with pytest.raises(openai.BadRequestError) as caught:
            client.conversations.items.create(conversation.id, items=[bad])
        assert caught.value.param == param


def test_an_item_id_already_stored_or_sent_twice_is_a_400_naming_it(client, server):
    """Ids a client chooses stay unique, as OpenAI's "Duplicate item found" keeps them: a repeated
    id is a 400 naming the item, nothing of the request is stored, and the server goes on serving
    (it was a 500 from the database's unique constraint)."""
    said = {"type": "message", "role": "user", "content": FIRST, "id": "msg_chosen_by_the_client"}
    conversation = client.conversations.create(items=[said])
    other = client.conversations.create()
    db = ServerState(open_home(server.home))
    count = "SELECT COUNT(*) AS n FROM conversations WHERE kind='responses_conversation'"
    before = db.one(count)["n"]
    for target, items, param in ((conversation.id, [said], "items[0].id"),
                                 (other.id, [said], "items[0].id"),
                                 (other.id, [{**said, "id": "msg_a"}, {**said, "id": "msg_a"}], "items[1].id")):
        with pytest.raises(openai.BadRequestError) as caught:
            client.conversations.items.create(target, items=items)
        assert caught.value.param == param and caught.value.code == "duplicate_item"
        assert "msg_" in caught.value.message and "Duplicate item" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.conversations.create(items=[{**said, "id": "msg_b"}, {**said, "id": "msg_b"}])
    assert caught.value.param == "items[1].id" and db.one(count)["n"] == before  # no empty conversation left
    assert [i.id for i in client.conversations.items.list(conversation.id).data] == [said["id"]]
    assert client.conversations.items.list(other.id).data == []


def test_an_added_answer_keeps_its_id_and_its_citations(client, tools):
    """An item added as a response returned it keeps its id and, an answer, its citations, as in
    OpenAI's conversations: a client that keeps an agent's memory in a conversation reads back
    the answers it added with their sources (the Agents SDK's ``OpenAIConversationsSession`` does)."""
    answered = client.responses.create(model="ragkit-extractive", input=FIRST, tools=tools)
    said = answered.output[1]
    assert said.content[0].annotations
    conversation = client.conversations.create(items=[{"role": "user", "content": FIRST},
                                                      said.model_dump(exclude_unset=True)])
    asked, kept = client.conversations.items.list(conversation.id, order="asc").data
    assert asked.id.startswith("msg_") and kept.id == said.id
    assert kept.content[0].annotations == said.content[0].annotations
    assert client.conversations.items.retrieve(said.id, conversation_id=conversation.id).content == kept.content


def test_an_item_field_of_the_wrong_json_type_is_a_400_naming_it(client):
    """The tool call items a client adds are kept as sent, so their typed fields are checked as
    OpenAI checks them: a ``name`` that is a list had been a 500 from the database."""
    conversation = client.conversations.create()
    call = {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"}
    for item, param in (({**call, "name": ["get_weather"]}, "items[0].name"),
                        ({**call, "call_id": 7}, "items[0].call_id"),
                        ({"type": "file_search_call", "queries": "battery"}, "items[0].queries"),
                        ({"type": "file_search_call", "queries": ["battery", 7]}, "items[0].queries[1]"),
                        ({"type": "message", "role": "user", "content": "hi", "id": 7}, "items[0].id")):
        with pytest.raises(openai.BadRequestError) as caught:
            client.conversations.items.create(conversation.id, items=[item])
        assert caught.value.param == param and caught.value.code == "invalid_type"
    assert client.conversations.items.list(conversation.id).data == []
    kept = client.conversations.items.create(conversation.id, items=[call]).data[0]
    assert (kept.type, kept.name) == ("function_call", "get_weather")
