"""Errors in OpenAI's shape, so the stock SDK raises the class a client expects.

Every failure a client sees is ``{"error": {"message", "type", "param", "code"}}`` with a status
the SDK maps onto its exceptions (400 BadRequestError, 401 AuthenticationError, 403
PermissionDeniedError, 404 NotFoundError, 409 ConflictError, 413, 422, 429 RateLimitError).
A body field the endpoint does not define is OpenAI's ``Unrecognized request argument supplied:
NAME`` (``code: unknown_parameter``). Expected problems are raised as :class:`ApiError`;
ragkit's own :class:`~ragkit.errors.RagkitError` keeps its one-line message; anything else is
logged with its traceback on the server and the client only learns that it was an internal error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragkit.errors import (
    ConfigError, GeneratorError, InvalidParameter, NotFound, RagkitError, TransientModelError, UsageError,
)

log = logging.getLogger("ragkit.server")

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
          404: "invalid_request_error", 405: "invalid_request_error", 409: "invalid_request_error",
          413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or _TYPES.get(status, "server_error")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def not_found(kind: str, object_id: str, param: str | None = None) -> ApiError:
    return ApiError(404, f"No {kind} found with id '{object_id}'.", param=param, code="not_found")


class BodyTooLarge(Exception):
    """Raised while reading a request body that exceeds its limit (becomes a 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body too large: the limit is {limit} bytes.", code="request_too_large")


def from_ragkit(exc: RagkitError) -> ApiError:
    """ragkit's expected failures keep their message; the status says whose fault it was."""
    if isinstance(exc, InvalidParameter):
        return ApiError(400, str(exc), param=exc.param, code=exc.code)
    if isinstance(exc, NotFound):
        return not_found(exc.kind, exc.object_id, exc.param)
    if isinstance(exc, UsageError):
        return ApiError(400, str(exc))
    if isinstance(exc, GeneratorError):
        return ApiError(502, f"The upstream model rejected the request: {exc}", type="upstream_error")
    if isinstance(exc, TransientModelError):
        return ApiError(503, f"The upstream model is unavailable: {exc}", type="upstream_error")
    if isinstance(exc, ConfigError):
        return ApiError(500, f"Server configuration error: {exc}", type="server_error")
    return ApiError(400, str(exc))


def unknown_argument(name: str) -> ApiError:
    """OpenAI's answer to a body field it does not know: a typo (``max_num_result``) fails loudly
    instead of silently running with the default."""
    return ApiError(400, f"Unrecognized request argument supplied: {name}", param=name, code="unknown_parameter")


def param_path(loc: Sequence[Any]) -> str:
    """A pydantic error location as a parameter path: ``ranking_options.foo``, ``messages[0].role``."""
    path = ""
    for part in loc:
        if part in ("body", "query", "path") and not path:
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def from_validation(errors: Sequence[Mapping[str, Any]]) -> ApiError:
    """The 400 for a body that failed validation: an unknown field first (as OpenAI checks names
    before values), else the first invalid value."""
    unknown = next((e for e in errors if e.get("type") == "extra_forbidden"), None)
    if unknown is not None:
        return unknown_argument(param_path(unknown.get("loc", ())))
    if not errors:
        return ApiError(400, "Invalid request.", code="invalid_value")
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(loc) or None
    where = f" for '{param}'" if param else ""
    return ApiError(400, f"Invalid value{where}: {first.get('msg', 'invalid')}.", param=param, code="invalid_value")


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return too_large(exc.limit).response()

    @app.exception_handler(RagkitError)
    async def _ragkit(request: Request, exc: RagkitError) -> JSONResponse:
        return from_ragkit(exc).response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return from_validation(exc.errors()).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404:
            message = f"Unknown request URL: {request.method} {request.url.path}."
        code = {404: "unknown_url", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status_code)
        return ApiError(exc.status_code, message, code=code, headers=getattr(exc, "headers", None)).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return ApiError(500, "The server had an internal error while processing the request.",
                        type="server_error").response()
