"""``POST /v1/embeddings``: the model ragkit indexes with, through the stock SDK's
``embeddings.create`` (which asks for base64 and decodes it), so an application can embed its
own texts in the space ragkit searches."""

from __future__ import annotations

import numpy as np
import openai
import pytest
from assistant_helpers import client, server  # noqa: F401 - the module's fixtures

TEXTS = ["How long is the warranty on the sensor array?", "The console runs on three AA batteries."]


def test_the_sdk_gets_the_vectors_ragkit_indexes_with(client, embedder):
    response = client.embeddings.create(model="ragkit-embedding", input=TEXTS)
    assert response.model == "ragkit-embedding" and [d.index for d in response.data] == [0, 1]
    served = np.array([d.embedding for d in response.data], dtype=np.float32)
    assert served.shape == (2, embedder.dimension)
    assert np.allclose(served, embedder.embed(TEXTS), atol=1e-5)  # the same model, the same space
    assert response.usage.prompt_tokens == sum(embedder.count_wordpieces(t) for t in TEXTS)
    as_floats = client.embeddings.create(model="ragkit-embedding", input=TEXTS[0], encoding_format="float")
    assert np.allclose(as_floats.data[0].embedding, served[0], atol=1e-6)
    assert client.models.retrieve("ragkit-embedding").owned_by == "ragkit"
    with pytest.raises(openai.NotFoundError) as unknown:  # the message names every model the listing has
        client.models.retrieve("text-embedding-3-small")
    listed = [m.id for m in client.models.list()]
    assert unknown.value.code == "model_not_found" and all(name in unknown.value.message for name in listed)


def test_what_the_model_cannot_do_is_a_clear_error(client):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert unknown.value.code == "model_not_found" and "ragkit-embedding" in unknown.value.message
    with pytest.raises(openai.BadRequestError) as tokens:
        client.embeddings.create(model="ragkit-embedding", input=[[101, 2054, 102]])
    assert tokens.value.body["param"] == "input"
    with pytest.raises(openai.BadRequestError) as dims:
        client.embeddings.create(model="ragkit-embedding", input="hello", dimensions=128)
    assert dims.value.body["param"] == "dimensions"
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="ragkit-embedding", input=["fine", "  "])
