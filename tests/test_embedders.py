"""The offline embedder (real ONNX model) and the offline tiktoken setup."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest


def test_minilm_sanity_pair(embedder):
    a, b, c = embedder.embed(["the cat sat on the mat", "a cat was sitting on a mat", "quarterly tax filing deadline"])
    assert float(a @ b) == pytest.approx(0.94, abs=0.02)
    assert float(a @ c) < 0.3
    assert np.allclose(np.linalg.norm([a, b, c], axis=1), 1.0, atol=1e-5)


def test_vectors_do_not_depend_on_batch_composition(embedder):
    alone = embedder.embed(["short text"])[0]
    batched = embedder.embed(["short text", "a considerably longer text " * 20])[0]
    assert np.allclose(alone, batched, atol=1e-5)


def test_order_is_preserved_with_length_sorting(embedder):
    texts = ["x " * n + f"marker {n}" for n in (50, 1, 20, 3)]
    together = embedder.embed(texts)
    for text, vector in zip(texts, together):
        assert np.allclose(embedder.embed([text])[0], vector, atol=1e-5)


def test_truncation_beyond_256_wordpieces_is_counted(embedder):
    before = embedder.truncated
    embedder.embed(["word " * 400])
    assert embedder.truncated == before + 1
    assert embedder.count_wordpieces("word " * 400) > 256


def test_model_file_checksum_is_verified():
    from ragkit.embedders.minilm_onnx import MODEL_SHA256, model_file

    path = model_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MODEL_SHA256


def test_tiktoken_loads_from_packaged_files_into_an_empty_cache(tmp_path, monkeypatch):
    import ragkit.tiktoken_offline as offline

    cache = tmp_path / "tk"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.setattr(offline, "_prepared", None)
    offline.ensure_tiktoken_offline()
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    cached = cache / hashlib.sha1(url.encode()).hexdigest()
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == offline.PINNED_SHA256["cl100k_base"]
    import tiktoken.load

    # Read through tiktoken's own cache logic: with the network guard on, a miss would fail.
    data = tiktoken.load.read_file_cached(url, offline.PINNED_SHA256["cl100k_base"])
    assert len(data) > 1_000_000
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(cache)


def test_no_network_is_reachable_from_tests():
    import socket

    from netguard_impl import BlockedConnection

    with pytest.raises(BlockedConnection):
        socket.create_connection(("93.184.216.34", 80), timeout=1)
