"""``ragkit serve`` across processes: ``kill -9`` during a batch, and ``--workers N`` sharing state."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time

import httpx
import pytest
from conftest import CORPUS
from server_helpers import Server, upload, wait_until

from ragkit.state import open_home
from ragkit.state.audit import read
from ragkit.state.server import ServerState

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

WORDS = ("station sensor wind rain gauge console battery panel mast bracket signal radio firmware update "
         "reading export archive calibration humidity pressure barometer cable error reset button channel "
         "display alarm threshold season winter summer frost storm gust interval minute hour daily weekly "
         "installation maintenance cleaning funnel filter housing screw bolt clamp north south east west").split()


def _documents(folder, count: int, sentences: int):
    """Distinct documents of plain English-like text (nothing the embedding cache has seen)."""
    rng = random.Random(11)
    folder.mkdir()
    paths = []
    for i in range(count):
        body = " ".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))).capitalize() + "."
                        for _ in range(sentences))
        path = folder / f"log-{i:02d}.txt"
        path.write_text(f"Maintenance log {i}\n\n{body}\n")
        paths.append(path)
    return paths


CLAIMED = "SELECT COUNT(*) FROM vs_files WHERE claimed_by IS NOT NULL AND status='in_progress'"


def _batch_under_way(server, docs):
    """Upload ``docs``, attach them as one batch and wait until the server has claimed some:
    (vector store, file ids, batch, the metadata DB)."""
    client = server.client()
    vs = client.vector_stores.create(name="batch")
    ids = upload(client, docs)
    batch = client.vector_stores.file_batches.create(vector_store_id=vs.id, file_ids=ids)
    meta = sqlite3.connect(server.home / "ragkit.sqlite")
    wait_until(lambda: meta.execute(CLAIMED).fetchone()[0] > 0, timeout=60, interval=0.05)
    return vs, ids, batch, meta


def test_kill_9_during_a_batch_resumes_without_duplicates(tmp_path):
    from ragkit import KnowledgeBase

    home = tmp_path / "home"
    server = Server(home, "--no-auth").start()
    try:
        vs, ids, batch, meta = _batch_under_way(server, _documents(tmp_path / "docs", 10, 60))
        time.sleep(1.5)  # let part of the batch reach the store
    finally:
        server.kill()
    waiting = meta.execute("SELECT COUNT(*) FROM vs_files WHERE status='in_progress'").fetchone()[0]
    assert waiting > 0, "the batch finished before the kill: make the documents longer"

    restarted = Server(home, "--no-auth").start()
    try:
        client = restarted.client()
        done = client.vector_stores.file_batches.poll(batch.id, vector_store_id=vs.id, poll_interval_ms=200)
        assert done.file_counts.completed == len(ids) and done.file_counts.in_progress == 0
        assert all(f.status == "completed" for f in client.vector_stores.files.list(vector_store_id=vs.id))
        hits = client.vector_stores.search(vector_store_id=vs.id, query="maintenance log calibration",
                                           max_num_results=50).data
        chunk_ids = [h.chunk_id for h in hits]
        assert len(chunk_ids) == len(set(chunk_ids))
    finally:
        restarted.stop()
    attempts = meta.execute("SELECT MAX(attempts) FROM vs_files").fetchone()[0]
    counted = meta.execute("SELECT SUM(chunks) FROM vs_files").fetchone()[0]
    assert attempts == 2  # claimed once before the kill, once after the restart
    with KnowledgeBase(home, collection=vs.id) as kb:
        status = kb.status()
    assert status.chunks == status.store_chunks == counted  # no duplicate and no orphan chunk


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_during_a_batch_exits_cleanly_and_the_restart_finishes_it(tmp_path, sig):
    """Ctrl-C (or SIGTERM, as a service manager stops it) stops the ingest run at its next step:
    exit 0, no abort from a thread left inside the embedding model, and the files go back in the
    queue without counting as an attempt."""
    home = tmp_path / "home"
    server = Server(home, "--no-auth").start()
    vs, ids, batch, meta = _batch_under_way(server, _documents(tmp_path / "docs", 40, 60))
    server.process.send_signal(sig)
    assert server.process.wait(timeout=120) == 0
    log = server.log.read_text(errors="replace")
    assert "terminate called" not in log and "Traceback" not in log, log
    waiting = meta.execute("SELECT COUNT(*) FROM vs_files WHERE status='in_progress'").fetchone()[0]
    assert waiting > 0, "the batch finished before the signal: make the documents longer"
    assert meta.execute(CLAIMED).fetchone()[0] == 0  # released at shutdown, not left for recovery
    assert meta.execute("SELECT MAX(attempts) FROM vs_files WHERE status='in_progress'").fetchone()[0] == 0

    restarted = Server(home, "--no-auth").start()
    try:
        done = restarted.client().vector_stores.file_batches.poll(batch.id, vector_store_id=vs.id,
                                                                  poll_interval_ms=200)
        assert done.file_counts.completed == len(ids) and done.file_counts.failed == 0
    finally:
        restarted.stop()


def test_workers_share_state_through_disk(tmp_path):
    home = tmp_path / "home"
    server = Server(home, "--no-auth", "--workers", "2", "--redact-pii").start(timeout=180)
    try:
        client = server.client()
        vs = client.vector_stores.create(name="shared")
        ids = upload(client, [CORPUS / "ws200-user-manual.pdf", CORPUS / "support-faq.txt"])
        batch = client.vector_stores.file_batches.create_and_poll(vector_store_id=vs.id, file_ids=ids,
                                                                  poll_interval_ms=200)
        assert batch.file_counts.completed == 2
        workers: dict[str, int] = {}
        for _ in range(60):  # a fresh connection each time, so both workers get requests
            response = httpx.post(f"{server.base_url}/vector_stores/{vs.id}/search",
                                  json={"query": "What does error code E42 mean?"},
                                  headers={"Connection": "close"}, timeout=60)
            assert response.status_code == 200
            assert response.json()["data"][0]["filename"] == "ws200-user-manual.pdf"
            worker = response.headers["x-ragkit-worker"]
            workers[worker] = workers.get(worker, 0) + 1
            if len(workers) >= 2 and min(workers.values()) >= 2:
                break
        assert len(workers) == 2, workers  # both processes found what one of them ingested
        chat = client.chat.completions.create(
            model="ragkit-extractive", extra_body={"vector_store_ids": [vs.id]},
            messages=[{"role": "user", "content": "I am jane.doe@example.com: how can I contact support?"}])
        assert chat.choices[0].message.content
    finally:
        server.stop()
    records = list(read(ServerState(open_home(home))))
    asked = [r for r in records if r["endpoint"] == "/v1/chat/completions"][-1]
    assert "[EMAIL]" in asked["question"] and "jane.doe" not in json.dumps(records)
    assert len({r["endpoint"] for r in records}) >= 4


def test_cancelling_a_waiting_batch(tmp_path):
    home = tmp_path / "home"
    server = Server(home, "--no-auth").start()
    try:
        client = server.client()
        busy = client.vector_stores.create(name="busy")
        first = client.vector_stores.file_batches.create(
            vector_store_id=busy.id, file_ids=upload(client, _documents(tmp_path / "docs", 10, 60)))
        queued = client.vector_stores.create(name="queued")
        batch = client.vector_stores.file_batches.create(
            vector_store_id=queued.id, file_ids=upload(client, [CORPUS / "support-faq.txt", CORPUS / "cloud-api-guide.md"]))
        assert client.vector_stores.retrieve(busy.id).file_counts.in_progress > 0, "the first batch ended too soon"
        cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=queued.id)
        assert cancelled.status == "cancelled" and cancelled.file_counts.cancelled == 2
        assert {f.status for f in client.vector_stores.files.list(vector_store_id=queued.id)} == {"cancelled"}
        done = client.vector_stores.file_batches.poll(first.id, vector_store_id=busy.id, poll_interval_ms=200)
        assert done.status == "completed" and done.file_counts.completed == 10
        assert client.vector_stores.retrieve(queued.id).file_counts.cancelled == 2
    finally:
        server.stop()
