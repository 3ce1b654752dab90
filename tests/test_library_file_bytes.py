"""Uploaded files' bytes: kept under a key that names no replica, copied into a PostgreSQL state
database so that another replica -- or this one after its home is gone -- can read them, and kept
only on disk in a SQLite home."""

from __future__ import annotations

import hashlib
import io

import pytest
from state_backends import state, state_url  # noqa: F401 - fixtures

from ragkit.library.file_bytes import ChecksumMismatch, ContentMissing, FileBytes, TooLarge
from ragkit.state.blobs import PART_BYTES


def _replicas(state, tmp_path) -> tuple[FileBytes, FileBytes]:
    """Two replicas' views: separate homes, one state database."""
    return (FileBytes.for_state(tmp_path / "home-a", state), FileBytes.for_state(tmp_path / "home-b", state))


def test_a_file_stored_on_one_replica_is_read_on_another_when_the_database_is_shared(state, tmp_path):
    a, b = _replicas(state, tmp_path)
    data = b"x" * (PART_BYTES + 123)  # more than one part
    stored = a.store("file-1", "big.bin", io.BytesIO(data), limit=10 * PART_BYTES)
    assert stored.key == "files/file-1/big.bin" and stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert a.local(stored.key) == tmp_path / "home-a" / "files" / "file-1" / "big.bin"
    assert a.materialize(stored.key).read_bytes() == data
    if state.path is not None:  # SQLite: one host, the home's copy is the only one
        assert not a.shared
        with pytest.raises(ContentMissing):
            b.materialize(stored.key)
        return
    assert a.shared
    fetched = b.materialize(stored.key)
    assert fetched == tmp_path / "home-b" / "files" / "file-1" / "big.bin" and fetched.read_bytes() == data
    assert sorted(p.name for p in fetched.parent.iterdir()) == ["big.bin"]  # no temporary left
    b.delete(stored.key)
    with pytest.raises(ContentMissing):  # gone from the database too
        FileBytes.for_state(tmp_path / "home-c", state).materialize(stored.key)


def test_too_large_and_a_wrong_md5_leave_nothing_behind(state, tmp_path):
    a, _ = _replicas(state, tmp_path)
    with pytest.raises(TooLarge):
        a.store("file-2", "big.txt", io.BytesIO(b"12345678"), limit=4)
    assert not (tmp_path / "home-a" / "files" / "file-2").exists()
    a.store_part("upload_1", "part_1", io.BytesIO(b"hello "), limit=100)
    with pytest.raises(TooLarge):
        a.store_part("upload_1", "part_2", io.BytesIO(b"x" * 101), limit=100)
    with pytest.raises(ChecksumMismatch):
        a.assemble("file-3", "hello.txt", "upload_1", ["part_1"], md5="0" * 32)
    assert not (tmp_path / "home-a" / "files" / "file-3").exists()
    if a.blobs is not None:
        assert not a.blobs.exists("files/file-3/hello.txt")


def test_parts_sent_to_one_replica_are_completed_on_another(state, tmp_path):
    a, b = _replicas(state, tmp_path)
    if not a.shared:
        pytest.skip("a SQLite home's parts are local: one host serves it")
    a.store_part("upload_2", "part_b", io.BytesIO(b"second half"), limit=100)
    a.store_part("upload_2", "part_a", io.BytesIO(b"first half, "), limit=100)
    whole = b"first half, second half"
    stored = b.assemble("file-4", "note.txt", "upload_2", ["part_a", "part_b"],
                        md5=hashlib.md5(whole).hexdigest())
    assert stored.size == len(whole) and b.local(stored.key).read_bytes() == whole
    b.drop_parts("upload_2")
    assert not a.blobs.exists("uploads/upload_2/part_a")
    assert a.materialize(stored.key).read_bytes() == whole


def test_a_sqlite_home_keeps_its_parts_under_the_home(state, tmp_path):
    a, _ = _replicas(state, tmp_path)
    if a.shared:
        pytest.skip("parts of a shared database live in it")
    a.store_part("upload_3", "part_1", io.BytesIO(b"abc"), limit=10)
    assert (tmp_path / "home-a" / "server" / "uploads" / "upload_3" / "part_1").read_bytes() == b"abc"
    assert a.local(a.assemble("file-5", "abc.txt", "upload_3", ["part_1"]).key).read_bytes() == b"abc"
    a.drop_parts("upload_3")
    assert not (tmp_path / "home-a" / "server" / "uploads" / "upload_3").exists()


def test_a_legacy_absolute_path_is_read_where_it_is(state, tmp_path):
    a, _ = _replicas(state, tmp_path)
    legacy = tmp_path / "old-home" / "files" / "file-0" / "old.txt"
    legacy.parent.mkdir(parents=True)
    legacy.write_text("from before keys")
    assert a.materialize(str(legacy)) == legacy
    a.delete(str(legacy))
    assert not legacy.parent.exists()
    with pytest.raises(ContentMissing):
        a.materialize(str(legacy))


def test_the_sweep_drops_copies_of_files_deleted_elsewhere(state, tmp_path):
    a, b = _replicas(state, tmp_path)
    kept = a.store("file-6", "kept.txt", io.BytesIO(b"kept"), limit=100)
    gone = a.store("file-7", "gone.txt", io.BytesIO(b"gone"), limit=100)
    a.sweep({"file-6"})  # young copies stay: they may be files being written right now
    assert a.local(gone.key).exists()
    a.sweep({"file-6"}, older_than=-1)
    assert a.local(kept.key).exists()
    assert a.local(gone.key).exists() != a.shared  # a SQLite home's copy is the only one: never swept
