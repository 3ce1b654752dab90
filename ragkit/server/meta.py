"""``/v1/models`` and ``/health``.

Two kinds of model answer: ``ragkit-extractive`` (offline, quotes the documents) and, when an
API key or base_url is configured, the configured chat model. ``ragkit-embedding`` is the model
ragkit indexes with, served on ``/v1/embeddings``. A request naming any other model
is a 404 ``model_not_found``, as OpenAI answers it, rather than a silent substitution.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends

from ragkit.server.auth import reader
from ragkit.server.errors import ApiError
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.state import ServerContext, context

router = APIRouter(route_class=JsonRoute, tags=["meta"])
EXTRACTIVE = "ragkit-extractive"
#: the embedding model's name on /v1/embeddings (ragkit.server.embeddings)
EMBEDDING_MODEL = "ragkit-embedding"
_STARTED = int(time.time())


def model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": _STARTED,
            "owned_by": "ragkit" if name in (EXTRACTIVE, EMBEDDING_MODEL) else "upstream"}


def resolve_model(ctx: ServerContext, requested: str | None) -> tuple[str, str]:
    """(model name, generator) for a request: the extractive answerer or the configured chat model."""
    name = requested or ctx.chat_model or EXTRACTIVE
    if name == EXTRACTIVE:
        return name, "extractive"
    if ctx.chat_model is not None and name == ctx.chat_model:
        return name, "openai"
    raise ApiError(404, f"The model '{name}' does not exist. Available: {', '.join(ctx.models)}.",
                   param="model", code="model_not_found")


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/v1/models")
def list_models(ctx: ServerContext = Depends(context), principal: Principal = Depends(reader)) -> dict[str, Any]:
    names = [*ctx.models, EMBEDDING_MODEL]
    return {"object": "list", "data": [model_object(m) for m in names]}


@router.get("/v1/models/{model:path}")
def retrieve_model(model: str, ctx: ServerContext = Depends(context),
                   principal: Principal = Depends(reader)) -> dict[str, Any]:
    names = [*ctx.models, EMBEDDING_MODEL]
    if model not in names:  # the listing's models, the embedding model too (answering names only its own)
        raise ApiError(404, f"The model '{model}' does not exist. Available: {', '.join(names)}.",
                       param="model", code="model_not_found")
    return model_object(model)
