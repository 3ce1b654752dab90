"""The state layer (ragkit/state): one database per home, migrated on open, on real SQLite files.

What it promises: a fresh home gets every table at the head revision; opening it again only
checks the revision; two processes opening a fresh home at once both end up with one migrated
database; a home in the previous four-file layout is imported once and its files retired; and a
URL it cannot serve is refused naming the setting. The same promises on PostgreSQL, and the
session API on both backends, are tests/test_state_postgres.py and tests/test_state_database.py.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from legacy_layout import make_legacy_home

from ragkit.conversations.store import ThreadStore
from ragkit.errors import ConfigError
from ragkit.models import Chunk
from ragkit.feedback import FeedbackStore
from ragkit.state import FILENAME, head, open_home
from ragkit.state import keys
from ragkit.state.migrate import migration_lock
from ragkit.state.server import ServerState
from ragkit.stores.manifest import FileCommit, Manifest

TABLES = {"files", "chunks", "journal", "embed_cache", "state", "conversations", "conversation_items", "api_files",
          "vector_stores", "vs_files", "batches", "batch_files", "api_keys", "asst_assistants", "asst_runs",
          "asst_steps", "resp_responses", "resp_input_items", "resp_tool_state", "uploads", "upload_parts",
          "feedback", "audit", "file_blobs", "cursor_tombstones", "tool_call_searches", "alembic_version"}
INDEXES = {"chunks_by_path", "conversations_by_kind", "conversation_items_by_conversation", "api_files_by_path",
           "vs_files_queue", "vs_files_by_store", "asst_runs_by_thread", "asst_steps_by_run",
           "resp_input_items_by_response", "upload_parts_by_upload", "audit_by_key", "api_files_by_expiry",
           "cursor_tombstones_by_age", "tool_call_searches_by_age"}
OPEN_SCRIPT = """
import sys, time
from pathlib import Path
from ragkit.state import open_home
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.002)
print(open_home(Path(sys.argv[1])).revision())
"""


def _names(path: Path, kind: str) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type=? AND name NOT LIKE 'sqlite_%'",
                                         (kind,))}


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def _chunk(path: str, text: str) -> Chunk:
    return Chunk(id=f"{Path(path).name}-{text}", text=text, source=Path(path).name, path=path, file_sha256="s",
                 page=None, section="", start=0, end=len(text), index=0, n_tokens=1, context="", title="")


def _commit(path: str, text: str) -> FileCommit:
    return FileCommit(path=path, source=Path(path).name, size=1, mtime_ns=1, sha256=text, chunks=[_chunk(path, text)])


def test_a_fresh_home_gets_every_table_at_the_head_revision(tmp_path):
    state = open_home(tmp_path / "home")
    assert state.path == tmp_path / "home" / FILENAME
    assert state.revision() == head() == "0007"
    assert _names(state.path, "table") == TABLES
    assert _names(state.path, "index") == INDEXES
    with sqlite3.connect(state.path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with state.read() as db:  # every pooled connection is set up the same way
        assert db.connection.connection.driver_connection.isolation_level is None
        assert db.scalar("PRAGMA foreign_keys") == 1 and db.scalar("PRAGMA busy_timeout") == 60_000
    assert state.connections().db.execute("PRAGMA busy_timeout").fetchone()[0] == 60_000  # bare sqlite3 too


def test_reopening_a_current_database_only_checks_its_revision(tmp_path):
    """At head, opening takes no lock: it does not wait for a migration lock held elsewhere."""
    home = tmp_path / "home"
    state = open_home(home)
    Manifest(state, "docs").commit_files([_commit("/d/a.txt", "alpha")])
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with migration_lock(state.path):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        again = open_home(home)
        assert time.monotonic() - started < 2
        assert again.revision() == head() and Manifest(again, "docs").count_chunks() == 1
    finally:
        release.set()
        holder.join()


@pytest.mark.parametrize("layout", ["fresh", "legacy"])
def test_two_processes_opening_a_home_at_once_migrate_and_import_it_once(tmp_path, layout):
    home = tmp_path / "home"
    home.mkdir()
    if layout == "legacy":
        make_legacy_home(home)
    go = tmp_path / "go"
    script = tmp_path / "open_home.py"
    script.write_text(OPEN_SCRIPT)
    processes = [subprocess.Popen([sys.executable, str(script), str(home), str(go)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=dict(os.environ), cwd=tmp_path)
                 for _ in range(2)]
    time.sleep(1.0)  # both are importing ragkit; then they start at the same moment
    go.touch()
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == [head(), head()]
    database = home / FILENAME
    assert _names(database, "table") == TABLES
    if layout == "legacy":
        logs = "".join(err for _, err in outputs)
        assert logs.count("imported ") == 1, logs  # one process imported, the other found it done
        assert (_count(database, "chunks"), _count(database, "conversation_items"),
                _count(database, "api_files")) == (1, 1, 1)


def test_a_home_in_the_previous_layout_is_imported_once_and_its_files_retired(tmp_path, caplog):
    home = make_legacy_home(tmp_path / "home")
    with caplog.at_level(logging.WARNING, logger="ragkit.state"):
        state = open_home(home)
    assert [r.getMessage() for r in caplog.records if "imported" in r.getMessage()] == [
        f"imported manifest.sqlite, conversations.sqlite, server/meta.sqlite, server/feedback.sqlite into "
        f"{state.path} (one database per home now); the old files are kept as *.migrated"]
    for name in ("manifest.sqlite", "conversations.sqlite", "server/meta.sqlite", "server/feedback.sqlite"):
        assert not (home / name).exists() and (home / (name + ".migrated")).is_file()
        assert not (home / (name + "-wal")).exists()

    manifest = Manifest(state, "docs")
    assert [f.path for f in manifest.files()] == ["/d/a.txt"] and manifest.generation() == 3
    assert manifest.chunks_by_id(["c1"]) == {"c1": ("alpha text", {"source": "a.txt"})}
    assert list(manifest.cached_vectors("minilm", ["sha-t"])["sha-t"]) == [1.0]
    threads = ThreadStore.for_home(home)
    assert [m.content for m in threads.messages("t1")] == ["how long?"]
    assert threads.get_thread("t1").messages == 1
    meta = ServerState(state)
    assert meta.file("file-1")["created_by"] is None  # the older file had no such column
    assert [r["file_id"] for r in meta.vs_files("vs_1")] == ["file-1"]
    assert keys.active_key(meta, "key_1")["name"] == "ci"
    assert [r["id"] for r in FeedbackStore(home / "server").rows()] == ["fb_1"]
    # AUTOINCREMENT goes on after the imported rows
    meta.insert_file({"id": "file-2", "filename": "b", "bytes": 1, "purpose": "assistants", "created_at": 6,
                      "path": "/b", "sha256": None, "created_by": None})
    assert meta.file("file-2")["seq"] == 2

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ragkit.state"):
        open_home(home)
    assert not caplog.records and _count(state.path, "chunks") == 1


def test_a_legacy_file_is_not_imported_over_rows_already_there(tmp_path, caplog):
    """Stopped between the import and the rename: the next open renames, it does not import twice."""
    home = tmp_path / "home"
    Manifest(open_home(home), "docs").commit_files([_commit("/d/new.txt", "new")])
    make_legacy_home(home)
    (home / "server").joinpath("meta.sqlite").unlink()
    with caplog.at_level(logging.WARNING, logger="ragkit.state"):
        state = open_home(home)
    assert any("left manifest.sqlite unread" in r.getMessage() for r in caplog.records)
    assert [f.path for f in Manifest(state, "docs").files()] == ["/d/new.txt"]
    assert (home / "manifest.sqlite.migrated").exists() and not (home / "manifest.sqlite").exists()
    assert [m.content for m in ThreadStore.for_home(home).messages("t1")] == ["how long?"]


@pytest.mark.parametrize(("url", "says"), [
    ("mysql+pymysql://u:secret@h/db", "is not supported"), ("sqlite+aiosqlite:///x.sqlite", "is not supported"),
    ("postgresql+psycopg2://ragkit:secret@db.example/ragkit", "through psycopg 3"),
    ("postgresql+psycopg://ragkit:secret@db.example", "names no database"), ("not a url", "is not a database URL")])
def test_a_url_ragkit_cannot_serve_is_refused_naming_the_setting(tmp_path, url, says):
    with pytest.raises(ConfigError) as caught:
        open_home(tmp_path / "home", url)
    message = str(caught.value)
    assert "database_url" in message and "RAGKIT_DATABASE_URL" in message and "secret" not in message
    assert says in message
    assert not (tmp_path / "home").exists()


def test_the_configured_url_is_used_and_checked(tmp_path, monkeypatch):
    elsewhere = tmp_path / "shared" / "state.sqlite"
    monkeypatch.setenv("RAGKIT_DATABASE_URL", f"sqlite:///{elsewhere}")
    assert open_home(tmp_path / "home").path == elsewhere and elsewhere.is_file()
    assert ThreadStore.for_home(tmp_path / "home").path == elsewhere
    assert not (tmp_path / "home" / FILENAME).exists()
    monkeypatch.setenv("RAGKIT_DATABASE_URL", "sqlite://")
    with pytest.raises(ConfigError, match="names no database file"):
        open_home(tmp_path / "home")
    monkeypatch.setenv("RAGKIT_DATABASE_URL", "mysql://localhost/ragkit")
    with pytest.raises(ConfigError, match="is not supported"):
        open_home(tmp_path / "home")


def _sqlite_files(home: Path) -> set[str]:
    """Every SQLite database file under ``home`` outside the Chroma and BM25 directories, by
    content (the 16-byte header) or by name."""
    found = set()
    for path in home.rglob("*"):
        relative = path.relative_to(home)
        if not path.is_file() or relative.parts[0] in ("chroma", "bm25"):
            continue
        with open(path, "rb") as handle:
            header = handle.read(16)
        if header == b"SQLite format 3\x00" or ".sqlite" in path.name or path.suffix in (".db", ".sqlite3"):
            found.add(str(relative))
    return found


@pytest.mark.timeout(600)
def test_ingest_chat_and_serve_keep_one_database_in_the_home(tmp_path):
    """After ``ragkit ingest``, ``ragkit chat`` and a server run that made a vector store, an
    Assistants thread, a response and a rating, the home holds Chroma, BM25 and one database."""
    from conftest import CORPUS
    from server_helpers import Server, create_key, ragkit, upload_batch

    home = tmp_path / "home"
    ragkit("ingest", str(CORPUS / "support-faq.txt"), home=home)
    chat = subprocess.run([sys.executable, "-m", "ragkit.cli", "chat", "--home", str(home), "--no-stream"],
                          input="How do I reset the WS-200?\n/quit\n", capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert chat.returncode == 0, chat.stderr
    admin = create_key(home, "admin", "--scope", "admin")
    server = Server(home).start()
    try:
        client = server.client(admin)
        store = client.vector_stores.create(name="faq")
        assert upload_batch(client, store.id, [CORPUS / "support-faq.txt"]).file_counts.completed == 1
        client.beta.threads.create(messages=[{"role": "user", "content": "How do I reset the WS-200?"}])
        client.responses.create(model="ragkit-extractive", input="How do I reset the WS-200?",
                                tools=[{"type": "file_search", "vector_store_ids": [store.id]}])
        rating = {"vector_store_id": store.id, "question": "How do I reset it?", "answer": "Hold the button.",
                  "rating": "up"}
        request = urllib.request.Request(server.url + "/page/feedback", data=json.dumps(rating).encode(), headers={
            "Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            assert json.loads(reply.read())["rating"] == "up"
    finally:
        server.stop()

    assert {p.name for p in home.iterdir() if p.is_dir()} >= {"chroma", "bm25"}
    journal = {FILENAME + "-wal", FILENAME + "-shm"}  # the database's own, while a connection was open
    assert _sqlite_files(home) - journal == {FILENAME}
    database = home / FILENAME
    for table in ("files", "chunks", "conversations", "conversation_items", "api_files", "vector_stores", "vs_files",
                  "api_keys", "resp_responses", "feedback"):
        assert _count(database, table) > 0, table
    with sqlite3.connect(database) as raw:  # the chat's thread and the API's thread, in one model
        assert {k for k, in raw.execute("SELECT kind FROM conversations")} == {"chat", "assistants_thread"}
