"""Stateless ``ragkit serve`` replicas: a real PostgreSQL, a real ``chroma run`` and two ``ragkit
serve`` processes on 127.0.0.1, each with an empty home of its own and the same ``database_url``,
``chroma_url`` and ``lexical_backend=postgres``, driven with the stock openai SDK.

1. Files uploaded through one replica are read, searched and answered from through the other, and
   an Upload's parts sent to one are completed on the other.
2. ``kill -9`` of the replica ingesting a batch, mid-ingest: the other takes its claims over once
   they are abandoned and completes the batch; every file's chunks are there exactly once.
3. Both replicas stopped, both homes deleted, two fresh replicas started: nothing is lost.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from chroma_server import start_chroma, stop_chroma
from conftest import CORPUS
from server_helpers import Server, upload, wait_until

from ragkit.library.leases import LEASE_SECONDS, Owner
from ragkit.library.worker import RECOVER_EVERY
from ragkit.state import StateDB, open_database

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

MANUAL = CORPUS / "ws200-user-manual.pdf"
FAQ = CORPUS / "support-faq.txt"
WORDS = ("station sensor wind rain gauge console battery panel mast bracket signal radio firmware update "
         "reading export archive calibration humidity pressure barometer cable error reset button channel "
         "display alarm threshold season winter summer frost storm gust interval minute hour daily weekly").split()
BATCH_FILES = 60
#: 200-token chunks and commits every 64 chunks: a batch of many chunks, stored in many steps
CHUNKING = {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50}}


def marker(i: int) -> str:
    """A word found in document ``i`` only (letters: one token for BM25 and the embedder alike)."""
    return "quorvex" + "".join(chr(97 + (i // 26 ** k) % 26) for k in range(3))


def documents(folder: Path) -> list[Path]:
    rng = random.Random(24)
    folder.mkdir()
    paths = []
    for i in range(BATCH_FILES):
        sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))).capitalize() + "."
                     for _ in range(50)]
        path = folder / f"log-{i:03d}.txt"
        path.write_text(f"Maintenance log {marker(i)}\n\n{' '.join(sentences)}\nSigned {marker(i)}.\n")
        paths.append(path)
    return paths


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    database_url: str
    chroma_url: str
    state: StateDB

    def replica(self, name: str) -> Server:
        return Server(self.root / f"home-{name}", "--no-auth", env=self.env).start(timeout=300)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_server):
    root = tmp_path_factory.mktemp("replicas")
    chroma, chroma_url = start_chroma(root / "chroma")
    database_url = postgres_server.database()
    env = {"RAGKIT_DATABASE_URL": database_url, "RAGKIT_CHROMA_URL": chroma_url, "RAGKIT_LEXICAL_BACKEND": "postgres",
           "RAGKIT_INGEST_WINDOW": "64"}
    try:
        yield Cluster(root, env, database_url, chroma_url, open_database(database_url))
    finally:
        stop_chroma(chroma)


def top_file(client, store: str, query: str) -> str:
    hits = client.vector_stores.search(vector_store_id=store, query=query, max_num_results=5).data
    assert hits, query
    return hits[0].file_id


def answer_cites(client, store: str, question: str) -> set[str]:
    """The files a Responses answer with file_search found (with the results included)."""
    response = client.responses.create(model="ragkit-extractive", input=question,
                                       tools=[{"type": "file_search", "vector_store_ids": [store]}],
                                       include=["file_search_call.results"])
    call = next(item for item in response.output if item.type == "file_search_call")
    return {result.file_id for result in call.results}


def shared_uploads(a: Server, b: Server) -> dict[str, str]:
    """Uploads through A, reads, searches and answers through B; an Upload's parts on A completed on B."""
    ca, cb = a.client(), b.client()
    manual, faq = upload(ca, [MANUAL, FAQ])
    assert cb.files.content(manual).read() == MANUAL.read_bytes()  # B had no copy: fetched from the database
    store = cb.vector_stores.create(name="manuals")
    batch = ca.vector_stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=[manual, faq])
    assert batch.file_counts.completed == 2, batch.file_counts
    assert top_file(cb, store.id, "What does error code E42 mean?") == manual
    assert manual in answer_cites(cb, store.id, "What does error code E42 mean?")

    first, second = b"The note's first half, ", b"and its second half.\n"
    pending = ca.uploads.create(bytes=len(first + second), filename="note.txt", mime_type="text/plain",
                                purpose="assistants")
    parts = [ca.uploads.parts.create(pending.id, data=data).id for data in (first, second)]
    done = cb.uploads.complete(pending.id, part_ids=parts, md5=hashlib.md5(first + second).hexdigest())
    assert done.status == "completed" and ca.files.content(done.file.id).read() == first + second
    return {"store": store.id, "manual": manual, "note": done.file.id}


def ingesting_replica(cluster: Cluster, servers: list[Server], vs_id: str) -> Server:
    """Wait until a replica is mid-ingest of the store (some chunks stored, files still waiting);
    returns the one holding the claims."""
    def under_way():
        claim = cluster.state.one("SELECT claimed_by FROM vs_files WHERE vector_store_id=? AND claimed_by IS NOT NULL "
                                  "LIMIT 1", (vs_id,))
        stored = cluster.state.one("SELECT COUNT(*) AS n FROM chunks WHERE collection=?", (vs_id,))["n"]
        return claim["claimed_by"] if claim and stored else None

    owner = Owner.parse(wait_until(under_way, timeout=300, interval=0.05))
    return next(server for server in servers if server.process.pid == owner.pid)


