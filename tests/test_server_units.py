"""The server's pure parts: filter translation, PII redaction, file names, cursor pages, keys."""

from __future__ import annotations

import json

import pytest

from ragkit.server import filters
from ragkit.state.redaction import redact
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


def test_keys_are_stored_hashed_and_revoked(tmp_path):
    from ragkit.server.keys import create_key, principal_for, revoke_key
    from ragkit.state.keys import key_rows
    from ragkit.state.server import ServerState

    db = ServerState(tmp_path / "meta.sqlite")
    created = create_key(db, "ci", "write", ["vs_a"])
    assert principal_for(db, created["key"]).vector_stores == frozenset({"vs_a"})
    assert created["key"] not in json.dumps(key_rows(db, include_revoked=True))
    revoke_key(db, "ci")
    assert principal_for(db, created["key"]) is None


def test_guard_times_out_slow_requests_and_limits_bodies(tmp_path):
    import asyncio
    from types import SimpleNamespace

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from ragkit.server.config import ServerConfig
    from ragkit.server.guard import RequestGuard
    from ragkit.state.audit import AuditLog, read
    from ragkit.state.server import ServerState

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
    db = ServerState(tmp_path / "state.sqlite")
    ctx = SimpleNamespace(config=config, audit=AuditLog(db))
    client = TestClient(RequestGuard(app, ctx))
    response = client.get("/slow")
    assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"
    assert client.post("/echo", content=b"x" * 50).json() == {"n": 50}
    assert client.post("/echo", content=b"x" * 500).status_code == 413
    streamed = client.get("/stream")
    assert streamed.status_code == 200 and streamed.content == b"first second"  # a started stream is not cut
    lines = list(read(db))
    assert [(r["endpoint"], r["status"]) for r in lines] == [("/slow", 504), ("/echo", 200), ("/echo", 413),
                                                             ("/stream", 200)]


def test_no_auth_is_refused_off_loopback(tmp_path):
    from server_helpers import ragkit

    from ragkit.server.config import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.com")
    done = ragkit("serve", "--no-auth", "--host", "0.0.0.0", home=tmp_path / "home", check=False)
    assert done.returncode == 2 and "loopback" in done.stderr
