"""``POST /v1/embeddings``: the model ragkit indexes with, behind OpenAI's embeddings API.

An application that embeds texts of its own (a LangChain or LlamaIndex ``OpenAIEmbeddings``
pointed at ``base_url``) gets the vectors ragkit searches with, offline. The model is listed by
``/v1/models`` as ``ragkit-embedding``; a request naming another model is a 404, not a silent
substitution. ``encoding_format`` is ``float`` or ``base64`` (little-endian float32, which the SDK
asks for and decodes by default). Token arrays are a 400: another tokenizer's ids mean nothing to
this model. So is ``dimensions`` other than the model's own. A text longer than the model's window
is read up to the window, as at ingest; ``usage`` counts the model's word pieces.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Response
from pydantic import Field

from ragkit.server.auth import reader
from ragkit.server.errors import ApiError, bad_request
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.meta import EMBEDDING_MODEL
from ragkit.server.params import Body
from ragkit.server.shapes import json_response
from ragkit.server.state import ServerContext, context

router = APIRouter(route_class=JsonRoute, tags=["embeddings"])
#: OpenAI's limit on inputs per request
MAX_INPUTS = 2048


class EmbeddingsBody(Body):
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None


def texts_of(raw: Any) -> list[str]:
    """The input as texts, or a 400 naming what is wrong with it."""
    texts = [raw] if isinstance(raw, str) else list(raw)
    if not texts:
        raise bad_request("input must not be empty: send a string or a non-empty list of strings.", "input")
    if not all(isinstance(t, str) for t in texts):
        raise bad_request("input must be a string or a list of strings; token arrays are not supported.", "input")
    if len(texts) > MAX_INPUTS:
        raise bad_request(f"input has {len(texts)} items; at most {MAX_INPUTS} per request.", "input")
    if any(not t.strip() for t in texts):
        raise bad_request("input must not contain empty strings.", "input")
    return texts


def encoded(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]


@router.post("/v1/embeddings", response_model=None)
def create_embeddings(body: EmbeddingsBody, ctx: ServerContext = Depends(context),
                      principal: Principal = Depends(reader)) -> Response:
    if body.model != EMBEDDING_MODEL:
        raise ApiError(404, f"The model '{body.model}' does not exist. The embedding model is '{EMBEDDING_MODEL}'.",
                       param="model", code="model_not_found")
    texts = texts_of(body.input)
    embedder = ctx.library.embedder
    if body.dimensions is not None and body.dimensions != embedder.dimension:
        raise bad_request(f"dimensions must be {embedder.dimension} (the model's own) or left out.", "dimensions")
    vectors = embedder.embed(texts)
    count = getattr(embedder, "count_wordpieces", lambda text: len(text.split()))
    tokens = sum(count(text) for text in texts)
    return json_response({
        "object": "list", "model": EMBEDDING_MODEL, "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        "data": [{"object": "embedding", "index": i, "embedding": encoded(v, body.encoding_format)}
                 for i, v in enumerate(vectors)]})
