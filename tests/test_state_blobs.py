"""Bytes in the state database (on SQLite and PostgreSQL): written and read part by part, deleted
by key or prefix, and swept when nothing refers to them any more."""

from __future__ import annotations

import pytest
from state_backends import state, state_url  # noqa: F401 - fixtures

from ragkit.state.blobs import Blobs


@pytest.fixture
def blobs(state) -> Blobs:
    return Blobs(state)


def test_a_blob_comes_back_part_by_part_in_order(blobs):
    data = [bytes([i]) * 1000 for i in range(5)]
    assert blobs.put("files/f1/a.bin", iter(data)) == 5000
    assert list(blobs.parts("files/f1/a.bin")) == data
    assert blobs.exists("files/f1/a.bin") and not blobs.exists("files/f2/a.bin")
    assert list(blobs.parts("files/f2/a.bin")) == []


def test_an_empty_blob_exists_and_a_put_replaces(blobs):
    blobs.put("files/e/empty.txt", [])
    assert blobs.exists("files/e/empty.txt") and b"".join(blobs.parts("files/e/empty.txt")) == b""
    blobs.put("files/e/empty.txt", [b"now", b" full"])
    assert b"".join(blobs.parts("files/e/empty.txt")) == b"now full"


def test_a_failing_writer_leaves_nothing(blobs):
    def broken():
        yield b"first part"
        raise OSError("the client went away")

    with pytest.raises(OSError):
        blobs.put("files/x/broken.txt", broken())
    assert not blobs.exists("files/x/broken.txt")


def test_delete_by_key_and_by_prefix(blobs):
    for key in ("uploads/u1/p1", "uploads/u1/p2", "uploads/u10/p1", "files/f/a"):
        blobs.put(key, [key.encode()])
    blobs.delete_under("uploads/u1/")
    assert [blobs.exists(k) for k in ("uploads/u1/p1", "uploads/u1/p2", "uploads/u10/p1")] == [False, False, True]
    blobs.delete("files/f/a")
    assert not blobs.exists("files/f/a")


def test_the_sweep_drops_only_old_blobs_nothing_refers_to(blobs):
    blobs.put("files/kept/a.txt", [b"a"])
    blobs.put("files/orphan/b.txt", [b"b"])
    blobs.put("uploads/upload_live/part_1", [b"c"])
    blobs.put("uploads/upload_done/part_1", [b"d"])
    with blobs.write() as db:
        db.execute("INSERT INTO api_files(id, filename, bytes, purpose, created_at, path) "
                   "VALUES('kept', 'a.txt', 1, 'assistants', 0, 'files/kept/a.txt')")
        for upload_id, status, expires in (("upload_live", "pending", 2**40), ("upload_done", "completed", 0)):
            db.execute("INSERT INTO uploads VALUES(?, 'x', 1, 'assistants', 'text/plain', 0, ?, ?, NULL, NULL)",
                       (upload_id, expires, status))
    assert blobs.sweep(older_than=3600) == 0  # all young: maybe still being written
    assert blobs.sweep(older_than=-1) == 2
    assert [blobs.exists(k) for k in ("files/kept/a.txt", "files/orphan/b.txt", "uploads/upload_live/part_1",
                                      "uploads/upload_done/part_1")] == [True, False, True, False]
