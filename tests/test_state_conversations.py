"""The conversation model's repository on a real state database: kinds and owners kept apart,
items in order with their citations, sources, standalone queries and tool calls, all-or-nothing
writes, cursor pages, and one history function reading every surface's conversations."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ragkit.conversations.session import history_pairs
from ragkit.conversations.store import ThreadStore
from ragkit.state import assistants as adb
from ragkit.state import conversations as repo
from ragkit.state import responses
from ragkit.state.conversation_model import Conversation, Item, ToolCall, response_item, thread_message_item
from ragkit.state.server import ServerState

CITATION = {"n": 1, "file_id": "file-1", "filename": "faq.txt", "page": 3, "quote": "three years",
            "quote_start": 0, "quote_end": 11, "chunk_id": "c1", "vector_store_id": "vs_1"}


from state_backends import state, state_url  # noqa: F401,E402 - fixtures: every test on SQLite and PostgreSQL


@pytest.fixture
def db(state) -> ServerState:
    return ServerState(state)


def _conversation(db, conversation_id: str, kind: str = "responses_conversation", owner: str | None = "k1",
                  **fields) -> Conversation:
    return repo.create(db, Conversation(id=conversation_id, kind=kind, owner=owner, created_at=1.0, updated_at=1.0,
                                        **fields))


def _said(conversation_id: str, item_id: str, role: str, text: str, **fields) -> Item:
    return Item(conversation_id=conversation_id, id=item_id, role=role, content=text, created_at=2.0, **fields)


def test_a_conversation_is_found_only_as_its_kind_and_by_its_owner(db):
    _conversation(db, "conv_1", metadata={"topic": "battery"})
    found = repo.get(db, "conv_1", "responses_conversation", owner="k1")
    assert found.metadata == {"topic": "battery"} and found.items == 0
    assert repo.get(db, "conv_1", "assistants_thread") is None
    assert repo.get(db, "conv_1", "responses_conversation", owner="k2") is None
    assert not repo.delete(db, "conv_1", "chat") and repo.get(db, "conv_1") is not None
    assert repo.delete(db, "conv_1", "responses_conversation") and repo.get(db, "conv_1") is None


def test_conversations_are_listed_most_recently_used_first_with_their_item_counts(db):
    _conversation(db, "a", "chat", None, collection="docs", title="first")
    _conversation(db, "b", "chat", "team", collection="docs", title="second")
    _conversation(db, "c", "chat", None, collection="handbook", title="third")
    _conversation(db, "x", "responses_conversation")
    repo.append(db, [_said("a", "m1", "user", "hello")])
    assert [(c.id, c.items) for c in repo.listed(db, "chat", collection="docs")] == [("a", 1), ("b", 0)]
    assert [c.id for c in repo.listed(db, "chat", owner="team")] == ["b"]
    assert len(repo.listed(db, "chat", limit=2)) == 2 and {c.id for c in repo.listed(db, "chat")} == {"a", "b", "c"}


def test_items_keep_order_citations_sources_standalone_and_tool_calls(db):
    _conversation(db, "conv_1")
    call = ToolCall("call_1", "get_weather", '{"city": "Oslo"}')
    stored = repo.append(db, [
        _said("conv_1", "m1", "user", "How long?", standalone="how long is the warranty?"),
        Item(conversation_id="conv_1", id="fc_1", kind="function_call", tool=call, created_at=2.0),
        Item(conversation_id="conv_1", id="fo_1", kind="function_call_output",
             tool=ToolCall("call_1", output="sunny"), created_at=2.0),
        _said("conv_1", "m2", "assistant", "Three years [1].", citations=[CITATION], sources=[{"text": "3 y"}],
              response_id="resp_1")])
    assert [i.seq for i in stored] == sorted(i.seq for i in stored) and len({i.seq for i in stored}) == 4
    assert repo.items(db, "conv_1") == stored
    assert repo.items(db, "conv_1", limit=2) == stored[2:]
    again = repo.item(db, "m2", "conv_1")
    assert (again.citations, again.sources, again.response_id) == ([CITATION], [{"text": "3 y"}], "resp_1")
    assert repo.item(db, "fc_1").tool == call and repo.item(db, "fo_1").tool.output == "sunny"
    assert repo.item(db, "m1", "other") is None
    assert repo.get(db, "conv_1").updated_at > 1.0  # adding items marks it used


def test_a_write_is_all_or_nothing_and_needs_its_conversation(db):
    _conversation(db, "conv_1")
    with pytest.raises(repo.MissingConversation):
        repo.append(db, [_said("conv_1", "m1", "user", "a"), _said("gone", "m2", "user", "b")])
    with pytest.raises(repo.MissingConversation):
        repo.append(db, [_said("conv_1", "m1", "user", "a")], kind="chat")  # another kind's id
    repo.append(db, [_said("conv_1", "m1", "user", "a")])
    _conversation(db, "conv_2")
    for batch, repeated in (([_said("conv_1", "m3", "user", "b"), _said("conv_1", "m1", "user", "c")], "m1"),
                            ([_said("conv_2", "m1", "user", "d")], "m1"),  # ids are unique across conversations
                            ([_said("conv_1", "m4", "user", "e"), _said("conv_1", "m4", "user", "f")], "m4")):
        with pytest.raises(repo.DuplicateItem) as caught:  # the whole batch is refused
            repo.append(db, batch)
        assert caught.value.item_id == repeated
    assert [i.id for i in repo.items(db, "conv_1")] == ["m1"] and repo.items(db, "conv_2") == []


def test_an_update_rewrites_only_the_columns_named(db):
    _conversation(db, "conv_1")
    [first] = repo.append(db, [_said("conv_1", "m1", "user", "a", standalone="kept", sources=[{"text": "s"}])])
    repo.update_item(db, Item(conversation_id="conv_1", id="m1", role="user", content="b", body={"v": 2}))
    after = repo.item(db, "m1")
    assert (after.content, after.body, after.standalone, after.sources, after.seq) == (
        "b", {"v": 2}, "kept", [{"text": "s"}], first.seq)
    assert repo.delete_item(db, "m1", "conv_1") and not repo.delete_item(db, "m1")


def test_deleting_a_conversation_runs_the_callers_cleanup_in_the_same_transaction(db):
    _conversation(db, "thread_1", "assistants_thread")
    repo.append(db, [_said("thread_1", "m1", "user", "a")])

    def fail(conn) -> None:
        raise RuntimeError("cleanup failed")

    with pytest.raises(RuntimeError):
        repo.delete(db, "thread_1", also=fail)
    assert [i.id for i in repo.items(db, "thread_1")] == ["m1"]  # rolled back with it
    assert repo.delete(db, "thread_1", also=lambda conn: None) and repo.items(db, "thread_1") == []


def test_items_pages_follow_the_cursor_and_the_run(db):
    _conversation(db, "thread_1", "assistants_thread")
    repo.append(db, [_said("thread_1", f"m{n}", "user", str(n), run_id="run_1" if n % 2 else None, body={"n": n})
                     for n in range(5)])
    page = SimpleNamespace(limit=2, order="asc", after="m0", before=None)
    rows, more = repo.items_page(db, "thread_1", page)
    assert [r["id"] for r in rows] == ["m1", "m2"] and more
    rows, more = repo.items_page(db, "thread_1", SimpleNamespace(limit=5, order="desc", after=None, before=None),
                                 run_id="run_1")
    assert [r["id"] for r in rows] == ["m3", "m1"] and not more


def test_api_objects_map_onto_the_model_with_their_citations_and_tool_calls():
    message = {"id": "msg_1", "thread_id": "thread_1", "role": "assistant", "status": "completed", "run_id": "run_1",
               "created_at": 7, "content": [{"type": "text", "text": {"value": "Three years [1].", "annotations": [
                   {"type": "file_citation", "text": "[1]", "start_index": 12, "end_index": 15, "n": 1,
                    "file_citation": {k: v for k, v in CITATION.items() if k != "n"}}]}}]}
    item = thread_message_item(message, sources=[{"text": "s"}])
    assert (item.content, item.citations, item.run_id, item.created_at, item.body) == (
        "Three years [1].", [CITATION], "run_1", 7.0, message)
    output = {"id": "msg_2", "type": "message", "role": "assistant", "status": "completed", "content": [
        {"type": "output_text", "text": "Three years [1].", "annotations": [{"type": "file_citation", "index": 12,
                                                                             **CITATION}]}]}
    assert response_item("conv_1", output).citations == [CITATION]
    search = response_item("conv_1", {"id": "fs_1", "type": "file_search_call", "queries": ["q"], "results": [
        {"file_id": "file-1"}]})
    assert search.tool == ToolCall("fs_1", "file_search", '["q"]', '[{"file_id": "file-1"}]')
    called = response_item("conv_1", {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f",
                                      "arguments": "{}"})
    answered = response_item("conv_1", {"id": "fo_1", "type": "function_call_output", "call_id": "call_1",
                                        "output": "42"})
    assert (called.tool, answered.tool) == (ToolCall("call_1", "f", "{}"), ToolCall("call_1", output="42"))
    with pytest.raises(ValueError, match="reasoning"):
        response_item("conv_1", {"id": "r_1", "type": "reasoning"})


def test_one_history_function_reads_every_surfaces_conversations(db, tmp_path):
    """A chat thread, an Assistants thread and a Responses conversation with the same exchange give
    the same (question, answer) pairs; tool calls and an answer still being written are not turns."""
    chats = ThreadStore(db.state)
    chat = chats.create_thread("How long?", "docs")
    chats.append_message(chat.id, "user", "How long?", standalone="how long is the warranty?")
    chats.append_message(chat.id, "assistant", "Three years.", sources=[{"text": "3 y"}])

    adb.insert(db, adb.THREADS, {"id": "thread_1", "created_at": 1}, "k1")
    adb.add_message(db, {"id": "msg_1", "thread_id": "thread_1", "role": "user", "status": "completed",
                         "content": [{"type": "text", "text": {"value": "How long?", "annotations": []}}]},
                    standalone="how long is the warranty?")
    adb.add_message(db, {"id": "msg_2", "thread_id": "thread_1", "role": "assistant", "status": "completed",
                         "content": [{"type": "text", "text": {"value": "Three years.", "annotations": []}}]},
                    sources=[{"text": "3 y"}])
    adb.add_message(db, {"id": "msg_3", "thread_id": "thread_1", "role": "assistant", "status": "in_progress",
                         "content": []})

    adb.insert(db, adb.CONVERSATIONS, {"id": "conv_1", "created_at": 1}, "k1")
    responses.add_items(db, "conv_1", [{"id": "msg_4", "type": "message", "role": "user",
                                        "content": [{"type": "input_text", "text": "How long?"}]}],
                        standalone="how long is the warranty?")
    responses.add_items(db, "conv_1", [{"id": "fs_1", "type": "file_search_call", "queries": ["warranty"]},
                                       {"id": "msg_5", "type": "message", "role": "assistant",
                                        "content": [{"type": "output_text", "text": "Three years."}]}],
                        sources=[{"text": "3 y"}])

    for items in (chats.items(chat.id), adb.thread_messages(db, "thread_1"), responses.items(db, "conv_1")):
        [(question, answer)] = history_pairs(items)
        assert (question.content, question.standalone) == ("How long?", "how long is the warranty?")
        assert (answer.content, answer.sources) == ("Three years.", [{"text": "3 y"}])


def test_chat_threads_are_a_view_on_each_backend(state):
    store = ThreadStore(state)
    thread = store.create_thread("How long is the warranty?", "default", owner="team-key")
    store.append_message(thread.id, "user", "How long is the warranty?")
    store.append_message(thread.id, "assistant", "Three years [1].", citations=[CITATION],
                         sources=[{"chunk_id": "c1"}], standalone="warranty length")
    said = store.messages(thread.id)
    assert [(m.role, m.content) for m in said] == [("user", "How long is the warranty?"),
                                                   ("assistant", "Three years [1].")]
    assert said[1].citations == [CITATION] and said[1].standalone == "warranty length"
    assert [t.id for t in store.list_threads("default")] == [thread.id]
    store.delete_thread(thread.id)
    assert store.list_threads("default") == []
