"""Request bodies read as strict JSON (RFC 8259), the way OpenAI's API reads them.

Python's ``json.loads`` accepts more than JSON, and what it lets through broke requests deep
inside ragkit instead of being refused at the door (500s found by fuzzing the server):

* ``NaN``, ``Infinity``, ``-Infinity`` and numbers beyond a double (``1e400`` reads as ``inf``)
  are not JSON numbers; a ``page`` filter of ``NaN`` failed in ``math.ceil``, an attribute of
  ``NaN`` was stored and came back as ``null``.
* An unpaired UTF-16 surrogate escape (``"\\ud800"``) is valid JSON syntax but no character:
  the string cannot be written as UTF-8, so the tokenizer, the state database and even the
  error message that quoted it failed.
* A body nested deeper than the parser's recursion limit, or an integer of more than 4300
  digits, raised ``RecursionError`` / ``ValueError`` where only ``JSONDecodeError`` was caught.

Each is a :class:`json.JSONDecodeError`, so every route answers it as any other unparsable body:
a 400 "We could not parse the JSON body of your request" saying what is wrong and where
(:func:`ragkit.server.errors.from_validation`). :class:`JsonRoute` makes FastAPI read bodies with
:func:`loads`, and chat completions, which read their body by hand, get the same request; every
router is made with it (``tests/test_server_units.py`` checks).

Responses are written as valid UTF-8 whatever was stored. Records created before bodies were
read strictly may hold an unpaired surrogate (in the JSON kept of an assistant, a run, a stored
response), which no UTF-8 encoder writes: listing them was a 500. :class:`JsonRoute` has the dicts routes return
serialized with each such surrogate replaced by U+FFFD (:func:`valid_text`; FastAPI's own fast
encoder is kept for every other response), and :func:`utf8` does the same for the JSON ragkit
writes itself (:func:`ragkit.server.shapes.json_response`, error bodies).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, get_origin

from fastapi import Request, Response
from fastapi.datastructures import Default, DefaultPlaceholder
from fastapi.dependencies.utils import get_typed_return_annotation
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import SerializerFunctionWrapHandler, WrapSerializer
from pydantic_core import PydanticSerializationError

#: a string token, or (group 1) what :func:`_outside_strings` looks for
_TOKEN = r'"(?:[^"\\]|\\.)*"|({})'
#: one escape inside a string; ``\\\\`` is matched whole, so ``\\\\ud800`` is no surrogate
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.S)
#: the cheap test that lets almost every body skip the surrogate scan
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


class _NotFinite(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _refuse_constant(name: str) -> float:
    raise _NotFinite(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def loads(raw: bytes | str) -> Any:
    """``raw`` parsed as strict JSON; anything else is a :class:`json.JSONDecodeError` whose
    message says what to fix. Bytes may be UTF-8 (with or without a BOM), UTF-16 or UTF-32, as
    ``json.loads`` detects them, but must decode cleanly."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode(json.detect_encoding(raw))
        except UnicodeDecodeError as exc:
            encoding = exc.encoding.upper().removesuffix("-SIG")
            raise json.JSONDecodeError(f"the body is not valid {encoding} text", raw.decode("utf-8", "replace"),
                                       exc.start) from None
    else:
        text = raw
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except _NotFinite as exc:
        raise json.JSONDecodeError(f"{exc.text} is not a finite number", text,
                                   _outside_strings(text, re.escape(exc.text))) from None
    except RecursionError:
        raise json.JSONDecodeError("arrays and objects nested too deeply", text, 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits())
        limit = sys.get_int_max_str_digits()
        raise json.JSONDecodeError(f"a number has more than {limit} digits", text,
                                   _outside_strings(text, r"-?\d{%d,}" % (limit + 1))) from None
    if _MAYBE_SURROGATE.search(text):
        at = _lone_surrogate(text)
        if at is not None:
            raise json.JSONDecodeError(f"unpaired UTF-16 surrogate {text[at:at + 6]}, which is no character", text, at)
    return value


def _outside_strings(text: str, pattern: str) -> int:
    """Where ``pattern`` first matches outside the strings of ``text`` (0 if nowhere)."""
    for match in re.finditer(_TOKEN.format(pattern), text, re.S):
        if match.group(1) is not None:
            return match.start(1)
    return 0


def _lone_surrogate(text: str) -> int | None:
    """The position of the first ``\\uD800``-``\\uDFFF`` escape that is not half of a pair."""
    pending: int | None = None  # a high surrogate waiting for its low half
    end = -1
    for match in _ESCAPE.finditer(text):
        code = int(match.group(1), 16) if match.group(1) else None
        adjacent = match.start() == end
        end = match.end()
        if pending is not None:
            if adjacent and code is not None and 0xDC00 <= code <= 0xDFFF:
                pending = None
                continue
            return pending
        if code is not None and 0xD800 <= code <= 0xDBFF:
            pending = match.start()
        elif code is not None and 0xDC00 <= code <= 0xDFFF:
            return match.start()
    return pending


class JsonRequest(Request):
    """A request whose :meth:`json` is :func:`loads` (FastAPI parses bodies through it)."""

    async def json(self) -> Any:
        if not hasattr(self, "_strict_json"):
            self._strict_json = loads(await self.body())
        return self._strict_json


#: a surrogate code point: in a Python string always an unpaired one, which is no character
_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8(text: str) -> bytes:
    """``text`` as UTF-8, each lone surrogate written as U+FFFD (text without one is encoded once)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def replaced(value: Any) -> Any:
    """``value`` with each lone surrogate in its strings, keys included, replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {replaced(k): replaced(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [replaced(v) for v in value]
    return value


def valid_text(value: Any, handler: SerializerFunctionWrapHandler) -> Any:
    """Serialize a route's result as FastAPI would, unless its text cannot be UTF-8: then again
    with U+FFFD for each lone surrogate (only that rare response pays for the copy)."""
    try:
        return handler(value)
    except (UnicodeEncodeError, PydanticSerializationError):
        return handler(replaced(value))


class TextSafeJSONResponse(JSONResponse):
    """Starlette's JSON response, with a lone surrogate written as U+FFFD instead of failing."""

    def render(self, content: Any) -> bytes:
        return utf8(json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")))


class JsonRoute(APIRoute):
    """The route class of every ragkit router: its handler sees a :class:`JsonRequest`, and what
    it returns is written as valid UTF-8. A route returning a dict (or list) keeps FastAPI's
    encoder, wrapped by :func:`valid_text`; one that declares ``response_model=None`` (it may
    return a dict or a streaming response) gets :class:`TextSafeJSONResponse` for its dicts."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        model = kwargs.get("response_model", Default(None))
        if isinstance(model, DefaultPlaceholder):
            returned = get_typed_return_annotation(endpoint)
            if returned in (dict, list) or get_origin(returned) in (dict, list):
                kwargs["response_model"] = Annotated[returned, WrapSerializer(valid_text)]
        elif model is None and isinstance(kwargs.get("response_class", Default(JSONResponse)), DefaultPlaceholder):
            kwargs["response_class"] = TextSafeJSONResponse
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return strict
