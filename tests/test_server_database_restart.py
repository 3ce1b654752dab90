"""``ragkit serve`` over PostgreSQL while the database restarts (an upgrade, a failover).

Every connection a replica holds dies with the old server process. An ingest run that meets one
is not the files' fault: the files go back in the queue, counted as an attempt, and the next run
ingests them, instead of failing them for good with ``server_error``.
"""

from __future__ import annotations

import pytest
from conftest import CORPUS
from postgres_server import PostgresServer, binaries
from server_helpers import Server, upload

from ragkit.state import open_database

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.skipif(binaries() is None, reason="PostgreSQL is not installed")
def test_an_ingest_after_the_database_restarted_is_retried_not_failed(tmp_path):
    database = PostgresServer(tmp_path / "pg").start()  # its own server: the session's is not restarted
    server = None
    try:
        url = database.database()
        server = Server(tmp_path / "home", "--no-auth",
                        env={"RAGKIT_DATABASE_URL": url, "RAGKIT_LEXICAL_BACKEND": "postgres"}).start(timeout=180)
        client = server.client()
        store = client.vector_stores.create(name="manuals")
        first = client.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id, file_ids=upload(client, [CORPUS / "support-faq.txt"]), poll_interval_ms=200)
        assert first.file_counts.completed == 1  # the replica holds connections of every kind now

        database.restart()

        (manual,) = upload(client, [CORPUS / "ws200-user-manual.pdf"])
        second = client.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id, file_ids=[manual], poll_interval_ms=200)
        attached = client.vector_stores.files.retrieve(file_id=manual, vector_store_id=store.id)
        assert second.file_counts.completed == 1, (second.file_counts, attached.last_error)
        hits = client.vector_stores.search(vector_store_id=store.id, query="What does error code E42 mean?").data
        assert hits[0].file_id == manual
        assert client.vector_stores.retrieve(store.id).file_counts.completed == 2
        row = open_database(url).one("SELECT attempts FROM vs_files WHERE file_id=?", (manual,))
        assert row["attempts"] <= 2  # at most the run the restart cut short, then the one that worked
    finally:
        if server is not None:
            server.stop()
        database.stop()
