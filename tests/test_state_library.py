"""The library repository: cursor pages (the OpenAI list contract), file filters, store visibility,
on SQLite and PostgreSQL."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from state_backends import state, state_url  # noqa: F401 - fixtures

from ragkit.state.server import ServerState
from ragkit.state.tables import NotFound


def _cursor(**kw) -> SimpleNamespace:
    return SimpleNamespace(**({"limit": 2, "order": "asc", "after": None, "before": None} | kw))


def _file(db: ServerState, file_id: str, purpose: str = "assistants", size: int = 1) -> None:
    db.insert_file({"id": file_id, "filename": file_id, "bytes": size, "purpose": purpose, "created_at": 0,
                    "path": f"/x/{file_id}", "sha256": None, "created_by": None})


def _store(db: ServerState, vs_id: str, created_by: str | None = None) -> None:
    db.insert_store({"id": vs_id, "name": vs_id, "description": None, "created_at": 0, "last_active_at": 0,
                     "metadata": None, "expires_after": None, "chunk_size": 800, "chunk_overlap": 400,
                     "created_by": created_by})


@pytest.fixture
def db(state) -> ServerState:
    return ServerState(state)


def test_cursor_pages_walk_both_ways_in_both_orders(db):
    for i in range(5):
        _file(db, f"f{i}")

    def ids(**kw):
        rows, more = db.files_page(_cursor(**kw))
        return [r["id"] for r in rows], more

    assert ids() == (["f0", "f1"], True)
    assert ids(after="f3") == (["f4"], False)
    assert ids(order="desc") == (["f4", "f3"], True)
    assert ids(order="desc", after="f3") == (["f2", "f1"], True)
    assert ids(before="f3") == (["f1", "f2"], True)
    assert ids(order="desc", before="f1") == (["f3", "f2"], True)
    with pytest.raises(NotFound):
        ids(after="nope")


def test_file_pages_filter_by_purpose_and_visible_ids(db):
    _file(db, "a", "assistants")
    _file(db, "b", "batch")
    _file(db, "c", "assistants")
    assert [r["id"] for r in db.files_page(_cursor(limit=10), purpose="assistants")[0]] == ["a", "c"]
    assert [r["id"] for r in db.files_page(_cursor(limit=10), visible=["b", "c"])[0]] == ["b", "c"]
    assert db.files_page(_cursor(limit=10), visible=[])[0] == []


def test_a_limited_key_lists_only_stores_it_created_or_was_given(db):
    for vs_id, creator in (("vs_1", "k1"), ("vs_2", "k2"), ("vs_3", None)):
        _store(db, vs_id, creator)
    db.delete_store("vs_3")
    assert [r["id"] for r in db.stores_page(_cursor(limit=10))[0]] == ["vs_1", "vs_2"]
    assert [r["id"] for r in db.stores_page(_cursor(limit=10), creator="k1", allowed=[])[0]] == ["vs_1"]
    assert [r["id"] for r in db.stores_page(_cursor(limit=10), creator="k1", allowed=["vs_2"])[0]] == ["vs_1", "vs_2"]


def test_store_files_pages_by_batch_and_status_and_file_visibility(db):
    _store(db, "vs_1", "k1")
    for file_id in ("a", "b", "c"):
        _file(db, file_id, size=10)
    db.attach("vs_1", ["a"], {})
    db.attach("vs_1", ["b", "c"], {}, batch_id="vsfb_1")
    rows = db.claim("worker", 10)
    assert [r["file_id"] for r in rows] == ["a", "b", "c"]
    assert db.finish("vs_1", "b", "worker", "completed", None, 3)
    page = db.store_files_page("vs_1", _cursor(limit=10), batch_id="vsfb_1")[0]
    assert [r["file_id"] for r in page] == ["b", "c"]
    assert [r["file_id"] for r in db.store_files_page("vs_1", _cursor(limit=10), status="completed")[0]] == ["b"]
    with pytest.raises(NotFound):  # the cursor is a file id within the listing
        db.store_files_page("vs_1", _cursor(after="a"), batch_id="vsfb_1")
    assert db.counts("vs_1") == ({"in_progress": 2, "completed": 1, "failed": 0, "cancelled": 0, "total": 3}, 10)
    assert db.stores_holding("a") == [{"id": "vs_1", "created_by": "k1"}]
    db.delete_store("vs_1")
    assert db.stores_holding("a") == []


def test_changing_a_stores_files_bumps_its_version(db):
    _store(db, "vs_1")
    _file(db, "a")
    versions = [db.store("vs_1")["files_version"]]
    db.attach("vs_1", ["a"], {"a": {"k": 1}})
    versions.append(db.store("vs_1")["files_version"])
    db.set_attributes("vs_1", "a", {"k": 2})
    versions.append(db.store("vs_1")["files_version"])
    assert db.delete_file("a") == ["vs_1"]
    versions.append(db.store("vs_1")["files_version"])
    assert versions == sorted(set(versions)) and db.vs_file("vs_1", "a") is None


def test_a_cursor_naming_an_object_deleted_meanwhile_pages_on_from_its_place(db):
    """Deleting the objects of a list while paging through it (the SDK's auto-pagination loop)
    asks for the page after an object just deleted: it goes on from that object's place."""
    for i in range(5):
        _file(db, f"f{i}")
        _store(db, f"vs_{i}")
    db.attach("vs_0", ["f1", "f2", "f3"], {})
    db.attach("vs_1", ["f2", "f3", "f1"], {})  # the same files, listed in another order there
    db.delete_file("f1")
    db.delete_store("vs_1")
    db.detach("vs_0", "f2")
    db.detach("vs_0", "f2")  # nothing left to bury: the place stays known

    def ids(rows_more):
        return [r["file_id"] if "file_id" in r else r["id"] for r in rows_more[0]], rows_more[1]

    assert ids(db.files_page(_cursor(after="f1"))) == (["f2", "f3"], True)
    assert ids(db.files_page(_cursor(order="desc", after="f1"))) == (["f0"], False)
    assert ids(db.files_page(_cursor(before="f1"))) == (["f0"], False)
    assert ids(db.stores_page(_cursor(after="vs_1"))) == (["vs_2", "vs_3"], True)
    assert ids(db.store_files_page("vs_0", _cursor(after="f2"))) == (["f3"], False)
    # a file's place is its place in each store: f1 stood first in vs_0
    assert ids(db.store_files_page("vs_0", _cursor(after="f1"))) == (["f3"], False)
    with pytest.raises(NotFound):  # never listed in vs_2
        db.store_files_page("vs_2", _cursor(after="f1"))
    with pytest.raises(NotFound):
        db.files_page(_cursor(after="never"))


def test_a_cursor_file_that_changed_status_still_places_the_next_page(db):
    """Paging through a store's ``in_progress`` files while they finish: the cursor file is
    ``completed`` by the next page, which goes on from it."""
    _store(db, "vs_1")
    for file_id in ("a", "b", "c", "d"):
        _file(db, file_id)
    db.attach("vs_1", ["a", "b", "c", "d"], {}, batch_id="vsfb_1")
    db.claim("worker", 10)
    first = db.store_files_page("vs_1", _cursor(), status="in_progress")[0]
    assert [r["file_id"] for r in first] == ["a", "b"]
    assert db.finish("vs_1", "b", "worker", "completed", None, 1)
    rows, more = db.store_files_page("vs_1", _cursor(after="b"), status="in_progress", batch_id="vsfb_1")
    assert [r["file_id"] for r in rows] == ["c", "d"] and not more
