"""Lifecycles under concurrency, through the stock SDK against a real ``ragkit serve``.

Deleting a store or a file while it is being ingested, detaching and attaching again, a kill -9
right after a deletion, and a mixed load of eight clients: the server stays up, answers no 5xx,
and afterwards every promise it made holds (bench/load_mixed.py's checks).
"""

from __future__ import annotations

import random
import signal
import sys
import time
from pathlib import Path

import openai
import pytest
from server_helpers import Server, upload, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from load_mixed import big_text, run_load, verify, wait_drained  # noqa: E402

pytestmark = [pytest.mark.timeout(900)]
WORD = "quillerstone"


def _alive_and_clean(server: Server) -> None:
    assert server.process is not None and server.process.poll() is None, "the server died"
    log = server.log.read_text(errors="replace")
    for sign in ("Traceback", "closed database", "Segmentation", "terminate called"):
        assert sign not in log, log[-3000:]


def _big_note(tmp_path: Path, name: str, megabytes: float = 0.6) -> Path:
    path = big_text(tmp_path / name, megabytes)
    with path.open("a") as handle:
        handle.write(f"\nThe archive word is {WORD}.\n")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("lifecycle") / "home", "--no-auth", "--rate-limit", "0").start()
    yield running
    running.stop()


def test_sigterm_shuts_the_server_down_with_status_0(tmp_path):
    """SIGTERM is how systemd, Docker and Kubernetes stop a server: a graceful shutdown that
    exits 0, as Ctrl-C does, not death by the signal uvicorn raises again after its shutdown."""
    stopped = Server(tmp_path / "home", "--no-auth").start()
    try:
        stopped.process.send_signal(signal.SIGTERM)
        assert stopped.process.wait(timeout=60) == 0
    finally:
        stopped.stop()
    assert "Traceback" not in stopped.log.read_text(errors="replace")


def test_deleting_a_store_while_its_file_is_ingesting(server, tmp_path):
    client = server.client()
    keeper = client.vector_stores.create(name="keeper")
    [note] = upload(client, [_big_note(tmp_path, "keeper.txt", 0.2)])
    assert client.vector_stores.files.create_and_poll(vector_store_id=keeper.id, file_id=note,
                                                      poll_interval_ms=100).status == "completed"
    big = _big_note(tmp_path, "big.txt")
    rng = random.Random(3)
    for delay in (0.0, 0.3, rng.uniform(0.5, 1.5)):
        doomed = client.vector_stores.create(name="doomed")
        [file_id] = upload(client, [big])
        client.vector_stores.files.create(vector_store_id=doomed.id, file_id=file_id)
        time.sleep(delay)
        assert client.vector_stores.delete(doomed.id).deleted
        with pytest.raises(openai.NotFoundError):
            client.vector_stores.retrieve(doomed.id)
        with pytest.raises(openai.NotFoundError):
            client.vector_stores.search(vector_store_id=doomed.id, query=WORD)
        assert doomed.id not in [s.id for s in client.vector_stores.list(limit=100)]
        # the purge (the collection's files on disk) happens behind the response
        wait_until(lambda: not (server.home / "bm25" / doomed.id).exists(), timeout=120)
        wait_until(lambda: not (server.home / f"ingest-{doomed.id}.lock").exists(), timeout=30)
    hits = client.vector_stores.search(vector_store_id=keeper.id, query=WORD).data
    assert [h.file_id for h in hits][:1] == [note]
    _alive_and_clean(server)


