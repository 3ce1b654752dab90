"""Errors in OpenAI's shape, so the stock SDK raises the class a client expects.

Every failure a client sees is ``{"error": {"message", "type", "param", "code"}}`` with a status
the SDK maps onto its exceptions (400 BadRequestError, 401 AuthenticationError, 403
PermissionDeniedError, 404 NotFoundError, 409 ConflictError, 413, 422, 429 RateLimitError).
A body field the endpoint does not define is OpenAI's ``Unrecognized request argument supplied:
NAME`` (``code: unknown_parameter``); a value of the wrong JSON type (bodies are validated
strictly, :class:`ragkit.server.params.Body`) is OpenAI's ``Invalid type for 'NAME': expected
an integer, but got a string instead.`` (``code: invalid_type``). Expected problems are raised
as :class:`ApiError`; ragkit's own :class:`~ragkit.errors.RagkitError` keeps its one-line
message; anything else is logged with its traceback on the server and the client only learns
that it was an internal error.

Every response carries OpenAI's ``x-request-id`` header (``req_`` and 32 hex digits, given by
:mod:`ragkit.server.guard`; the SDK shows it as ``_request_id``); the same id is in the audit
record and in the server's log lines about the request, so a client's error can be found there.
The error body keeps OpenAI's shape: the id is in the header only.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ragkit.errors import (
    ConfigError, GeneratorError, InvalidParameter, NotFound, RagkitError, TransientModelError, UsageError, json_kind,
)
from ragkit.server.json_body import TextSafeJSONResponse

log = logging.getLogger("ragkit.server")
#: the header OpenAI's API answers every request with, and the SDKs read
REQUEST_ID_HEADER = "x-request-id"
#: the id of the request being answered, for log lines written while answering it
REQUEST_ID: ContextVar[str | None] = ContextVar("ragkit_request_id", default=None)

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
        # a message may quote stored text: written as valid UTF-8 whatever it holds
        return TextSafeJSONResponse(self.body(), status_code=self.status, headers=self.headers)


class ParamError(ValueError):
    """A check of a whole request body (a model validator) that fails because of one parameter:
    the 400 names ``param``, where pydantic alone would place the error on the body itself."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def new_request_id() -> str:
    """A request id in OpenAI's format: ``req_`` and 32 hex digits."""
    return "req_" + secrets.token_hex(16)


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


#: where FastAPI says a value came from: the first element of a location, never a parameter
_LOCATIONS = ("body", "query", "path", "header", "cookie")
#: the names pydantic gives the members of a union in an error's location (``query: str | list[str]``
#: fails as ``('query', 'str')`` and ``('query', 'list[str]')``): types, never parameters
_TYPE_NAMES = {"str", "int", "float", "bool", "bytes", "none", "dict", "list", "tuple", "set", "any"}
_MODEL_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
#: pydantic's wording of a wrong type, joined over a union's members ("a valid string or a valid list")
_SHOULD = "Input should be "
#: how pydantic starts the message of a validator's ValueError: its own words, not the client's business
_VALUE_ERROR = "Value error, "
#: what a value of the wrong JSON type should have been, by the type of pydantic's (strict) error
_EXPECTED = {"int_type": "an integer", "float_type": "a number", "bool_type": "a boolean", "string_type": "a string",
             "list_type": "an array", "dict_type": "an object", "model_type": "an object",
             "model_attributes_type": "an object"}


def union_tags(errors: Sequence[Mapping[str, Any]]) -> set[tuple[int, str]]:
    """(position, name) of the location parts that name a union's member rather than a field: a
    parametrised type (``list[str]``, ``function-after[...]``), or a plain type's name (``str``)
    or a model's class name that sibling errors replace by another member at the same place (a
    union's members fail together). A field named like a type (an upload's ``bytes``) has no
    such siblings: it stays in the parameter's name."""
    tags: set[tuple[int, str]] = set()
    locs = [tuple(e.get("loc", ())) for e in errors]
    for loc in locs:
        for i, part in enumerate(loc):
            if not isinstance(part, str) or (i == 0 and part in _LOCATIONS):
                continue
            if "[" in part or "(" in part:
                tags.add((i, part))
            elif (part in _TYPE_NAMES or _MODEL_NAME.match(part)) and any(
                    o[:i] == loc[:i] and len(o) > i and o[i] != part for o in locs):
                tags.add((i, part))
    return tags


def param_path(loc: Sequence[Any], tags: set[tuple[int, str]] | None = None) -> str:
    """A pydantic error location as a parameter path: ``ranking_options.foo``, ``messages[0].role``.
    The location's kind (``body``...) and the names of union members (``tags``) are left out."""
    path = ""
    for i, part in enumerate(loc):
        if (i == 0 and part in _LOCATIONS) or (tags and (i, part) in tags):
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def within(errors: Sequence[Mapping[str, Any]], *prefix: str | int) -> list[dict[str, Any]]:
    """pydantic's ``errors`` for a part of the body validated on its own (``tools[0]``), located
    in the whole body, so :func:`from_validation` names the parameter by its full path."""
    return [{**e, "loc": (*prefix, *e.get("loc", ()))} for e in errors]


