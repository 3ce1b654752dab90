"""Request bodies shared by several routers: chunking strategies, metadata and attributes.

Validation failures become OpenAI-shaped 400s (see :mod:`ragkit.server.errors`), naming the
parameter, so the SDK raises ``BadRequestError`` with a message a user can act on.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel, ConfigDict, Field, ValidationError, ValidatorFunctionWrapHandler, field_validator, model_validator,
)

from ragkit.server.errors import ApiError, ParamError, from_validation

Attributes = dict[str, str | bool | int | float]


class Body(BaseModel):
    """A request body (or a part of one) as OpenAI defines it: an unknown field is a 400
    ("Unrecognized request argument supplied: NAME", see :func:`ragkit.server.errors.from_validation`),
    so a misspelt parameter never silently falls back to its default. Every field the SDK sends
    for the endpoint is declared, including those ragkit accepts without acting on them.

    ``null`` for an optional parameter means "not given", as OpenAI reads it: clients that build
    the body from a typed dict send ``"rewrite_query": null`` or ``"stream": null``, and get the
    default rather than a 400.

    Values are checked strictly, as OpenAI checks them: ``"max_num_results": "5"``, ``"stream":
    "true"``, ``"max_tokens": true`` or ``"n": 1.5`` are a 400 "Invalid type for 'max_num_results':
    expected an integer, but got a string instead" (code ``invalid_type``), not coerced: a client
    that sends a string where a number belongs has a bug that a silent conversion would hide. An
    integer where a number is expected (``"temperature": 1``) is a number and stays accepted."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_not_given(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        dropped = _defaults_without_null(cls)
        return {k: v for k, v in data.items() if not (v is None and k in dropped)}


@cache
def _defaults_without_null(cls: type[BaseModel]) -> frozenset[str]:
    """The fields of ``cls`` that have a default but whose type has no ``None`` in it."""
    return frozenset(name for name, field in cls.model_fields.items()
                     if not field.is_required() and not _takes_none(field.annotation))


def _takes_none(annotation: Any) -> bool:
    return annotation is Any or annotation is type(None) or type(None) in get_args(annotation)


def refuse_unknown(cls: type[Body], data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Wrap validator for a body a route validates itself (``model_validate``), where FastAPI's
    handler of validation errors does not run: an unknown field becomes OpenAI's 400 at once,
    any other error stays a ``ValidationError`` for the route's own message. Only for top-level
    bodies: inside another model the path of the field would be lost."""
    try:
        return handler(data)
    except ValidationError as exc:
        if any(e["type"] == "extra_forbidden" for e in exc.errors()):
            raise from_validation(exc.errors()) from None
        raise


class StaticChunking(Body):
    max_chunk_size_tokens: int = Field(ge=100, le=4096)
    chunk_overlap_tokens: int = Field(ge=0)

    @model_validator(mode="after")
    def _overlap(self) -> StaticChunking:
        if self.chunk_overlap_tokens > self.max_chunk_size_tokens // 2:
            raise ValueError("chunk_overlap_tokens must not exceed half of max_chunk_size_tokens")
        return self


class ChunkingStrategy(Body):
    #: "other" is what OpenAI reports for files chunked before strategies existed, never a request's
    type: Literal["auto", "static"]
    static: StaticChunking | None = None

    @model_validator(mode="after")
    def _static(self) -> ChunkingStrategy:
        if self.type == "static" and self.static is None:
            raise ValueError("a static chunking strategy needs 'static': {max_chunk_size_tokens, chunk_overlap_tokens}")
        return self

    def sizes(self, default: tuple[int, int]) -> tuple[int, int]:
        """(chunk_size, chunk_overlap) in tokens; ``auto`` means ragkit's configured defaults."""
        if self.type == "static" and self.static is not None:
            return self.static.max_chunk_size_tokens, self.static.chunk_overlap_tokens
        return default


class ResponseStreamOptions(Body):
    """Responses' ``stream_options``: typed, so ``"include_obfuscation": "false"`` is a 400 rather
    than a truthy string. Obfuscation padding is never added, so the value changes nothing."""

    include_obfuscation: bool | None = None


class ChatStreamOptions(ResponseStreamOptions):
    """Chat completions' ``stream_options``: ``include_usage`` adds the usage chunk before ``[DONE]``."""

    include_usage: bool | None = None


class ExpiresAfter(Body):
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


def check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > 16:
        raise ValueError("metadata holds at most 16 key-value pairs")
    for key, item in value.items():
        if len(key) > 64:
            raise ValueError(f"metadata key {key[:20]!r}... is longer than 64 characters")
        if not isinstance(item, str) or len(item) > 512:
            raise ValueError(f"metadata value of {key!r} must be a string of at most 512 characters")
    return value


def check_attributes(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > 16:
        raise ValueError("attributes hold at most 16 key-value pairs")
    for key, item in value.items():
        if len(key) > 64:
            raise ValueError(f"attribute key {key[:20]!r}... is longer than 64 characters")
        if isinstance(item, str) and len(item) > 512:
            raise ValueError(f"attribute {key!r} is longer than 512 characters")
    return value


class CreateStore(Body):
    name: str | None = Field(None, max_length=256)
    description: str | None = Field(None, max_length=512)
    file_ids: list[str] = Field(default_factory=list, max_length=2000)
    metadata: dict[str, Any] | None = None
    chunking_strategy: ChunkingStrategy | None = None
    expires_after: ExpiresAfter | None = None

    _meta = field_validator("metadata")(check_metadata)


class UpdateStore(Body):
    name: str | None = Field(None, max_length=256)
    metadata: dict[str, Any] | None = None
    expires_after: ExpiresAfter | None = None

    _meta = field_validator("metadata")(check_metadata)


class CreateStoreFile(Body):
    file_id: str
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategy | None = None

    _attrs = field_validator("attributes")(check_attributes)


class UpdateStoreFile(Body):
    attributes: Attributes | None

    _attrs = field_validator("attributes")(check_attributes)


class BatchFile(Body):
    file_id: str
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategy | None = None

    _attrs = field_validator("attributes")(check_attributes)


class CreateBatch(Body):
    file_ids: list[str] | None = Field(None, max_length=2000)
    files: list[BatchFile] | None = Field(None, max_length=2000)
    attributes: Attributes | None = None
    chunking_strategy: ChunkingStrategy | None = None

    _attrs = field_validator("attributes")(check_attributes)

    @model_validator(mode="after")
    def _one_of(self) -> CreateBatch:
        if (self.file_ids is None) == (self.files is None):
            raise ParamError("give exactly one of file_ids or files", "file_ids")
        if not (self.file_ids or self.files):
            raise ParamError("a batch needs at least one file", "files" if self.files is not None else "file_ids")
        return self


def conflict_chunking(store: dict[str, Any], wanted: tuple[int, int]) -> ApiError:
    return ApiError(400, f"Vector store '{store['id']}' chunks files with max_chunk_size_tokens="
                         f"{store['chunk_size']} and chunk_overlap_tokens={store['chunk_overlap']}; a file "
                         f"cannot use {wanted[0]}/{wanted[1]} (one chunking per store: create another store).",
                    param="chunking_strategy", code="invalid_value")
