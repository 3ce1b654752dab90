"""The ingest manifest (ragkit/stores/manifest.py) on a real SQLite file and a real PostgreSQL database.

What it promises: a commit makes a file's chunks exactly its live chunks in one transaction;
every id that may exist in the vector store without being live is journalled, so a run killed
at any point leaves the next run a list of ids to delete; the generation moves when, and only
when, the live chunks change; and state is per collection and survives reopening.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from state_backends import state, state_url  # noqa: F401 - fixtures

from ragkit.models import Chunk
from ragkit.stores.manifest import FileCommit, Manifest, file_sha256, text_sha256


def _chunk(path: str, text: str, index: int = 0, *, page: int | None = None, context: str = "") -> Chunk:
    source = Path(path).name
    return Chunk(id=f"{source}-{index}-{text_sha256(text)[:8]}", text=text, source=source, path=path,
                 file_sha256="sha-" + source, page=page, section="", start=0, end=len(text),
                 index=index, n_tokens=len(text.split()), context=context, title=source)


def _commit(path: str, texts: list[str], *, sha: str | None = None, warnings: tuple[str, ...] = ()
            ) -> FileCommit:
    chunks = [_chunk(path, text, i) for i, text in enumerate(texts)]
    return FileCommit(path=path, source=Path(path).name, size=sum(map(len, texts)), mtime_ns=1,
                      sha256=sha or text_sha256("\n".join(texts)), chunks=chunks, warnings=warnings)


@pytest.fixture
def manifest(state):
    opened = Manifest(state, "docs")
    yield opened
    opened.close()


def test_a_committed_file_is_live_with_its_chunks(manifest):
    stale = manifest.commit_files([_commit("/d/a.txt", ["alpha one", "alpha two"], warnings=("2 pages empty",))])

    assert stale == set()
    record = manifest.file("/d/a.txt")
    assert record is not None and record.status == "ok" and record.error is None
    assert (record.source, record.n_chunks, record.warnings) == ("a.txt", 2, ["2 pages empty"])
    assert manifest.count_chunks() == 2
    assert [text for _, text, _ in manifest.iter_chunks()] == ["alpha one", "alpha two"]
    assert [r.path for r in manifest.files()] == ["/d/a.txt"]
    assert manifest.file("/d/missing.txt") is None


def test_the_generation_moves_only_when_live_chunks_change(manifest):
    assert manifest.generation() == 0
    manifest.commit_files([_commit("/d/a.txt", ["alpha one"])])
    assert manifest.generation() == 1
    manifest.commit_files([_commit("/d/a.txt", ["alpha one"])])  # same chunks again
    assert manifest.generation() == 1
    manifest.commit_files([_commit("/d/a.txt", ["alpha changed"])])
    assert manifest.generation() == 2
    manifest.forget_file("/d/never-stored.txt")
    assert manifest.generation() == 2
    manifest.forget_file("/d/a.txt")
    assert manifest.generation() == 3


def test_replaced_chunks_are_returned_and_journalled_until_deleted(manifest):
    manifest.commit_files([_commit("/d/a.txt", ["kept", "dropped"])])
    old = manifest.chunk_ids("/d/a.txt")

    stale = manifest.commit_files([_commit("/d/a.txt", ["kept", "added"])])

    new = manifest.chunk_ids("/d/a.txt")
    assert len(stale) == 1 and stale == old - new
    assert manifest.live_ids(stale) == set()
    live, dead = manifest.pending()
    assert (live, dead) == (set(), stale)
    manifest.journal_remove(stale)  # the caller deleted them from the store
    assert manifest.pending() == (set(), set())


def test_ids_journalled_before_a_crash_are_dead_on_the_next_open(state_url):
    """The write protocol: journal new ids, write the store, commit. A run killed between the
    store write and the commit leaves ids the next run must delete; committed ones stay live."""
    db = state_url
    first = Manifest(db, "docs")
    committed = _commit("/d/a.txt", ["committed text"])
    first.journal_add(c.id for c in committed.chunks)
    first.commit_files([committed])
    orphan = _commit("/d/b.txt", ["written to the store, never committed"])
    first.journal_add(c.id for c in orphan.chunks)
    first.close()  # the process dies here

    reopened = Manifest(db, "docs")
    live, dead = reopened.pending()
    assert live == set()  # a commit takes its own ids out of the journal
    assert dead == {c.id for c in orphan.chunks}
    assert reopened.file("/d/b.txt") is None and reopened.count_chunks() == 1
    reopened.close()


def test_an_id_journalled_and_then_committed_is_pending_live(manifest):
    """A crash after a commit but before the journal was cleared must not delete live chunks."""
    commit = _commit("/d/a.txt", ["alpha"])
    manifest.commit_files([commit])
    manifest.journal_add(c.id for c in commit.chunks)  # e.g. a re-run journalling before writing
    live, dead = manifest.pending()
    assert live == {c.id for c in commit.chunks} and dead == set()


def test_a_failing_batch_commits_nothing(manifest):
    manifest.commit_files([_commit("/d/a.txt", ["before"])])
    generation, before = manifest.generation(), manifest.chunk_ids("/d/a.txt")
    good = _commit("/d/a.txt", ["after"])
    broken_chunk = _chunk("/d/b.txt", "unserialisable")
    # a value JSON cannot store fails the second file's insert, inside the one transaction
    broken = FileCommit("/d/b.txt", "b.txt", 1, 1, "x", [replace(broken_chunk, page=object())])

    with pytest.raises(TypeError):
        manifest.commit_files([good, broken])

    assert manifest.chunk_ids("/d/a.txt") == before
    assert manifest.file("/d/b.txt") is None
    assert manifest.generation() == generation
    assert manifest.pending() == (set(), set())


def test_forgetting_a_file_journals_its_chunks(manifest):
    manifest.commit_files([_commit("/d/a.txt", ["one", "two"]), _commit("/d/b.txt", ["three"])])
    ids = manifest.chunk_ids("/d/a.txt")

    assert manifest.forget_file("/d/a.txt") == ids
    assert manifest.file("/d/a.txt") is None and manifest.chunk_ids("/d/a.txt") == set()
    assert manifest.pending() == (set(), ids)
    assert manifest.count_chunks() == 1


def test_a_failure_is_recorded_without_losing_stored_chunks(manifest):
    manifest.commit_files([_commit("/d/a.txt", ["good text"])])
    ids = manifest.chunk_ids("/d/a.txt")

    manifest.record_failure("/d/a.txt", "a.txt", "corrupt: bad xref")

    record = manifest.file("/d/a.txt")
    assert record.status == "failed" and record.error == "corrupt: bad xref"
    assert record.size is None and record.mtime_ns is None  # the next run re-reads it
    assert manifest.chunk_ids("/d/a.txt") == ids
    manifest.record_failure("/d/new.txt", "new.txt", "encrypted")
    assert manifest.file("/d/new.txt").status == "failed"


def test_touch_updates_the_stat_only(manifest):
    manifest.commit_files([_commit("/d/a.txt", ["alpha"], sha="abc")])
    manifest.touch("/d/a.txt", 999, 12345)
    record = manifest.file("/d/a.txt")
    assert (record.size, record.mtime_ns, record.sha256) == (999, 12345, "abc")


def test_chunks_by_id_returns_text_and_metadata_and_skips_unknown_ids(manifest):
    texts = [f"chunk number {i}" for i in range(1203)]  # more than one 500-id batch, one 1000-chunk page
    commit = _commit("/d/big.txt", texts)
    manifest.commit_files([commit])
    ids = [chunk_id for chunk_id, _, _ in manifest.iter_chunks()]
    assert ids == sorted(c.id for c in commit.chunks)  # every chunk once, in id order

    found = manifest.chunks_by_id([*ids, "no-such-id"])

    assert set(found) == set(ids)
    text, meta = found[commit.chunks[7].id]
    assert text == "chunk number 7"
    assert (meta["source"], meta["path"], meta["chunk_index"], meta["file_type"]) == ("big.txt", "/d/big.txt", 7, "txt")
    assert manifest.chunks_by_id([]) == {}


def test_duplicates_group_same_bytes_and_same_text(manifest):
    manifest.commit_files([
        _commit("/d/a.txt", ["same bytes"], sha="s1"),
        _commit("/d/copy-of-a.txt", ["same bytes"], sha="s1"),
        _commit("/d/report.pdf", ["page one text", "page two text"], sha="s2"),
        _commit("/d/report-reexported.pdf", ["page one text", "page two text"], sha="s3"),
        _commit("/d/other.txt", ["something else"], sha="s4"),
    ])
    manifest.record_failure("/d/broken.txt", "broken.txt", "corrupt")

    assert manifest.duplicates() == [["a.txt", "copy-of-a.txt"], ["report-reexported.pdf", "report.pdf"]]


def test_same_text_needs_every_chunk_equal(manifest):
    manifest.commit_files([
        _commit("/d/x.txt", ["first part", "second part"], sha="1"),
        _commit("/d/y.txt", ["first part", "second pact"], sha="2"),  # same count and length
    ])
    assert manifest.same_text() == []
    assert manifest.duplicates() == []


def test_state_keys_round_trip_per_collection_and_survive_reopening(state_url):
    db = state_url
    docs, other = Manifest(db, "docs"), Manifest(db, "other")
    assert docs.get_state("chunk_context") is None
    docs.set_state("chunk_context", "1")
    docs.set_state("chunk_context", "0")
    other.set_state("chunk_context", "1")
    docs.commit_files([_commit("/d/a.txt", ["alpha"])])
    docs.close()
    other.close()

    reopened = Manifest(db, "docs")
    assert reopened.get_state("chunk_context") == "0"
    assert reopened.generation() == 1
    other = Manifest(db, "other")
    assert (other.get_state("chunk_context"), other.generation()) == ("1", 0)
    reopened.close()
    other.close()


def test_dropping_a_collection_leaves_the_others(state_url):
    db = state_url
    docs, other = Manifest(db, "docs"), Manifest(db, "other")
    docs.commit_files([_commit("/d/a.txt", ["alpha"])])
    other.commit_files([_commit("/d/a.txt", ["alpha"])])
    docs.set_state("chunk_context", "1")

    docs.drop_collection()

    assert (docs.files(), docs.count_chunks(), docs.generation(), docs.get_state("chunk_context")) == (
        [], 0, 0, None)
    assert other.count_chunks() == 1 and other.generation() == 1
    docs.close()
    other.close()


def test_mentions_looks_in_text_context_and_path(manifest):
    chunk = _chunk("/d/acme-annual-report-2019.md", "Revenue grew.", context="Acme report > Outlook")
    manifest.commit_files([FileCommit(chunk.path, chunk.source, 1, 1, "s", [chunk])])
    paths = [chunk.path]

    assert manifest.mentions(paths, "Revenue")
    assert manifest.mentions(paths, "Outlook")
    assert manifest.mentions(paths, "2019")
    assert not manifest.mentions(paths, "2021")
    assert not manifest.mentions([], "Revenue")
    assert not manifest.mentions(["/d/elsewhere.md"], "Revenue")


def test_document_labels_use_the_context_head_or_the_source(manifest):
    with_context = _chunk("/d/a.md", "text", context="Travel policy > Hotels")
    plain = _chunk("/d/b.txt", "text")
    manifest.commit_files([FileCommit("/d/a.md", "a.md", 1, 1, "1", [with_context]),
                           FileCommit("/d/b.txt", "b.txt", 1, 1, "2", [plain])])
    assert manifest.document_labels() == {"/d/a.md": "Travel policy", "/d/b.txt": "b.txt"}


def test_the_embedding_cache_is_keyed_by_embedder_and_text(manifest):
    vector = np.array([0.25, -1.5, 3.0], dtype=np.float64)
    manifest.cache_vectors("minilm", [(text_sha256("hello"), vector)])

    found = manifest.cached_vectors("minilm", [text_sha256("hello"), text_sha256("hello"), text_sha256("bye")])

    assert list(found) == [text_sha256("hello")]
    assert found[text_sha256("hello")].dtype == np.float32
    np.testing.assert_allclose(found[text_sha256("hello")], vector)
    assert manifest.cached_vectors("openai", [text_sha256("hello")]) == {}


def test_another_thread_reads_what_one_committed(manifest):
    manifest.commit_files([_commit("/d/a.txt", ["alpha"])])
    seen: list[int] = []
    reader = threading.Thread(target=lambda: seen.append(manifest.count_chunks()))
    reader.start()
    reader.join()
    assert seen == [1]


def test_file_sha256_hashes_the_bytes(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"abc")
    assert file_sha256(target) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert text_sha256("abc") == file_sha256(target)
