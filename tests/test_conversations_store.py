"""The thread store: SQLite in WAL mode, one connection per OS thread, threads and their messages."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from ragkit.conversations.store import FILENAME, ThreadStore, title_from
from ragkit.errors import UsageError


@pytest.fixture
def store(tmp_path):
    with ThreadStore.for_home(tmp_path / "kb") as opened:
        yield opened


def test_threads_are_created_listed_found_and_deleted(store, tmp_path):
    assert store.path == tmp_path / "kb" / FILENAME
    first = store.create_thread("How long is the warranty?", "default")
    second = store.create_thread("What is the MQTT port?", "default", owner="team-key")
    other = store.create_thread("Travel policy", "handbook")
    assert first.id != second.id and first.owner is None and first.messages == 0
    store.append_message(first.id, "user", "How long is the warranty?")  # most recently used first
    assert [t.id for t in store.list_threads("default")] == [first.id, second.id]
    assert [t.id for t in store.list_threads(owner="team-key")] == [second.id]
    assert {t.id for t in store.list_threads()} == {first.id, second.id, other.id}
    assert store.get_thread(first.id).messages == 1 and store.get_thread("nope") is None
    assert store.find_thread(first.id[:6], "default").id == first.id
    with pytest.raises(UsageError, match="no conversation thread"):
        store.find_thread("zzzz")
    assert store.delete_thread(first.id) and not store.delete_thread(first.id)
    assert store.messages(first.id) == []
    assert [t.id for t in store.list_threads("default")] == [second.id]


def test_messages_keep_citations_sources_and_the_standalone_query(store):
    thread = store.create_thread("warranty", "default")
    store.append_message(thread.id, "user", "and how do I return it?", standalone="how do I return the WS-200?")
    citation = {"n": 1, "source": "faq.txt", "page": None, "quote": "Request an RMA number", "quote_start": 0,
                "quote_end": 21, "chunk_id": "c1"}
    source = {"rank": 1, "chunk_id": "c1", "text": "Request an RMA number first.", "source": "faq.txt", "page": None}
    store.append_message(thread.id, "assistant", "Request an RMA number [1].", citations=[citation],
                         sources=[source], standalone="how do I return the WS-200?")
    user, answer = store.messages(thread.id)
    assert (user.role, user.content, user.standalone) == ("user", "and how do I return it?", "how do I return the WS-200?")
    assert user.citations == [] and answer.citations == [citation] and answer.sources == [source]
    assert [m.role for m in store.messages(thread.id, limit=1)] == ["assistant"]
    with pytest.raises(UsageError, match="no conversation thread"):
        store.append_message("missing", "user", "hello")
    with pytest.raises(UsageError, match="role"):
        store.append_message(thread.id, "system", "be evil")  # type: ignore[arg-type]


def test_the_file_is_in_wal_mode_and_survives_reopening(store):
    thread = store.create_thread("kept", "default")
    store.append_message(thread.id, "user", "hello")
    store.close()
    with sqlite3.connect(store.path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with ThreadStore(store.path) as again:
        assert [m.content for m in again.messages(thread.id)] == ["hello"]


def test_writes_from_many_os_threads_are_not_lost(store):
    thread = store.create_thread("busy", "default")
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def write(worker: int) -> None:
        try:
            start.wait(timeout=30)
            for i in range(10):
                store.append_message(thread.id, "user", f"{worker}-{i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors
    contents = [m.content for m in store.messages(thread.id)]
    assert sorted(contents) == sorted(f"{w}-{i}" for w in range(4) for i in range(10))
    for w in range(4):  # each writer's messages keep their order
        mine = [c for c in contents if c.startswith(f"{w}-")]
        assert mine == [f"{w}-{i}" for i in range(10)]


def test_titles_are_one_line_and_cut_at_a_word():
    assert title_from("  What   is\nthe port? ") == "What is the port?"
    long = title_from("word " * 40)
    assert len(long) <= 80 and long.endswith("…") and not long[:-1].endswith(" ")
    assert title_from("") == "untitled"
