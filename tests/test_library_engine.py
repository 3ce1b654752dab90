"""The library of vector stores without HTTP: a real Library over a home ingests attached files
with its one writer, retrieves with OpenAI filters, answers from the store, and reports a missing
previous response as an error naming the parameter."""

from __future__ import annotations

import io
import time

import pytest

from ragkit.config import load_settings
from ragkit.errors import InvalidParameter, NotFound
from ragkit.library import AnswerCache, Library, filters
from ragkit.library.answering import answer
from ragkit.library.history import conversation_for, response_history
from ragkit.library.retrieval import retrieve
from ragkit.state.server import ServerState


def test_the_answer_cache_keeps_the_most_recent_entries():
    cache = AnswerCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    off = AnswerCache(0)
    off.put("a", 1)
    assert off.get("a") is None


@pytest.fixture
def library(tmp_path):
    home = tmp_path / "home"
    lib = Library(load_settings(home=home), ServerState(tmp_path / "state.sqlite"), answer_cache=8)
    lib.start()
    yield lib
    lib.stop()


def _store_with_files(library: Library, tmp_path) -> dict:
    state = library.state
    texts = {"file-a": ("policy.txt", "Remote work is allowed two days a week with a manager's approval."),
             "file-b": ("canteen.md", "The canteen serves lunch from noon until two in the afternoon.")}
    for file_id, (name, text) in texts.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        state.insert_file({"id": file_id, "filename": name, "bytes": len(text), "purpose": "assistants",
                           "created_at": 0, "path": str(path), "sha256": None, "created_by": None})
    state.insert_store({"id": "vs_test", "name": "t", "description": None, "created_at": 0, "last_active_at": 0,
                        "metadata": None, "expires_after": None, "chunk_size": 200, "chunk_overlap": 50,
                        "created_by": None})
    state.attach("vs_test", list(texts), {"file-a": {"dept": "hr"}, "file-b": {"dept": "facilities"}})
    library.wake()
    deadline = time.monotonic() + 60
    while state.vs_files("vs_test", ("in_progress",)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(state.vs_files("vs_test", ("completed",))) == 2
    return state.store("vs_test")


def test_a_library_ingests_retrieves_with_filters_and_answers(library, tmp_path):
    store = _store_with_files(library, tmp_path)

    found = retrieve(library, [store], ["when is lunch served"], 5).found
    assert found[0].file_id == "file-b" and found[0].attributes == {"dept": "facilities"}

    only_hr = filters.parse({"type": "eq", "key": "dept", "value": "hr"})
    assert {f.file_id for f in retrieve(library, [store], ["when is lunch served"], 5, only_hr).found} == {"file-a"}

    first = answer(library, [store], "How many days of remote work are allowed?", k=3, node=None,
                   model="ragkit-extractive", generator="extractive")
    assert not first.refused and first.found and first.cited()[0]["file_id"] == "file-a"
    again = answer(library, [store], "How many days of remote work are allowed?", k=3, node=None,
                   model="ragkit-extractive", generator="extractive")
    assert again.cached and again.text == first.text


def test_missing_history_is_a_core_error_naming_the_parameter(library):
    with pytest.raises(InvalidParameter) as caught:
        response_history(library, "owner", "resp_missing")
    assert (caught.value.param, caught.value.code) == ("previous_response_id", "previous_response_not_found")
    with pytest.raises(NotFound) as missing:
        conversation_for(library, "owner", "conv_missing", "conversation")
    assert missing.value.param == "conversation" and "conv_missing" in str(missing.value)


def test_a_purged_store_is_never_reopened(tmp_path):
    from ragkit.config import load_settings
    from ragkit.errors import NotFound
    from ragkit.library.registry import StoreGone, StoreRegistry

    registry = StoreRegistry(load_settings(home=tmp_path / "home"))
    store = {"id": "vs_gone", "chunk_size": 200, "chunk_overlap": 40}
    registry.kb(store)
    registry.purge(store)
    with pytest.raises(StoreGone) as gone:  # a late reader cannot recreate the collection
        registry.kb(store)
    assert isinstance(gone.value, NotFound) and gone.value.param == "vector_store_id"
    with pytest.raises(StoreGone):
        with registry.lease(store):
            pass


def _upload(library: Library, upload_id: str, expires_at: int) -> None:
    from ragkit.state import uploads

    uploads.insert_upload(library.state, {"id": upload_id, "filename": "a.txt", "bytes": 6, "purpose": "assistants",
                                          "mime_type": "text/plain", "created_at": 0, "expires_at": expires_at,
                                          "status": "pending", "created_by": None, "file_id": None})
    library.files.store_part(upload_id, "part_1", io.BytesIO(b"abcdef"), limit=100)


def test_an_upload_left_unfinished_past_its_hour_is_expired_and_its_parts_deleted(library):
    from ragkit.state import uploads

    _upload(library, "upload_overdue", expires_at=int(time.time()) - 1)
    _upload(library, "upload_live", expires_at=int(time.time()) + 3600)
    parts = library.settings.home / "server" / "uploads"
    assert sorted(p.name for p in parts.iterdir()) == ["upload_live", "upload_overdue"]
    library.purge_expired_files()  # what the server runs every minute
    assert uploads.upload(library.state, "upload_overdue")["status"] == "expired"
    assert uploads.upload(library.state, "upload_live")["status"] == "pending"
    assert sorted(p.name for p in parts.iterdir()) == ["upload_live"]
    assert uploads.pending_ids(library.state) == {"upload_live"}
    assert uploads.expire_overdue(library.state) == []  # each overdue upload is expired once


def test_parts_of_uploads_no_longer_pending_are_swept_when_old(library):
    from ragkit.state import uploads

    _upload(library, "upload_done", expires_at=int(time.time()) + 3600)
    _upload(library, "upload_waiting", expires_at=int(time.time()) + 3600)
    uploads.cancel(library.state, "upload_done")  # as a server stopped before it dropped the parts
    parts = library.settings.home / "server" / "uploads"
    library.files.sweep(set(), uploads.pending_ids(library.state))  # young: may be written right now
    assert sorted(p.name for p in parts.iterdir()) == ["upload_done", "upload_waiting"]
    library.files.sweep(set(), uploads.pending_ids(library.state), older_than=-1)
    assert sorted(p.name for p in parts.iterdir()) == ["upload_waiting"]