def test_deleting_a_file_while_it_is_ingesting(server, tmp_path):
    client = server.client()
    vs = client.vector_stores.create(name="files")
    # ~600 chunks: still ingesting 0.3 s in, and done again in seconds rather than a minute
    [file_id] = upload(client, [_big_note(tmp_path, "big.txt", 0.25)])
    client.vector_stores.files.create(vector_store_id=vs.id, file_id=file_id)
    time.sleep(0.3)
    assert client.files.delete(file_id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(file_id)
    assert list(client.vector_stores.files.list(vector_store_id=vs.id)) == []
    wait_drained(client, [vs.id], timeout=120)
    time.sleep(1.0)  # the worker's removal of the chunks, if the ingest finished first
    assert client.vector_stores.search(vector_store_id=vs.id, query=WORD).data == []
    counts = client.vector_stores.retrieve(vs.id).file_counts
    assert counts.total == 0 and counts.completed == 0
    _alive_and_clean(server)


@pytest.mark.slow  # two ingests of ~600 chunks: 30 s
def test_detaching_mid_ingest_then_attaching_again(server, tmp_path):
    client = server.client()
    vs = client.vector_stores.create(name="again")
    # ~600 chunks: still ingesting 0.3 s in, and done again in seconds rather than a minute
    [file_id] = upload(client, [_big_note(tmp_path, "big.txt", 0.25)])
    client.vector_stores.files.create(vector_store_id=vs.id, file_id=file_id)
    time.sleep(0.3)
    assert client.vector_stores.files.delete(file_id=file_id, vector_store_id=vs.id).deleted
    assert client.vector_stores.search(vector_store_id=vs.id, query=WORD).data == []
    again = client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=file_id, poll_interval_ms=100)
    assert again.status == "completed"
    time.sleep(1.0)  # a late removal of the first attachment's chunks must not undo the second
    hits = client.vector_stores.search(vector_store_id=vs.id, query=WORD).data
    assert hits and hits[0].file_id == file_id
    counts = client.vector_stores.retrieve(vs.id).file_counts
    assert (counts.completed, counts.total) == (1, 1)
    _alive_and_clean(server)


@pytest.mark.slow  # two server starts around a 1 MB ingest: 23 s
def test_a_store_deleted_just_before_a_kill_is_purged_at_restart(tmp_path):
    """The worker purges between ingest runs: while it ingests a large file into one store, a
    deleted store waits for it; a kill -9 then leaves the purge to the next start."""
    from ragkit import KnowledgeBase

    home = tmp_path / "home"
    first = Server(home, "--no-auth").start()
    try:
        client = first.client()
        vs = client.vector_stores.create(name="short-lived")
        [small] = upload(client, [_big_note(tmp_path, "note.txt", 0.1)])
        client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=small, poll_interval_ms=100)
        busy = client.vector_stores.create(name="busy")
        [large] = upload(client, [_big_note(tmp_path, "big.txt", 1.0)])
        client.vector_stores.files.create(vector_store_id=busy.id, file_id=large)
        wait_until(lambda: client.vector_stores.files.retrieve(file_id=large, vector_store_id=busy.id).status
                   == "in_progress", timeout=30)
        time.sleep(0.5)
        assert client.vector_stores.delete(vs.id).deleted
    finally:
        first.kill()
    second = Server(home, "--no-auth").start()
    try:
        client = second.client()
        with pytest.raises(openai.NotFoundError):
            client.vector_stores.retrieve(vs.id)
        wait_until(lambda: not (home / "bm25" / vs.id).exists(), timeout=120)  # purged first thing
        _alive_and_clean(second)
    finally:
        second.stop()
    with KnowledgeBase(home, collection=vs.id) as kb:
        status = kb.status()
    assert status.chunks == 0 and status.store_chunks == 0


@pytest.mark.slow
def test_a_minute_of_mixed_load_keeps_every_promise(server):
    def make() -> openai.OpenAI:
        return openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=300)

    report, stores = run_load(make, clients=8, seconds=60)
    assert report.attached and report.doomed_stores, "the load did too little to test anything"
    wait_drained(make(), stores, timeout=300)
    problems = verify(make(), report, stores)
    assert not problems, problems[:20]
    for endpoint, counts in report.statuses.items():
        assert not [s for s in counts if s >= 500], (endpoint, dict(counts))
    _alive_and_clean(server)