def _wrong_type(errors: Sequence[Mapping[str, Any]], param: str) -> ApiError | None:
    """OpenAI's 400 for a value of the wrong JSON type, when that is all that is wrong with it:
    "Invalid type for 'n': expected an integer, but got a string instead" (each member of a union
    is one of the types expected)."""
    if not errors or any(e.get("type") not in _EXPECTED for e in errors):
        return None
    expected = list(dict.fromkeys(_EXPECTED[str(e["type"])] for e in errors))
    said = expected[0] if len(expected) == 1 else ", ".join(expected[:-1]) + " or " + expected[-1]
    return ApiError(400, f"Invalid type for '{param}': expected {said}, but got {json_kind(errors[0].get('input'))} "
                         "instead.", param=param, code="invalid_type")


def _body_itself(error: Mapping[str, Any]) -> ApiError | None:
    """The 400 for a body that is not a JSON object at all (not JSON, missing, a list...)."""
    kind, loc = error.get("type"), tuple(error.get("loc", ()))
    if kind == "json_invalid":
        detail = (error.get("ctx") or {}).get("error")
        where = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        return ApiError(400, "We could not parse the JSON body of your request: it is not valid JSON"
                             f"{f' ({detail}{where})' if detail else ''}. Send a JSON object "
                             "(Content-Type: application/json).")
    if loc == ("body",) and kind == "value_error":
        # a check of the whole body (a model validator) failed: its message, not "not a JSON object"
        cause = (error.get("ctx") or {}).get("error")
        param = getattr(cause, "param", None)
        where = f" for '{param}'" if param else ""
        message = str(cause) if cause is not None else str(error.get("msg", "invalid request"))
        return ApiError(400, f"Invalid value{where}: {message.rstrip('.')}.", param=param, code="invalid_value")
    if loc == ("body",):
        problem = "is missing" if kind == "missing" else "is not a JSON object"
        return ApiError(400, f"The request body {problem}: send a JSON object (Content-Type: application/json).")
    return None


def from_validation(errors: Sequence[Mapping[str, Any]]) -> ApiError:
    """The 400 for a body that failed validation: an unknown field first (as OpenAI checks names
    before values), else the first invalid value, named by its path (``messages[0].role``); a
    value of the wrong JSON type is OpenAI's ``Invalid type for 'n': expected an integer, but got
    a string instead`` (a union's members each an expected type); other complaints of a union's
    members are joined (``Input should be a valid string or a valid list``); a missing field is
    OpenAI's ``Missing required parameter``."""
    unknown = next((e for e in errors if e.get("type") == "extra_forbidden"), None)
    if unknown is not None:
        return unknown_argument(param_path(unknown.get("loc", ())))
    if not errors:
        return ApiError(400, "Invalid request.", code="invalid_value")
    itself = _body_itself(errors[0])
    if itself is not None:
        return itself
    missing = param_path(errors[0].get("loc", ())) if errors[0].get("type") == "missing" else None
    if missing:  # OpenAI's words and code for it
        return ApiError(400, f"Missing required parameter: '{missing}'.", param=missing,
                        code="missing_required_parameter")
    tags = union_tags(errors)
    param = param_path(errors[0].get("loc", ()), tags) or None
    here = [e for e in errors if (param_path(e.get("loc", ()), tags) or None) == param]
    wrong_type = _wrong_type(here, param) if param else None
    if wrong_type is not None:
        return wrong_type
    said = list(dict.fromkeys(str(e.get("msg", "invalid")).removeprefix(_VALUE_ERROR) for e in here))
    if len(said) > 1 and all(m.startswith(_SHOULD) for m in said):
        rest = [m[len(_SHOULD):] for m in said]
        message = _SHOULD + (", ".join(rest[:-1]) + " or " + rest[-1])
    else:
        message = said[0]
    where = f" for '{param}'" if param else ""
    return ApiError(400, f"Invalid value{where}: {message.rstrip('.')}.", param=param, code="invalid_value")


#: the methods a 405's ``Allow`` may list (the routes serve no others)
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """The methods the app serves at the request's URL, each asked of the routes as that request
    would be. Starlette's 405 names only the methods of the first route whose path matched, so
    ``OPTIONS /v1/files`` was told ``Allow: POST`` though ``GET`` lists files; RFC 9110 has the
    ``Allow`` of a 405 name all of them."""
    routes = request.app.routes
    return [method for method in _METHODS
            if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)]


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
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 404:
            message = f"Unknown request URL: {request.method} {request.url.path}."
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            use = ", ".join(allowed[:-1]) + " or " + allowed[-1] if len(allowed) > 1 else "".join(allowed)
            message = f"{request.method} is not allowed on {request.url.path}: use {use}."
        code = {404: "unknown_url", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status_code)
        return ApiError(exc.status_code, message, code=code, headers=headers or None).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Answered outside the request guard (Starlette's outermost layer), so the id is set here.
        request_id = getattr(request.state, "request_id", None)
        log.exception("internal error on %s %s (request %s)", request.method, request.url.path, request_id)
        return ApiError(500, "The server had an internal error while processing the request.", type="server_error",
                        headers={REQUEST_ID_HEADER: request_id} if request_id else None).response()
