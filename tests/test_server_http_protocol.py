"""Malformed HTTP gets OpenAI's error shape from a real ``ragkit serve``, and the server goes on
serving (one and several workers: the protocol class reaches uvicorn's worker processes too)."""

from __future__ import annotations

import json
import socket

import pytest
from server_helpers import Server

BROKEN = {
    "a header without a colon": b"GET /v1/models HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n",
    "a bad chunk size": (b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Content-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    "a garbled request line": b"GET\x01 /v1/models HTTP/1.1\r\nHost: x\r\n\r\n",
}


def _send(port: int, raw: bytes) -> tuple[str, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(raw)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    return status, headers, body


@pytest.fixture(scope="module", params=[1, 2], ids=["one-worker", "two-workers"])
def server(request, tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("http") / "home", "--no-auth", "--workers", str(request.param)).start()
    yield running
    running.stop()


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_malformed_http_is_a_json_400_in_openais_shape(server, case):
    status, headers, body = _send(server.port, BROKEN[case])
    assert status.startswith("HTTP/1.1 400"), (case, status)
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_http" and error["type"] == "invalid_request_error" and error["param"] is None
    assert "not valid HTTP/1.1" in error["message"]


def test_the_server_goes_on_serving_after_malformed_requests(server):
    for raw in BROKEN.values():
        _send(server.port, raw)
    assert [m.id for m in server.client().models.list()]
