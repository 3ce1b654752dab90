"""Errors a user can act on.

Every expected failure is a :class:`RagkitError` whose message names the file or field and
says what to do. The CLI prints such errors as one line (no stack trace) and maps them to an
exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any


class RagkitError(Exception):
    """An expected, user-facing failure."""

    exit_code = 1


class ConfigError(RagkitError):
    """A setting has a value ragkit cannot use."""

    exit_code = 2


class UsageError(RagkitError):
    """The command line or API call itself is wrong (missing path, bad option value)."""

    exit_code = 2


class EmbedderMismatchError(RagkitError):
    """The collection was built by a different embedder than the one configured."""


class ModelUnavailableError(RagkitError):
    """The local embedding model file is missing or does not match its pinned checksum."""


class GeneratorError(RagkitError):
    """The chat model refused the request for a reason retries cannot fix (bad key, unknown model)."""


class TransientModelError(RagkitError):
    """The model could not be reached or kept failing after retries (rate limit, 5xx, timeout).

    Callers fall back to the extractive answer with a visible warning."""


class GoldSetError(RagkitError):
    """A gold question file is empty or malformed."""


class InvalidParameter(RagkitError):
    """A request's parameter has a value that cannot be used (a malformed filter, an unknown
    previous response). ``param`` names it, so a surface can point the caller at the field."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


class NotFound(RagkitError):
    """An object (a vector store, a conversation, a response) does not exist or is not the
    caller's to see. ``kind`` and ``object_id`` say which; ``param`` names the field that held it."""

    def __init__(self, kind: str, object_id: str, param: str | None = None) -> None:
        super().__init__(f"No {kind} found with id '{object_id}'.")
        self.kind = kind
        self.object_id = object_id
        self.param = param


def json_kind(value: Any) -> str:
    """What a JSON value is, in OpenAI's words ("but got a string instead"), for the messages
    that name a value of the wrong type."""
    if value is None:
        return "null"
    for kind, said in ((bool, "a boolean"), (int, "an integer"), (float, "a decimal number"), (str, "a string"),
                       (list, "an array"), (dict, "an object")):
        if isinstance(value, kind):
            return said
    return type(value).__name__
