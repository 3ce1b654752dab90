"""A knowledge-base home as the previous layout wrote it: four SQLite files, each created with
the schema its module carried before the state database existed (copied here verbatim, so the
import is tested against what users really have on disk), with a few rows in each."""

from __future__ import annotations

import sqlite3
from pathlib import Path

MANIFEST = """
CREATE TABLE IF NOT EXISTS files(
    collection TEXT NOT NULL, path TEXT NOT NULL, source TEXT NOT NULL,
    size INTEGER, mtime_ns INTEGER, sha256 TEXT, status TEXT NOT NULL, error TEXT,
    warnings TEXT, n_chunks INTEGER DEFAULT 0, ingested_at REAL,
    PRIMARY KEY (collection, path));
CREATE TABLE IF NOT EXISTS chunks(
    collection TEXT NOT NULL, id TEXT NOT NULL, path TEXT NOT NULL, text TEXT NOT NULL,
    meta TEXT NOT NULL, PRIMARY KEY (collection, id));
CREATE INDEX IF NOT EXISTS chunks_by_path ON chunks(collection, path);
CREATE TABLE IF NOT EXISTS journal(collection TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (collection, id));
CREATE TABLE IF NOT EXISTS embed_cache(embedder TEXT NOT NULL, text_sha256 TEXT NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (embedder, text_sha256));
CREATE TABLE IF NOT EXISTS state(collection TEXT NOT NULL, key TEXT NOT NULL, value TEXT, PRIMARY KEY (collection, key));
"""

CONVERSATIONS = """
CREATE TABLE IF NOT EXISTS threads(
    id TEXT PRIMARY KEY, title TEXT NOT NULL, collection TEXT NOT NULL, owner TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS threads_by_collection ON threads(collection, updated_at);
CREATE TABLE IF NOT EXISTS messages(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL, created_at REAL NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]', sources TEXT NOT NULL DEFAULT '[]', standalone TEXT);
CREATE INDEX IF NOT EXISTS messages_by_thread ON messages(thread_id, id);
"""

# An older server file: ``files`` without ``created_by`` (added later), to show that a column a
# file lacks is left to its default instead of failing the import.
META = """
CREATE TABLE IF NOT EXISTS files(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, filename TEXT NOT NULL,
    bytes INTEGER NOT NULL, purpose TEXT NOT NULL, created_at INTEGER NOT NULL, path TEXT NOT NULL,
    sha256 TEXT);
CREATE TABLE IF NOT EXISTS vector_stores(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, name TEXT NOT NULL DEFAULT '',
    description TEXT, created_at INTEGER NOT NULL, last_active_at INTEGER, metadata TEXT,
    expires_after TEXT, chunk_size INTEGER NOT NULL, chunk_overlap INTEGER NOT NULL,
    created_by TEXT, deleted INTEGER NOT NULL DEFAULT 0, files_version INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS vs_files(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, vector_store_id TEXT NOT NULL, file_id TEXT NOT NULL,
    created_at INTEGER NOT NULL, status TEXT NOT NULL, last_error TEXT, attributes TEXT,
    chunks INTEGER NOT NULL DEFAULT 0, claimed_by TEXT, claimed_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0, UNIQUE(vector_store_id, file_id));
CREATE INDEX IF NOT EXISTS vs_files_queue ON vs_files(status, claimed_by);
CREATE INDEX IF NOT EXISTS vs_files_by_store ON vs_files(vector_store_id, status);
CREATE INDEX IF NOT EXISTS files_by_path ON files(path);
CREATE TABLE IF NOT EXISTS batches(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, vector_store_id TEXT NOT NULL,
    created_at INTEGER NOT NULL, cancelled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS batch_files(
    batch_id TEXT NOT NULL, file_id TEXT NOT NULL, PRIMARY KEY(batch_id, file_id));
CREATE TABLE IF NOT EXISTS api_keys(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, name TEXT NOT NULL,
    hash TEXT UNIQUE NOT NULL, prefix TEXT NOT NULL, scope TEXT NOT NULL, vector_stores TEXT,
    rate_limit INTEGER, created_at INTEGER NOT NULL, revoked_at INTEGER, last_used_at INTEGER);
CREATE TABLE IF NOT EXISTS asst_threads(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, owner TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resp_responses(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, owner TEXT NOT NULL, previous_id TEXT,
    question TEXT NOT NULL, standalone TEXT, answer TEXT NOT NULL, sources TEXT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS uploads(
    id TEXT PRIMARY KEY, filename TEXT NOT NULL, bytes INTEGER NOT NULL, purpose TEXT NOT NULL,
    mime_type TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    status TEXT NOT NULL, created_by TEXT, file_id TEXT);
"""

FEEDBACK = """
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    key_id TEXT,
    key_name TEXT,
    vector_store_id TEXT,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    refused INTEGER NOT NULL,
    rating TEXT NOT NULL,
    correction TEXT,
    source_file TEXT,
    source_page INTEGER,
    not_answerable INTEGER NOT NULL DEFAULT 0,
    citations TEXT NOT NULL
)
"""

ROWS = {
    "manifest.sqlite": [
        "INSERT INTO files VALUES('docs', '/d/a.txt', 'a.txt', 10, 1, 'sha-a', 'ok', NULL, '[]', 1, 1.0)",
        "INSERT INTO chunks VALUES('docs', 'c1', '/d/a.txt', 'alpha text', '{\"source\": \"a.txt\"}')",
        "INSERT INTO state VALUES('docs', 'generation', '3')",
        "INSERT INTO embed_cache VALUES('minilm', 'sha-t', x'0000803f')",
    ],
    "conversations.sqlite": [
        "INSERT INTO threads VALUES('t1', 'warranty', 'docs', NULL, 1.0, 2.0)",
        "INSERT INTO messages(thread_id, role, content, created_at) VALUES('t1', 'user', 'how long?', 1.5)",
    ],
    "server/meta.sqlite": [
        "INSERT INTO files(id, filename, bytes, purpose, created_at, path) "
        "VALUES('file-1', 'a.txt', 10, 'assistants', 5, '/h/files/file-1/a.txt')",
        "INSERT INTO vector_stores(id, name, created_at, chunk_size, chunk_overlap) VALUES('vs_1', 'docs', 5, 200, 40)",
        "INSERT INTO vs_files(vector_store_id, file_id, created_at, status) VALUES('vs_1', 'file-1', 5, 'completed')",
        "INSERT INTO api_keys(id, name, hash, prefix, scope, created_at) VALUES('key_1', 'ci', 'h', 'rk-', 'admin', 5)",
        "INSERT INTO asst_threads(id, owner, body) VALUES('thread_1', 'key_1', '{}')",
    ],
    "server/feedback.sqlite": [
        "INSERT INTO feedback(id, created_at, question, answer, refused, rating, citations) "
        "VALUES('fb_1', 5, 'how long?', 'three years', 0, 'up', '[]')",
    ],
}
SCHEMAS = {"manifest.sqlite": MANIFEST, "conversations.sqlite": CONVERSATIONS, "server/meta.sqlite": META,
           "server/feedback.sqlite": FEEDBACK}


def make_legacy_home(home: Path) -> Path:
    """Write the four files of the previous layout under ``home``, in WAL mode as ragkit left them."""
    for name, schema in SCHEMAS.items():
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(schema)
        for statement in ROWS[name]:
            db.execute(statement)
        db.close()
    return home