def chunks_exactly_once(cluster: Cluster, vs_id: str, embedder) -> int:
    """Every file's chunks are in the manifest once, as many as the store file says, and in Chroma once."""
    from ragkit import KnowledgeBase

    rows = cluster.state.all(
        "SELECT f.path, f.n_chunks, (SELECT COUNT(*) FROM chunks c WHERE c.collection=f.collection AND c.path=f.path) "
        "AS stored, v.chunks AS counted FROM files f JOIN api_files a ON a.path=f.path "
        "JOIN vs_files v ON v.file_id=a.id AND v.vector_store_id=f.collection WHERE f.collection=?", (vs_id,))
    assert len(rows) == BATCH_FILES
    assert all(r["n_chunks"] == r["stored"] == r["counted"] > 0 for r in rows), rows
    kb = KnowledgeBase(cluster.root / "inspect", collection=vs_id, database_url=cluster.database_url,
                       chroma_url=cluster.chroma_url, lexical_backend="postgres", embedder=embedder)
    try:
        status = kb.status()
        assert status.chunks == status.store_chunks == sum(r["stored"] for r in rows)
        assert kb.store.all_ids() == {chunk_id for chunk_id, _, _ in kb.manifest.iter_chunks()}
        assert not status.duplicates
    finally:
        kb.close()
    return status.chunks


def killed_mid_ingest(cluster: Cluster, servers: list[Server], tmp_path: Path, embedder) -> dict:
    """kill -9 of the replica ingesting a batch: the other completes it, nothing is duplicated."""
    paths = documents(tmp_path / "logs")
    client = servers[0].client()
    ids = upload(client, paths)
    store = client.vector_stores.create(name="logs", chunking_strategy=CHUNKING)
    batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=ids)
    victim = ingesting_replica(cluster, servers, store.id)
    survivor = next(s for s in servers if s is not victim)
    victim.kill()
    killed_at = time.monotonic()
    waiting = cluster.state.one("SELECT COUNT(*) AS n FROM vs_files WHERE vector_store_id=? AND status='in_progress'",
                                (store.id,))["n"]
    assert waiting > 0, "the batch finished before the kill: make the documents longer"
    dead = f":{victim.process.pid}:"
    # the survivor takes the claims over within a lease (here at once: the dead pid is on its host)
    wait_until(lambda: not any(dead in (r["claimed_by"] or "") for r in cluster.state.all(
        "SELECT claimed_by FROM vs_files WHERE vector_store_id=?", (store.id,))),
        timeout=LEASE_SECONDS + 2 * RECOVER_EVERY, interval=0.1)
    taken_over = time.monotonic() - killed_at
    other = survivor.client()
    done = wait_until(lambda: (b := other.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id))
                      .file_counts.in_progress == 0 and b, timeout=600, interval=0.5)
    assert done.file_counts.completed == len(ids) and done.file_counts.failed == 0, done.file_counts
    counts = other.vector_stores.retrieve(store.id).file_counts
    assert counts.completed == counts.total == len(ids)
    assert cluster.state.one("SELECT MAX(attempts) AS n FROM vs_files WHERE vector_store_id=?", (store.id,))["n"] == 2
    chunks = chunks_exactly_once(cluster, store.id, embedder)
    for i in (0, BATCH_FILES // 2, BATCH_FILES - 1):
        hits = other.vector_stores.search(vector_store_id=store.id, query=marker(i), max_num_results=20).data
        assert hits[0].file_id == ids[i]
        assert len({h.chunk_id for h in hits}) == len(hits)
    print(f"claims taken over {taken_over:.1f} s after the kill; {chunks} chunks, each once")
    return {"store": store.id, "ids": ids, "survivor": survivor}


def test_two_replicas_share_files_survive_a_kill_and_lose_nothing_with_their_homes(cluster, tmp_path, embedder):
    servers = [cluster.replica("a"), cluster.replica("b")]
    try:
        first = shared_uploads(*servers)
        logs = killed_mid_ingest(cluster, servers, tmp_path, embedder)
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        shutil.rmtree(server.home)

    fresh = [cluster.replica("c"), cluster.replica("d")]
    try:
        c, d = (server.client() for server in fresh)
        assert top_file(c, first["store"], "What does error code E42 mean?") == first["manual"]
        assert first["manual"] in answer_cites(d, first["store"], "What does error code E42 mean?")
        assert d.files.content(first["manual"]).read() == MANUAL.read_bytes()
        assert c.files.content(first["note"]).read() == b"The note's first half, and its second half.\n"
        assert top_file(d, logs["store"], marker(7)) == logs["ids"][7]
        page = httpx.get(f"{fresh[1].url}/page/render", params={"vector_store_id": first["store"],
                                                                "file_id": first["manual"], "page": 1}, timeout=60)
        assert page.status_code == 200 and page.headers["content-type"] == "image/png"
        assert c.vector_stores.retrieve(logs["store"]).file_counts.completed == BATCH_FILES
        c.files.delete(first["note"])  # deleted through one replica: gone for all
        assert cluster.state.one("SELECT 1 AS x FROM file_blobs WHERE key LIKE ?", (f"files/{first['note']}/%",)) is None
    finally:
        for server in fresh:
            server.stop()
