"""The Chroma store on a real persistent Chroma in a temp dir: HNSW search settings and the
embedder guard."""

from __future__ import annotations

import subprocess
import sys

import chromadb
import numpy as np
import pytest

from ragkit.errors import EmbedderMismatchError
from ragkit.stores.chroma import HNSW_EF_SEARCH, ChromaStore


def _ef_search_in_a_new_process(path) -> int:
    code = ("import chromadb, sys; c = chromadb.PersistentClient(path=sys.argv[1]).get_collection('notes'); "
            "print(c.configuration['hnsw']['ef_search'])")
    return int(subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                              check=True).stdout.strip())


def test_a_new_collection_searches_with_ragkits_ef_search(tmp_path):
    store = ChromaStore(tmp_path / "chroma", "notes", "test-embedder")
    vectors = np.eye(4, dtype=np.float32)
    store.upsert(["a", "b", "c", "d"], vectors, ["A", "B", "C", "D"], [{"path": p} for p in "abcd"])
    assert [h.id for h in store.query(vectors[2], 1)] == ["c"]
    assert _ef_search_in_a_new_process(tmp_path / "chroma") == HNSW_EF_SEARCH


def test_an_older_collection_gets_its_ef_search_raised(tmp_path):
    old = chromadb.PersistentClient(path=str(tmp_path / "older"))
    old.create_collection("notes", configuration={"hnsw": {"space": "cosine"}},
                          metadata={"ragkit_embedder": "test-embedder"})
    assert _ef_search_in_a_new_process(tmp_path / "older") == 100  # Chroma's default
    ChromaStore(tmp_path / "older", "notes", "test-embedder")
    assert _ef_search_in_a_new_process(tmp_path / "older") == HNSW_EF_SEARCH


def test_another_embedders_collection_is_refused_with_what_to_do(tmp_path):
    ChromaStore(tmp_path / "chroma", "notes", "minilm-onnx:v1")
    with pytest.raises(EmbedderMismatchError, match="--collection NEW_NAME"):
        ChromaStore(tmp_path / "chroma", "notes", "bge-onnx:v1")


def test_opening_a_collection_warns_nothing(tmp_path):
    """The CLI shows every warning; reading the collection's parsed configuration made Chroma warn
    "legacy embedding function config" on every command that opened a store."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:  # recorded: the store may catch raised ones
        warnings.simplefilter("always")
        ChromaStore(tmp_path / "chroma", "notes", "test-embedder")  # made
        ChromaStore(tmp_path / "chroma", "notes", "test-embedder")  # opened again
    assert [str(w.message) for w in caught] == []


def _segment_dirs(chroma_dir) -> set[str]:
    return {p.name for p in chroma_dir.iterdir() if p.is_dir()}


def test_dropping_a_collection_removes_its_index_files_and_keeps_the_others(tmp_path):
    """Chroma's delete leaves the collection's HNSW directory on disk (chroma-core/chroma#5520):
    every deleted vector store would keep its space. The drop removes it, and only it."""
    chroma_dir = tmp_path / "chroma"
    vectors = np.random.default_rng(0).random((300, 8), dtype=np.float32)  # enough to be written to disk
    kept = ChromaStore(chroma_dir, "kept", "test-embedder")
    kept.upsert([f"k{i}" for i in range(300)], vectors, ["x"] * 300, [{"path": "k"}] * 300)
    before = _segment_dirs(chroma_dir)
    doomed = ChromaStore(chroma_dir, "doomed", "test-embedder")
    doomed.upsert([f"d{i}" for i in range(300)], vectors, ["y"] * 300, [{"path": "d"}] * 300)
    doomed.query(vectors[0], 1)
    assert len(_segment_dirs(chroma_dir) - before) == 1  # the doomed collection's index
    doomed.drop()
    assert _segment_dirs(chroma_dir) == before
    assert [h.id for h in kept.query(vectors[7], 1)] == ["k7"]
    again = ChromaStore(chroma_dir, "doomed", "test-embedder")  # the name can be used again
    again.upsert(["n"], vectors[:1], ["z"], [{"path": "n"}])
    assert [h.id for h in again.query(vectors[0], 1)] == ["n"] and again.count() == 1
