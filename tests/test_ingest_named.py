"""Ingesting files under caller-chosen names (``KnowledgeBase.ingest_named``): the server keys a
vector store's files by file id, so replicas that keep the bytes in different directories agree
on the manifest, the chunk ids and what a search returns."""

from __future__ import annotations

import shutil

from ragkit.models import SearchRequest


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_named_files_are_known_by_their_key(kb_factory, tmp_path):
    kb = kb_factory()
    local = _write(tmp_path / "replica-a" / "files" / "file-1" / "notes.txt",
                   "The quarterly calibration of the anemometer uses the brass reference cup.")
    report = kb.ingest_named([("files/file-1/notes.txt", local)])
    assert [(f.path, f.status) for f in report.files] == [("files/file-1/notes.txt", "added")]
    hits = kb.search(SearchRequest(query="anemometer calibration brass cup", k=3)).hits
    assert hits and hits[0].path == "files/file-1/notes.txt"
    assert [r.path for r in kb.manifest.files()] == ["files/file-1/notes.txt"]


def test_the_same_key_from_another_directory_is_not_ingested_twice(kb_factory, tmp_path):
    kb = kb_factory()
    text = "Replica B reads the same bytes from its own cache directory after replica A died."
    first = _write(tmp_path / "a" / "files" / "f" / "doc.md", text)
    kb.ingest_named([("files/f/doc.md", first)])
    ids = set(kb.manifest.chunk_ids("files/f/doc.md"))
    second = tmp_path / "b" / "files" / "f" / "doc.md"
    second.parent.mkdir(parents=True)
    shutil.copy(first, second)
    report = kb.ingest_named([("files/f/doc.md", second)])
    assert [f.status for f in report.files] == ["unchanged"]
    assert set(kb.manifest.chunk_ids("files/f/doc.md")) == ids
    assert kb.store.count() == len(ids)


def test_a_named_file_is_removed_by_its_key_and_bad_files_are_reported(kb_factory, tmp_path):
    kb = kb_factory()
    good = _write(tmp_path / "x" / "keep.txt", "Lighthouse keepers log the fog signal hours every night.")
    odd = _write(tmp_path / "x" / "image.xyz", "not a document")
    report = kb.ingest_named([("files/1/keep.txt", good), ("files/2/image.xyz", odd)])
    assert {f.path: f.status for f in report.files} == {"files/1/keep.txt": "added", "files/2/image.xyz": "skipped"}
    removed = kb.remove(["files/1/keep.txt"])
    assert removed and removed[0][0] == "files/1/keep.txt" and removed[0][1] > 0
    assert kb.store.count() == 0
