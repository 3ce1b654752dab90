"""The offline cross-encoder with its scores kept on disk, for evaluation runs that repeat.

A cross-encoder pair costs tens of milliseconds on a shared CPU, and the sweeps behind the
defaults (rerank depth 10/20/30, weights, the same queries in ``bench/eval_public.py`` and
``bench/nfcorpus_full.py``) score the same (question, passage) pairs again and again. Scores are
keyed by the hash of the question and the passage text, so two collections built with different
embedders share them. The file lives outside the repository (``~/.cache/ragkit-eval`` unless
``RAGKIT_EVAL_CACHE`` says otherwise). Latency is therefore measured separately, with a fresh
reranker and no cache (:func:`cold_latency`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from common import percentiles

from ragkit.rerankers.cross_encoder import CrossEncoderReranker

CACHE = Path(os.environ.get("RAGKIT_EVAL_CACHE", Path.home() / ".cache" / "ragkit-eval"))


def _key(query: str, passage: str) -> str:
    return hashlib.sha1(f"{query}\0{passage}".encode()).hexdigest()


class DiskCachedCrossEncoder(CrossEncoderReranker):
    """The shipped reranker; its model runs only for pairs not already in ``path``."""

    def __init__(self, path: Path = CACHE / "cross-encoder-scores.json", **kwargs) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.disk: dict[str, float] = {}
        self._loaded_mtime = 0
        self._unsaved = 0
        self._reload()

    def _reload(self) -> None:
        """Take in scores another run saved since this one last read the file."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime != self._loaded_mtime:
            self.disk = {**json.loads(self.path.read_text()), **self.disk}
            self._loaded_mtime = mtime

    def _score_pairs(self, query: str, passages: list[str]) -> list[float]:
        keys = [_key(query, p) for p in passages]
        missing = [i for i, k in enumerate(keys) if k not in self.disk]
        if missing:
            self._reload()
            missing = [i for i, k in enumerate(keys) if k not in self.disk]
        if missing:
            fresh = super()._score_pairs(query, [passages[i] for i in missing])
            for i, value in zip(missing, fresh):
                self.disk[keys[i]] = round(float(value), 5)
            self._unsaved += len(missing)
            if self._unsaved >= 500:
                self.save()
        return [self.disk[k] for k in keys]

    def save(self) -> None:
        """Merge into the file (another run may have added scores meanwhile) and write it whole."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.disk = {**json.loads(self.path.read_text()), **self.disk}
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.disk))
        tmp.replace(self.path)
        self._loaded_mtime = self.path.stat().st_mtime_ns
        self._unsaved = 0


def cold_latency(kb, questions: list[str], depths: tuple[int, ...], k: int = 30) -> dict:
    """Hybrid search milliseconds (p50/p95) per rerank depth, each with a fresh reranker and no
    score cache: what a user's first question costs. Depth 0 is no reranker."""
    rows = {}
    for depth in depths:
        view = kb.view(mode="hybrid", reranker="cross-encoder" if depth else "none", rerank_depth=max(depth, 1))
        if depth:
            view._components["reranker"] = CrossEncoderReranker(depth=depth)
        view.search("warm-up query", k=k)
        times = []
        for question in questions:
            started = time.perf_counter()
            view.search(question, k=k)
            times.append((time.perf_counter() - started) * 1000)
        rows[str(depth)] = {key: round(v, 1) for key, v in percentiles(times).items() if key in ("p50", "p95")}
    return rows
