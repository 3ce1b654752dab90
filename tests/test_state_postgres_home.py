"""A knowledge base and a server whose state is a PostgreSQL database and whose vectors are a
`chroma run` server: nothing a second process needs is left in the local home.

What it promises: a knowledge base ingested through one home is searched, and found unchanged,
through another, empty home naming the same database and Chroma (the lexical index is rebuilt
from the manifest); a server's keys, vector stores and files survive its home being emptied, and
a replica started on a fresh home answers the same searches.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import CORPUS
from server_helpers import Server, create_key, upload_batch
from test_chroma_server import chroma_server  # noqa: F401 - fixture

from ragkit.state import FILENAME

pytestmark = pytest.mark.slow
QUESTION = "What does error code E42 mean?"


def test_a_knowledge_base_is_found_again_from_an_empty_home(tmp_path, postgres_url, chroma_server,  # noqa: F811
                                                             corpus_copy, embedder):
    from ragkit import KnowledgeBase

    shared = {"database_url": postgres_url, "chroma_url": chroma_server, "embedder": embedder}
    first = KnowledgeBase(tmp_path / "first", **shared)
    assert first.ingest([corpus_copy]).ok
    files, chunks = [f.path for f in first.manifest.files()], first.manifest.count_chunks()
    before = [(h.chunk_id, h.source) for h in first.search(QUESTION, k=3).hits]
    first.close()
    shutil.rmtree(tmp_path / "first")

    second = KnowledgeBase(tmp_path / "second", **shared)
    assert [f.path for f in second.manifest.files()] == files and second.manifest.count_chunks() == chunks
    assert [(h.chunk_id, h.source) for h in second.search(QUESTION, k=3).hits] == before
    again = second.ingest([corpus_copy])
    assert again.ok and again.embedded == 0  # the manifest knows every file: nothing is redone
    assert not (tmp_path / "second" / FILENAME).exists()
    second.close()


def test_a_replica_on_a_fresh_home_serves_the_same_state(tmp_path, postgres_url, chroma_server,  # noqa: F811
                                                          monkeypatch):
    monkeypatch.setenv("RAGKIT_DATABASE_URL", postgres_url)
    monkeypatch.setenv("RAGKIT_CHROMA_URL", chroma_server)
    first_home = tmp_path / "first"
    admin = create_key(first_home, "admin", "--scope", "admin")
    server = Server(first_home).start()
    try:
        client = server.client(admin)
        store = client.vector_stores.create(name="faq")
        assert upload_batch(client, store.id, [CORPUS / "support-faq.txt"]).file_counts.completed == 1
        before = [(r.file_id, r.score) for r in client.vector_stores.search(store.id, query=QUESTION).data]
    finally:
        server.stop()
    shutil.rmtree(first_home)

    replica = Server(tmp_path / "second").start()
    try:
        client = replica.client(admin)  # the key is in the database, not the home
        assert [s.id for s in client.vector_stores.list().data] == [store.id]
        assert [f.id for f in client.vector_stores.files.list(store.id).data] == [before[0][0]]
        after = [(r.file_id, r.score) for r in client.vector_stores.search(store.id, query=QUESTION).data]
        assert after == before and after
    finally:
        replica.stop()
    assert not (tmp_path / "second" / FILENAME).exists()
