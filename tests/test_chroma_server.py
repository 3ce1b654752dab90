"""The same code path against a real `chroma run` server on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _chroma_binary() -> str:
    candidate = Path(sys.executable).parent / "chroma"
    found = str(candidate) if candidate.exists() else shutil.which("chroma")
    if not found:
        pytest.fail("the `chroma` command (installed with chromadb) is missing")
    return found


@pytest.fixture
def chroma_server(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [_chroma_binary(), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(tmp_path / "server")],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            assert process.poll() is None, "chroma run exited early"
            assert time.time() < deadline, "chroma server did not start"
            time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def test_ingest_search_and_ask_against_chroma_server(tmp_path, chroma_server, corpus_copy, embedder):
    from ragkit import KnowledgeBase

    kb = KnowledgeBase(tmp_path / "kb", chroma_url=chroma_server, embedder=embedder)
    report = kb.ingest([corpus_copy])
    assert report.ok
    status = kb.status()
    assert status.store == chroma_server
    assert status.store_chunks == status.chunks > 0
    assert kb.store.all_ids() == {i for i, _, _ in kb.manifest.iter_chunks()}
    hits = kb.search("What does error code E42 mean?", k=3, mode="dense").hits
    assert ("ws200-user-manual.pdf", 4) in [(h.source, h.page) for h in hits]
    answer = kb.ask("How long is the warranty on the WS-200 sensor array?")
    assert "3 years" in answer.text
    # Incremental behaviour is the same as with the local store.
    assert kb.ingest([corpus_copy]).embedded == 0
    kb.close()


def test_serve_workers_use_the_chroma_server_ragkit_toml_names(tmp_path, chroma_server):
    """``ragkit serve --workers 2`` starts a ``chroma run`` of its own only when no Chroma server is
    configured; one named in ragkit.toml (not only in RAGKIT_CHROMA_URL) is the one the workers use."""
    import chromadb
    from conftest import CORPUS
    from server_helpers import Server, _children, upload

    home = tmp_path / "home"
    (tmp_path / "ragkit.toml").write_text(f'chroma_url = "{chroma_server}"\n')  # the server's working directory
    server = Server(home, "--no-auth", "--workers", "2").start(timeout=180)
    try:
        spawned = [pid for pid in _children(server.process.pid)
                   if b"chroma\x00run" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert not spawned, "serve started a chroma run of its own beside the configured one"
        client = server.client()
        vs = client.vector_stores.create(name="manual")
        batch = client.vector_stores.file_batches.create_and_poll(
            vector_store_id=vs.id, file_ids=upload(client, [CORPUS / "ws200-user-manual.pdf"]), poll_interval_ms=200)
        assert batch.file_counts.completed == 1
        hits = client.vector_stores.search(vector_store_id=vs.id, query="What does error code E42 mean?").data
        assert hits[0].filename == "ws200-user-manual.pdf"
    finally:
        server.stop()
    host, port = chroma_server.removeprefix("http://").split(":")
    names = [c.name for c in chromadb.HttpClient(host=host, port=int(port)).list_collections()]
    assert any(vs.id in name for name in names), names
    assert not (home / "chroma").exists()
