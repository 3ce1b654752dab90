"""The server's pure parts: filter translation, PII redaction, file names, cursor pages, keys."""

from __future__ import annotations

import json

import pytest

from ragkit.server import filters
from ragkit.server.audit import redact
from ragkit.server.errors import ApiError


def _files():
    rows = [("a.pdf", {"dept": "eng", "year": 2024}), ("b.docx", {"dept": "sales", "year": 2022}),
            ("c.txt", None)]
    return [{"path": f"/x/{i}/{name}", "filename": name, "file_id": f"file-{i}",
             "attributes": json.dumps(attrs) if attrs else None} for i, (name, attrs) in enumerate(rows)]


def test_file_level_filters_become_allowed_paths():
    plan = filters.Plan.build(filters.parse({"type": "eq", "key": "dept", "value": "eng"}), _files())
    assert plan.paths == ("/x/0/a.pdf",) and not plan.post_filter
    plan = filters.Plan.build(filters.parse({"type": "or", "filters": [
        {"type": "lt", "key": "year", "value": 2023}, {"type": "eq", "key": "type", "value": "txt"}]}), _files())
    assert plan.paths == ("/x/1/b.docx", "/x/2/c.txt")
    plan = filters.Plan.build(filters.parse({"type": "ne", "key": "dept", "value": "eng"}), _files())
    assert plan.paths == ("/x/1/b.docx", "/x/2/c.txt")  # a missing attribute is "not equal"
    plan = filters.Plan.build(filters.parse({"type": "nin", "key": "filename", "value": ["a.pdf", "c.txt"]}), _files())
    assert plan.paths == ("/x/1/b.docx",)
    assert filters.Plan.build(filters.parse({"type": "eq", "key": "dept", "value": "hr"}), _files()).empty


def test_page_ranges_are_pushed_down_and_the_rest_post_filtered():
    node = filters.parse({"type": "and", "filters": [{"type": "gt", "key": "page", "value": 1},
                                                     {"type": "lte", "key": "page", "value": 3},
                                                     {"type": "eq", "key": "dept", "value": "eng"}]})
    plan = filters.Plan.build(node, _files())
    assert (plan.page_min, plan.page_max, plan.post_filter) == (2, 3, False)
    assert plan.paths == ("/x/0/a.pdf",)
    assert plan.keep("/x/0/a.pdf", 2) and not plan.keep("/x/0/a.pdf", 4) and not plan.keep("/x/0/a.pdf", None)

    either = filters.Plan.build(filters.parse({"type": "or", "filters": [
        {"type": "eq", "key": "page", "value": 1}, {"type": "eq", "key": "dept", "value": "sales"}]}), _files())
    assert either.post_filter and either.page_min is None
    assert set(either.paths) == {"/x/0/a.pdf", "/x/1/b.docx", "/x/2/c.txt"}  # page could match anywhere
    assert either.keep("/x/0/a.pdf", 1) and not either.keep("/x/0/a.pdf", 2) and either.keep("/x/1/b.docx", 9)
    assert filters.Plan.build(filters.parse({"type": "in", "key": "page", "value": [2, 4]}), _files()).post_filter


@pytest.mark.parametrize("raw", [
    "dept=eng", {"key": "dept", "value": "eng"}, {"type": "eq", "key": "", "value": 1},
    {"type": "lt", "key": "year", "value": True}, {"type": "in", "key": "k", "value": "x"},
    {"type": "eq", "key": "k", "value": [1]}, {"type": "or", "filters": [{"type": "eq"}]},
    {"type": "eq", "key": "k", "value": 1, "extra": 2},
])
def test_malformed_filters_raise_400(raw):
    with pytest.raises(ApiError) as caught:
        filters.parse(raw)
    assert caught.value.status == 400 and caught.value.param == "filters"


def test_comparisons_do_not_mix_types():
    node = filters.parse({"type": "gt", "key": "year", "value": 2023})
    assert filters.evaluate(node, {"year": 2024}) is True
    assert filters.evaluate(node, {"year": "2024"}) is False
    assert filters.evaluate(filters.parse({"type": "eq", "key": "public", "value": True}), {"public": 1}) is False


def test_redaction_masks_personal_data_but_keeps_ordinary_numbers():
    text = ("Mail jane.doe@example.com or call +46 31 555 0199. Card 4111 1111 1111 1111, "
            "not 1234 5678 9012 3456. IBAN GB82 WEST 1234 5698 7654 32. SSN 123-45-6789. "
            "Firmware 4.2.1 ships in 2024 with 16 second intervals.")
    masked = redact(text)
    for secret in ("jane.doe", "555 0199", "4111 1111", "GB82", "123-45-6789"):
        assert secret not in masked
    for kept in ("1234 5678 9012 3456", "4.2.1", "2024", "16 second"):
        assert kept in masked
    assert "[EMAIL]" in masked and "[CARD]" in masked and "[IBAN]" in masked and "[SSN]" in masked
    assert "[PHONE]" in masked


