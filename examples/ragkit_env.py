"""What every example needs from its environment: where ragkit serves, its key, a chat model,
and a vector store with the sample corpus.

The examples read ``RAGKIT_BASE_URL`` (default ``http://127.0.0.1:8080/v1``) and
``RAGKIT_API_KEY`` (``ragkit serve --no-auth`` accepts any value). ``RAGKIT_VECTOR_STORE_ID``
names a store to answer over; without it the store named ``ragkit-examples`` is reused, or
created from the sample corpus (``corpora/halvard``) once. ``RAGKIT_CHAT_MODEL`` picks the chat
model; without it the first chat model ``/v1/models`` lists is used.

Kept free of any client library but the ``openai`` SDK, so each example imports only the
library it shows.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import openai

DEFAULT_BASE_URL = "http://127.0.0.1:8080/v1"
#: ragkit's own models: the offline answerer and the embedder. Any other model it lists is a chat model.
OFFLINE_MODEL = "ragkit-extractive"
EMBEDDING_MODEL = "ragkit-embedding"
STORE_NAME = "ragkit-examples"
CORPUS = Path(__file__).resolve().parent.parent / "corpora" / "halvard"


def base_url() -> str:
    return os.environ.get("RAGKIT_BASE_URL") or DEFAULT_BASE_URL


def api_key() -> str:
    """The key ragkit was given (``ragkit keys create``); any non-empty value without auth. The
    SDKs refuse to start without one, hence the placeholder."""
    return os.environ.get("RAGKIT_API_KEY") or "none"


def client() -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url(), api_key=api_key(), timeout=300)


def chat_model(sdk: openai.OpenAI) -> str | None:
    """The chat model behind ragkit, or None when it answers offline only."""
    wanted = os.environ.get("RAGKIT_CHAT_MODEL")
    if wanted:
        return wanted
    names = [m.id for m in sdk.models.list()]
    return next((n for n in names if n not in (OFFLINE_MODEL, EMBEDDING_MODEL)), None)


def require_chat_model(sdk: openai.OpenAI, what: str) -> str:
    """The chat model, or exit 2 with what to do: ``what`` needs a model that can call tools."""
    model = chat_model(sdk)
    if model is None:
        fail(f"{what} needs a chat model behind ragkit: start `ragkit serve` with RAGKIT_MODEL "
             "(and RAGKIT_BASE_URL for a local OpenAI-compatible server).", code=2)
    return model


def vector_store(sdk: openai.OpenAI) -> str:
    """``RAGKIT_VECTOR_STORE_ID``, or the ``ragkit-examples`` store (created from the sample
    corpus on first use, which takes a minute: every file is parsed and embedded)."""
    given = os.environ.get("RAGKIT_VECTOR_STORE_ID")
    if given:
        return given
    for store in sdk.vector_stores.list(limit=100):
        if store.name == STORE_NAME and store.file_counts.completed:
            return store.id
    files = sorted(p for p in CORPUS.iterdir() if p.is_file())
    print(f"Creating vector store {STORE_NAME!r} from {len(files)} files in {CORPUS} ...")
    store = sdk.vector_stores.create(name=STORE_NAME)
    handles = [open(path, "rb") for path in files]
    try:
        batch = sdk.vector_stores.file_batches.upload_and_poll(vector_store_id=store.id, files=handles)
    finally:
        for handle in handles:
            handle.close()
    if batch.file_counts.completed != len(files):
        fail(f"only {batch.file_counts.completed} of {len(files)} files were ingested: {batch.file_counts}")
    return store.id


def fail(message: str, code: int = 1) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def check(condition: object, message: str) -> None:
    """The examples double as smoke tests: an answer without what it should show is a failure."""
    if not condition:
        fail(message)
