"""Shared fixtures. Everything is real: Chroma in temp dirs, the ONNX model, the openai SDK over HTTP."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent
CORPUS = ROOT / "corpora" / "halvard"
GOLD = ROOT / "corpora" / "halvard.gold.jsonl"
SHARED = ROOT.parent / "shared" / "datasets"

sys.path.insert(0, str(TESTS))
from netguard_impl import install as install_network_guard  # noqa: E402

install_network_guard()


@pytest.fixture(scope="session", autouse=True)
def offline_environment(tmp_path_factory):
    """No API keys from the developer's shell, an empty tiktoken cache, and a guarded network,
    also for subprocesses (tests/netguard/sitecustomize.py via PYTHONPATH)."""
    for name in list(os.environ):
        if name.startswith("RAGKIT_") or name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            del os.environ[name]
    cache = tmp_path_factory.mktemp("cache")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache / "tiktoken")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    guard = str(TESTS / "netguard")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (guard, os.environ.get("PYTHONPATH")) if p)
    yield


@pytest.fixture(scope="session")
def embedder():
    from ragkit.embedders.minilm_onnx import MiniLMOnnxEmbedder

    return MiniLMOnnxEmbedder()


@pytest.fixture
def kb_factory(tmp_path, embedder):
    """Open knowledge bases in temp dirs that share one loaded ONNX model."""
    from ragkit import KnowledgeBase

    opened = []

    def factory(name: str = "kb", **overrides):
        shared = overrides.get("embedder", "minilm-onnx") == "minilm-onnx"
        kb = KnowledgeBase(tmp_path / name, embedder=embedder if shared else None, **overrides)
        opened.append(kb)
        return kb

    yield factory
    for kb in opened:
        kb.close()


@pytest.fixture(scope="session")
def halvard_kb(tmp_path_factory, embedder):
    """The sample corpus, ingested once per test session (read-only for tests)."""
    from ragkit import KnowledgeBase

    kb = KnowledgeBase(tmp_path_factory.mktemp("halvard") / "kb", embedder=embedder)
    report = kb.ingest([CORPUS])
    assert report.ok, report.to_dict()
    yield kb
    kb.close()


@pytest.fixture
def corpus_copy(tmp_path):
    target = tmp_path / "docs"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def openai_server():
    from openai_server import OpenAITestServer

    server = OpenAITestServer().start()
    yield server
    server.stop()


@pytest.fixture
def llm(openai_server):
    openai_server.state.reset()
    yield openai_server
    openai_server.state.reset()


def shared_dir(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared dataset not available: {path}")
    return path


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL server for the session (tests/postgres_server.py), on 127.0.0.1."""
    import tempfile

    from postgres_server import PostgresServer

    root = Path(tempfile.mkdtemp(prefix="ragkit-pg-"))
    server = PostgresServer(root / "pg").start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """The SQLAlchemy URL of a fresh, empty database on the session's PostgreSQL server."""
    return postgres_server.database()