@pytest.mark.parametrize("given, stored", [
    ("../../etc/passwd", "passwd"), ("..\\..\\boot.ini", "boot.ini"), (".bashrc", "bashrc"),
    ("report 2024.pdf", "report 2024.pdf"), ("a/b/../c.txt", "c.txt"), ("", "file"), ("..", "file"),
    ("bad\x00name\n.txt", "badname.txt"), ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
])
def test_sanitise_filename(given, stored):
    from ragkit.server.files import sanitise_filename

    assert sanitise_filename(given) == stored


def test_cursor_pages_and_keys(tmp_path):
    from ragkit.server.db import MetaDB, NotFound
    from ragkit.server.keys import create_key, principal_for, revoke_key

    db = MetaDB(tmp_path / "meta.sqlite")
    for i in range(5):
        db.insert_file({"id": f"f{i}", "filename": "x", "bytes": 1, "purpose": "assistants", "created_at": i,
                        "path": "/x", "sha256": None, "created_by": None})

    def ids(**kw):
        rows, more = db.page("api_files", "1=1", (), **{"limit": 2, "order": "asc", "after": None, "before": None} | kw)
        return [r["id"] for r in rows], more

    assert ids() == (["f0", "f1"], True)
    assert ids(after="f3") == (["f4"], False)
    assert ids(order="desc") == (["f4", "f3"], True)
    assert ids(order="desc", after="f3") == (["f2", "f1"], True)
    assert ids(before="f3") == (["f1", "f2"], True)
    assert ids(order="desc", before="f1") == (["f3", "f2"], True)
    with pytest.raises(NotFound):
        ids(after="nope")

    created = create_key(db, "ci", "write", ["vs_a"])
    assert principal_for(db, created["key"]).vector_stores == frozenset({"vs_a"})
    assert created["key"] not in json.dumps(db.all("SELECT * FROM api_keys"))
    revoke_key(db, "ci")
    assert principal_for(db, created["key"]) is None


def test_guard_times_out_slow_requests_and_limits_bodies(tmp_path):
    import asyncio
    from types import SimpleNamespace

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from ragkit.server.audit import AuditLog
    from ragkit.server.config import ServerConfig
    from ragkit.server.guard import RequestGuard

    async def slow(request):
        await asyncio.sleep(5)
        return JSONResponse({})

    async def echo(request):
        return JSONResponse({"n": len(await request.body())})

    async def stream(request):
        async def parts():
            yield b"first "
            await asyncio.sleep(0.6)  # past the deadline, but the response has started
            yield b"second"
        return StreamingResponse(parts())

    app = Starlette(routes=[Route("/slow", slow), Route("/echo", echo, methods=["POST"]), Route("/stream", stream)])
    config = ServerConfig(home=tmp_path, request_timeout=0.3, max_json_bytes=100)
    ctx = SimpleNamespace(config=config, audit=AuditLog(tmp_path / "audit.jsonl"))
    client = TestClient(RequestGuard(app, ctx))
    response = client.get("/slow")
    assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"
    assert client.post("/echo", content=b"x" * 50).json() == {"n": 50}
    assert client.post("/echo", content=b"x" * 500).status_code == 413
    streamed = client.get("/stream")
    assert streamed.status_code == 200 and streamed.content == b"first second"  # a started stream is not cut
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(r["endpoint"], r["status"]) for r in lines] == [("/slow", 504), ("/echo", 200), ("/echo", 413),
                                                             ("/stream", 200)]


def test_logs_follow_sees_lines_as_they_are_written(tmp_path):
    import threading
    import time

    from ragkit.server.audit import AuditLog, read

    log = AuditLog(tmp_path / "audit.jsonl")
    log.write({"key": "a", "endpoint": "/v1/models", "status": 200})

    def later():
        time.sleep(0.3)
        log.write({"key": "b", "endpoint": "/v1/responses", "status": 200})
        log.write({"key": "a", "endpoint": "/v1/responses", "status": 400})

    threading.Thread(target=later, daemon=True).start()
    seen = []
    for record in read(tmp_path / "audit.jsonl", key="a", follow=True, poll=0.05):
        seen.append((record["endpoint"], record["status"]))
        if len(seen) == 2:
            break
    assert seen == [("/v1/models", 200), ("/v1/responses", 400)]
    assert [r["key"] for r in read(tmp_path / "audit.jsonl", endpoint="responses")] == ["b", "a"]


def test_no_auth_is_refused_off_loopback(tmp_path):
    from server_helpers import ragkit

    from ragkit.server.config import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.com")
    done = ragkit("serve", "--no-auth", "--host", "0.0.0.0", home=tmp_path / "home", check=False)
    assert done.returncode == 2 and "loopback" in done.stderr
