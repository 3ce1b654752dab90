"""Malformed HTTP answered in OpenAI's error shape.

uvicorn answers a request it cannot parse (a broken request line, an invalid header, a bad
chunked body) itself, before ragkit's app sees it, with a ``text/plain`` 400 ``Invalid HTTP
request received.`` A client that reads every error body as JSON (the openai SDKs, typed clients
in other languages) then reports a parse failure instead of the reason. This protocol is uvicorn's
own (httptools when installed, else h11) with that one answer replaced: the same 400, with
``connection: close`` as before, and a body in OpenAI's shape (:mod:`ragkit.server.errors`)
whose ``code`` is ``invalid_http``. Nothing else about parsing changes.
"""

from __future__ import annotations

import json

try:  # uvicorn's choice for "auto": httptools when it is installed
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _UvicornProtocol
except ImportError:  # pragma: no cover - depends on the install
    from uvicorn.protocols.http.h11_impl import H11Protocol as _UvicornProtocol  # type: ignore[assignment]


def error_body(reason: str) -> bytes:
    """The JSON body of the 400: uvicorn's reason and what to check."""
    message = (f"{reason.rstrip('.')}: the request line, a header or the chunked body is not valid HTTP/1.1. "
               "Check the client or proxy that sent it; an HTTP library sends valid requests.")
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                 "code": "invalid_http"}}).encode()


class JsonErrorProtocol(_UvicornProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP/1.1 protocol whose parse-failure 400 is JSON."""

    def send_400_response(self, msg: str) -> None:
        body = error_body(msg)
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
                 b"connection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
