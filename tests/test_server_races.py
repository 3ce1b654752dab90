"""Concurrent requests that race on one object, through the stock SDK against a real ``ragkit serve``.

Runs created at once on one thread (two worker processes): one is accepted, the others get
OpenAI's 400 "already has an active run", and the thread gets one answer. A file batch cancelled
right after it was created, and while it is being ingested: its unfinished files end
``cancelled`` with no chunk left, the batch is ``cancelling`` and then ``cancelled``, counts agree
with the file lists, and a finished batch stays finished.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import string

import openai
import pytest
from openai.types.beta.threads import Run
from server_helpers import Server, manuals_store, upload, wait_until

pytestmark = [pytest.mark.timeout(900)]

FILLER = ("station sensor wind rain gauge console battery panel mast bracket signal radio firmware update reading "
          "export archive calibration humidity pressure cable error reset button channel display alarm").split()


# -- runs -------------------------------------------------------------------------------------------
async def _create_at_once(server: Server, thread_id: str, assistant_id: str, count: int, **extra) -> list:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=120) as client:
        return await asyncio.gather(*[
            client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant_id,
                                            **{k: v(i) for k, v in extra.items()})
            for i in range(count)], return_exceptions=True)


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def test_of_runs_created_at_once_on_a_thread_one_is_accepted_and_answers(tmp_path, llm):
    """The accepted run calls the user's function: it stays active (``requires_action``) until the
    outputs are submitted, however late the other requests reach the server."""
    env = {"RAGKIT_BASE_URL": llm.url, "RAGKIT_MODEL": "test-model", "RAGKIT_MAX_RETRIES": "0"}
    server = Server(tmp_path / "home", "--no-auth", "--workers", "2", env=env).start(timeout=240)
    try:
        client = server.client()
        assistant = client.beta.assistants.create(
            model="gpt-4o", tools=[{"type": "file_search"}, WEATHER],
            tool_resources={"file_search": {"vector_store_ids": [manuals_store(client)]}})
        for round_ in range(12):  # a lost race is rare in any one round: the old check-then-insert lost 1 in 6
            with_messages = round_ % 3 == 2  # each request brings its own question (additional_messages)
            thread = client.beta.threads.create(messages=[] if with_messages else [
                {"role": "user", "content": "What is the weather in Oslo?"}])
            llm.state.tool_script.extend([{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
                                          {"content": "It is cloudy in Oslo."}])
            extra = {"additional_messages": lambda i: [{"role": "user", "content": f"Question {i}: what is the "
                                                        "weather in Oslo?"}]} if with_messages else {}
            outcomes = asyncio.run(_create_at_once(server, thread.id, assistant.id, 8, **extra))
            accepted = [o for o in outcomes if isinstance(o, Run)]
            refused = [o for o in outcomes if isinstance(o, openai.BadRequestError)]
            assert len(accepted) == 1 and len(refused) == 7, (round_, outcomes)
            winner = accepted[0]
            for error in refused:
                assert error.status_code == 400
                assert error.response.json() == {"error": {
                    "message": f"Thread {thread.id} already has an active run {winner.id}.",
                    "type": "invalid_request_error", "param": "thread_id", "code": None}}
            waiting = client.beta.threads.runs.poll(winner.id, thread_id=thread.id, poll_interval_ms=100)
            assert waiting.status == "requires_action", waiting.last_error
            [call] = waiting.required_action.submit_tool_outputs.tool_calls
            done = client.beta.threads.runs.submit_tool_outputs_and_poll(
                thread_id=thread.id, run_id=winner.id, tool_outputs=[{"tool_call_id": call.id, "output": "cloudy"}],
                poll_interval_ms=100)
            assert done.status == "completed", done.last_error
            assert [r.id for r in client.beta.threads.runs.list(thread_id=thread.id)] == [winner.id]
            messages = list(client.beta.threads.messages.list(thread_id=thread.id, order="asc"))
            assert [m.role for m in messages] == ["user", "assistant"]
            assert messages[1].run_id == winner.id and messages[1].content[0].text.value == "It is cloudy in Oslo."
            if with_messages:  # only the accepted request's question was added
                assert messages[0].content[0].text.value.startswith("Question ")
        log = server.log.read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]
    finally:
        server.stop()


# -- file batches -----------------------------------------------------------------------------------
def _documents(folder, count: int, seed: int) -> dict:
    """``count`` small files, each holding a made-up word no other file has: {path: word}."""
    rng = random.Random(seed)
    folder.mkdir()
    made = {}
    for i in range(count):
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(10))
        body = " ".join(" ".join(rng.choice(FILLER) for _ in range(12)).capitalize() + "." for _ in range(6))
        path = folder / f"note-{i:03d}.txt"
        path.write_text(f"Note {i}\n\n{body}\n\nIts code word is {word}.\n")
        made[path] = word
    return made


def _batch_of(client, vs_id: str, docs: dict, also: dict | None = None):
    """Upload ``docs`` and attach them, and the files ``also`` ({file_id: word}) if given, as one
    batch: (batch, {file_id: word} of the batch)."""
    words = {**(also or {}), **dict(zip(upload(client, list(docs)), docs.values()))}
    batch = client.vector_stores.file_batches.create(vector_store_id=vs_id, file_ids=list(words))
    return batch, words


def _chunks_by_file(meta: sqlite3.Connection, vs_id: str) -> dict[str, int]:
    """The chunks the store's collection holds, counted by the uploaded file they came from."""
    return dict(meta.execute("SELECT f.id, COUNT(*) FROM chunks c JOIN api_files f ON f.path = c.path "
                             "WHERE c.collection=? GROUP BY f.id", (vs_id,)).fetchall())


