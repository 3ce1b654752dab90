"""Rerankers behind one Protocol: the offline ones on real text, the HTTP one against a real server."""

from __future__ import annotations

from ragkit.rerankers.base import Candidate, NoReranker, blend
from ragkit.rerankers.http import HttpReranker
from ragkit.rerankers.proximity import ProximityReranker, proximity
from ragkit.rerankers.sentences import SentenceReranker


def _candidates():
    return [
        Candidate("scattered", "The warranty is described later. Solar power is great. A panel of experts met.", 1.0),
        Candidate("close", "Solar panel warranty: 5 years for power output above 80 percent of rating.", 0.9),
        Candidate("off", "Firmware 4.2.0 added Bluetooth LE pairing.", 0.0),
    ]


def test_proximity_prefers_terms_close_together():
    assert proximity({"a", "b"}, "a b x x x".split()) > proximity({"a", "b"}, "a x x x b".split())
    assert proximity({"a", "b"}, "x y".split()) == 0.0
    ranked = ProximityReranker(weight=0.6).rerank("warranty of the solar panel", _candidates())
    assert max(ranked, key=ranked.get) == "close"


def test_no_reranker_keeps_the_fused_scores():
    assert NoReranker().rerank("q", _candidates()) == {"scattered": 1.0, "close": 0.9, "off": 0.0}
    assert blend(_candidates(), [0.0, 1.0, 0.5], weight=0.0)["scattered"] == 1.0


def test_sentence_reranker_finds_the_answering_sentence(embedder):
    ranked = SentenceReranker(embedder, weight=1.0).rerank("How long is the solar panel warranty?", _candidates())
    assert max(ranked, key=ranked.get) == "close"


def test_http_reranker_reads_a_rerank_endpoint_and_survives_its_failure(llm):
    reranker = HttpReranker(llm.url + "/rerank", model="test-reranker")
    ranked = reranker.rerank("solar panel warranty years", _candidates())
    assert max(ranked, key=ranked.get) == "close"
    sent = [r for r in llm.state.requests if r["path"] == "/v1/rerank"][0]["body"]
    assert sent["model"] == "test-reranker" and len(sent["documents"]) == 3
    llm.state.faults.append(("status", 500))
    assert HttpReranker(llm.url + "/rerank").rerank("q", _candidates()) == {"scattered": 1.0, "close": 0.9, "off": 0.0}
    assert HttpReranker("http://127.0.0.1:9/rerank", timeout=1).rerank("q", _candidates())["scattered"] == 1.0


def test_reranker_setting_reaches_retrieval(halvard_kb, llm):
    kb = halvard_kb.view(reranker="http", rerank_url=llm.url + "/rerank")
    result = kb.search("How long is the RG-1 rain gauge covered by warranty?", rerank=True)
    assert "rerank" in result.timings and result.hits
    assert any(r["path"] == "/v1/rerank" for r in llm.state.requests)
