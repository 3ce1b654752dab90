"""The server's pure parts: PII redaction, file names, cursor pages, keys, the request guard, the
parameter a validation error names, every router reading JSON bodies strictly."""

from __future__ import annotations

import json

import pytest

from ragkit.state.redaction import redact


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


def _errors(model, data) -> list[dict]:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()]  # as FastAPI reports them


def test_a_validation_error_names_the_parameter_by_its_path():
    from ragkit.server.errors import from_validation
    from ragkit.server.params import CreateBatch
    from ragkit.server.search import SearchBody

    query = from_validation(_errors(SearchBody, {"query": 5}))  # a union: no member's type name
    assert (query.param, query.code, query.message) == (
        "query", "invalid_type", "Invalid type for 'query': expected a string or an array, but got an integer instead.")
    literal = from_validation(_errors(SearchBody, {"query": "x", "ranking_options": {"ranker": "bm25"}}))
    assert literal.code == "invalid_value" and literal.message.startswith("Invalid value for 'ranking_options.ranker'")
    nested = from_validation(_errors(CreateBatch, {"files": [{"file_id": "f", "attributes": {"Year": [1]}}]}))
    assert nested.param == "files[0].attributes.Year"  # a key that looks like a class name stays
    unknown = from_validation(_errors(SearchBody, {"query": "x", "ranking_options": {"foo": 1}}))
    assert unknown.param == "ranking_options.foo" and unknown.code == "unknown_parameter"
    named_query = from_validation(_errors(CreateBatch, {"file_ids": ["f"], "query": 1}))
    assert named_query.message == "Unrecognized request argument supplied: query"  # not taken for a location
    broken = from_validation([{"type": "json_invalid", "loc": ("body", 1), "msg": "JSON decode error",
                               "ctx": {"error": "Expecting value"}}])
    assert broken.param is None and "not valid JSON (Expecting value at character 1)" in broken.message
    missing = from_validation([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    assert missing.param is None and missing.message.startswith("The request body is missing")


def test_every_router_reads_json_bodies_strictly():
    """A router made without ``route_class=JsonRoute`` would parse NaN, infinities and unpaired
    surrogates again (ragkit.server.json_body); the behaviour is tested in test_server_params.py."""
    import importlib
    import pkgutil

    from fastapi import APIRouter

    import ragkit.server
    from ragkit.server.json_body import JsonRoute

    routers = {}
    for info in pkgutil.iter_modules(ragkit.server.__path__):
        module = importlib.import_module(f"ragkit.server.{info.name}")
        routers |= {f"{info.name}.{name}": value for name, value in vars(module).items() if isinstance(value, APIRouter)}
    assert len(routers) >= 16
    assert [name for name, router in routers.items() if router.route_class is not JsonRoute] == []


@pytest.mark.parametrize("raw, parsed", [
    (b'{"x": "\\\\ud800"}', {"x": "\\ud800"}),  # an escaped backslash, then the letters "ud800"
    (b'{"x": "\\ud83d\\ude00"}', {"x": "\U0001f600"}),  # a surrogate pair is one character
    (b'{"x": "NaN", "y": 1e308, "z": -0.0}', {"x": "NaN", "y": 1e308, "z": -0.0}),
    (b'\xef\xbb\xbf{"x": 1}', {"x": 1}),  # UTF-8 with a BOM, UTF-16: as json.loads reads bytes
    ('{"x": "\u00e9"}'.encode("utf-16"), {"x": "\u00e9"}),
    (b'{"x": ' + b"9" * 400 + b"}", {"x": int("9" * 400)}),
])
def test_strict_json_reads_what_json_allows(raw, parsed):
    from ragkit.server.json_body import loads

    assert loads(raw) == parsed


@pytest.mark.parametrize("raw, position", [
    (b'{"x": "a\\ud83d\\n"}', 8), (b'{"x": "\\\\\\udc00"}', 9), (b'{"x": "NaN", "y": NaN}', 18),
    (b'{"x": "\xed\xa0\x80"}', 7),  # a surrogate encoded as UTF-8 bytes is not UTF-8
])
def test_strict_json_says_where_a_body_breaks_it(raw, position):
    from ragkit.server.json_body import loads

    with pytest.raises(json.JSONDecodeError) as caught:
        loads(raw)
    assert caught.value.pos == position


def test_a_run_streams_errors_as_openais_whole_error_object():
    """A run stream that breaks after it started (here: its context has no database left) ends with
    an ``error`` event whose data is OpenAI's whole ``Error`` object (code, message, param, type):
    typed clients such as Rust's async-openai require each field, and without ``type`` they report a
    parse failure instead of the server's message."""
    import asyncio

    from ragkit.server.runs import _events

    async def collect() -> list[str]:
        return [chunk async for chunk in _events(None, "run_gone", [])]  # type: ignore[arg-type]

    *events, done = asyncio.run(collect())
    assert done == "event: done\ndata: [DONE]\n\n"
    kind, data = events[-1].strip().split("\n")
    assert kind == "event: error"
    assert json.loads(data.removeprefix("data: ")) == {
        "code": "server_error", "message": "The server had an internal error while producing the response.",
        "param": None, "type": "server_error"}