def _consistent(client, meta: sqlite3.Connection, vs_id: str, batch_id: str, words: dict[str, str]) -> dict:
    """The cancelled batch's promises; returns each of its files' final status."""
    def settled():  # the SDK's poll stops at any status but in_progress
        found = client.vector_stores.file_batches.retrieve(batch_id, vector_store_id=vs_id)
        return found if found.status not in ("in_progress", "cancelling") else None

    batch = wait_until(settled, timeout=300, interval=0.1)
    assert batch.status == "cancelled"
    counts = batch.file_counts
    statuses = {f.id: f.status for f in client.vector_stores.file_batches.list_files(
        batch_id, vector_store_id=vs_id, limit=100)}
    assert set(statuses) == set(words) and counts.total == len(words) and counts.in_progress == 0
    assert counts.completed + counts.cancelled + counts.failed == counts.total
    for status in ("completed", "cancelled", "failed"):
        assert getattr(counts, status) == sum(1 for s in statuses.values() if s == status), status
    for file_id, word in words.items():
        hits = [h.file_id for h in client.vector_stores.search(vector_store_id=vs_id, query=word,
                                                               max_num_results=10).data]
        if statuses[file_id] == "completed":
            assert hits[:1] == [file_id], (word, hits)
        else:
            assert file_id not in hits, (word, hits)
    chunks = {f: n for f, n in _chunks_by_file(meta, vs_id).items() if f in words}
    reported = dict(meta.execute("SELECT file_id, chunks FROM vs_files WHERE vector_store_id=? AND status='completed'",
                                 (vs_id,)).fetchall())
    assert chunks == {f: reported[f] for f, s in statuses.items() if s == "completed"}  # none of a cancelled file
    return statuses


def _counts_agree(client, vs_id: str) -> None:
    """The store's file_counts are its file list's statuses, counted."""
    listed = [f.status for f in client.vector_stores.files.list(vector_store_id=vs_id, limit=100)]
    counts = client.vector_stores.retrieve(vs_id).file_counts
    assert counts.total == len(listed)
    for status in ("in_progress", "completed", "cancelled", "failed"):
        assert getattr(counts, status) == listed.count(status), status


def _some_stored(meta: sqlite3.Connection, vs_id: str, among: dict, least: int) -> list[str]:
    """Files of ``among`` with chunks in the store's collection, once there are ``least`` of them."""
    stored = [f for f in _chunks_by_file(meta, vs_id) if f in among]
    return stored if len(stored) >= least else []


def test_cancelling_a_batch_stops_its_files_and_leaves_the_store_consistent(tmp_path):
    from ragkit import KnowledgeBase

    home = tmp_path / "home"
    server = Server(home, "--no-auth", env={"RAGKIT_INGEST_WINDOW": "4"}).start()  # commits every few files
    meta = sqlite3.connect(home / "ragkit.sqlite")
    stores = []
    try:
        client = server.client()
        # 1. cancelled right after it was created
        early = client.vector_stores.create(name="early")
        stores.append(early.id)
        batch, words = _batch_of(client, early.id, _documents(tmp_path / "early", 60, seed=1))
        cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=early.id)
        assert cancelled.status in ("cancelling", "cancelled") and cancelled.file_counts.in_progress == 0
        assert cancelled.file_counts.cancelled > 0
        _consistent(client, meta, early.id, batch.id, words)

        # 2. cancelled while being ingested, some of its new files already stored; it also holds
        # files the store had ingested before, which stay completed; a batch nobody cancels,
        # attached just before it, is ingested whole
        busy = client.vector_stores.create(name="busy")
        stores.append(busy.id)
        earlier, kept = _batch_of(client, busy.id, _documents(tmp_path / "kept", 5, seed=2))
        assert client.vector_stores.file_batches.poll(earlier.id, vector_store_id=busy.id,
                                                      poll_interval_ms=100).status == "completed"
        other, others = _batch_of(client, busy.id, _documents(tmp_path / "other", 5, seed=3))
        batch, words = _batch_of(client, busy.id, _documents(tmp_path / "busy", 80, seed=4), also=kept)
        new = {f: w for f, w in words.items() if f not in kept}
        stored = wait_until(lambda: _some_stored(meta, busy.id, new, 4), timeout=300, interval=0.05)
        cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=busy.id)
        assert cancelled.status in ("cancelling", "cancelled") and cancelled.file_counts.in_progress == 0
        assert cancelled.file_counts.completed == len(kept)
        statuses = _consistent(client, meta, busy.id, batch.id, words)
        assert all(statuses[f] == "completed" for f in kept)
        assert [f for f in stored if statuses[f] == "cancelled"], "the batch finished before the cancel"

        done = client.vector_stores.file_batches.poll(other.id, vector_store_id=busy.id, poll_interval_ms=100)
        assert done.status == "completed" and done.file_counts.completed == len(others)
        for file_id, word in others.items():
            hits = client.vector_stores.search(vector_store_id=busy.id, query=word, max_num_results=10).data
            assert [h.file_id for h in hits][:1] == [file_id]
        # 3. a finished batch stays finished
        again = client.vector_stores.file_batches.cancel(earlier.id, vector_store_id=busy.id)
        assert again.status == "completed" and again.file_counts.completed == len(kept)
        assert again.file_counts.cancelled == 0
        for vs_id in stores:
            _counts_agree(client, vs_id)
        log = server.log.read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]
    finally:
        server.stop()
    for vs_id in stores:  # the vectors agree with the manifest and with what the files report
        counted = meta.execute("SELECT COALESCE(SUM(chunks), 0) FROM vs_files WHERE vector_store_id=? "
                               "AND status='completed'", (vs_id,)).fetchone()[0]
        with KnowledgeBase(home, collection=vs_id) as kb:
            status = kb.status()
        assert status.chunks == status.store_chunks == counted, (vs_id, status)
