"""Refusal calibrated on evidence *and retrieval margins*, chosen on one half of MMLongBench-Doc dev.

The question: does a question that the collection cannot answer leave a trace in how retrieval
scored it — a best chunk that wins by less (top-1 minus top-2 of the dense, calibrated and
cross-encoder scores), a weaker best dense match, a lower calibrated chance of relevance — that
the cross-encoder's best logit and the question coverage (docs/evaluation-refusal.md) miss?

Signals: bench/refusal_evidence_data.py's (today's decisions, coverage, cross-encoder logits of
the top 5 hits) plus, recorded here, the scores of the top 10 hits (cached beside them). Every
feature is a property of the scores, never of particular questions.

Protocol: MMLongBench-Doc dev is split by document (a hash of the file name, as in
bench/calibrate_refusal_evidence.py) into half A and half B. A class- and set-balanced logistic
model is fitted on half A plus the sample corpus, HotpotQA and XQuAD; its threshold is chosen on
half A (every target met if any threshold does, the most unanswerable refused among those; else
the largest refused-minus-false-refusals on half A that keeps HotpotQA and XQuAD false refusals
at or under 5%). Figures are reported on half B and on HotpotQA / XQuAD. The trade-off curve over
the threshold (half B) goes to docs/refusal-margins.svg; results under ``margins`` in
bench/results/refusal.json.

Run with:  .venv/bin/python bench/calibrate_refusal_margins.py   (minutes: searches only; the
cross-encoder logits come from the cached signals)
"""

from __future__ import annotations

import json
import sys

import numpy as np

from common import RESULTS, ROOT, write_result
from calibrate_refusal_evidence import TARGET_FALSE, TARGET_FALSE_QA, TARGET_UNANSWERABLE, auc_of, fold, hard, rates
from refusal_evidence_data import HOME, SIGNALS, collect, qa_sets

sys.path.insert(0, str(ROOT))

from ragkit import KnowledgeBase  # noqa: E402
from ragkit.answer.evidence import EVIDENCE_DEPTH  # noqa: E402
from ragkit.eval.chart import tradeoff_svg  # noqa: E402

SETS = ("halvard", "hotpotqa", "xquad", "mmlb")
DEPTH = 10
GRID = np.round(np.arange(0.02, 0.99, 0.01), 2)


def record_scores(name: str) -> dict[str, list[dict]]:
    """Per question id: the top ``DEPTH`` hits' dense, BM25 and calibrated scores (cached)."""
    cached = SIGNALS / f"{name}-scores.json"
    if cached.exists():
        return json.loads(cached.read_text())
    kb = KnowledgeBase(HOME, collection=f"r-{name}")
    out = {}
    for item in qa_sets()[name][1]:
        hits = kb.search(item.question, k=DEPTH).hits
        out[item.id] = [{"score": h.score, "dense": h.dense_score, "bm25": h.bm25_score} for h in hits]
    kb.close()
    cached.write_text(json.dumps(out))
    return out


def _margin(values: list[float]) -> float:
    ordered = sorted(values, reverse=True)
    return ordered[0] - ordered[1] if len(ordered) > 1 else (ordered[0] if ordered else 0.0)


def features(row: dict) -> dict[str, float]:
    """Evidence (cross-encoder) and retrieval-margin features of one question."""
    logits = row["logits"] or [-12.0]
    hits = row["hits"]
    dense = [h["dense"] for h in hits if h["dense"] is not None] or [0.0]
    calibrated = [h["score"] for h in hits] or [0.0]
    bm25 = [h["bm25"] for h in hits if h["bm25"] is not None]
    return {"ce_best": max(logits[:EVIDENCE_DEPTH]),
            "ce_margin": _margin(logits),
            "coverage": row["coverage"],
            "dense_best": max(dense),
            "dense_margin": _margin(dense),
            "calibrated_best": max(calibrated),
            "calibrated_margin": _margin(calibrated),
            "bm25_margin": 1 - sorted(bm25)[-2] / sorted(bm25)[-1] if len(bm25) > 1 and max(bm25) > 0 else 0.0}


FEATURES = ("ce_best", "ce_margin", "coverage", "dense_best", "dense_margin", "calibrated_best",
            "calibrated_margin", "bm25_margin")


def fit(rows: list[dict], names: tuple[str, ...], l2: float = 1e-2) -> np.ndarray:
    """Class- and set-balanced logistic regression (Newton), features standardised on ``rows``."""
    x = np.array([[r["f"][n] for n in names] for r in rows])
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    x = np.c_[np.ones(len(rows)), (x - mean) / std]
    y = np.array([1.0 if r["answerable"] else 0.0 for r in rows])
    counts: dict[tuple, int] = {}
    for r in rows:
        counts[(r["set"], r["answerable"])] = counts.get((r["set"], r["answerable"]), 0) + 1
    w = np.array([1.0 / counts[(r["set"], r["answerable"])] for r in rows])
    w *= len(rows) / w.sum()
    beta = np.zeros(x.shape[1])
    reg = l2 * np.diag([0.0] + [1.0] * (x.shape[1] - 1))
    for _ in range(100):
        p = 1 / (1 + np.exp(-x @ beta))
        step = np.linalg.solve((x.T * (w * p * (1 - p))) @ x + reg, x.T @ (w * (p - y)) + reg @ beta)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    scale = np.r_[1.0, 1 / std]
    raw = beta * scale
    raw[0] -= float((beta[1:] * mean / std).sum())
    return raw  # bias, then one weight per feature in raw units


def chance(row: dict, names: tuple[str, ...], beta: np.ndarray) -> float:
    z = beta[0] + sum(b * row["f"][n] for b, n in zip(beta[1:], names))
    return float(1 / (1 + np.exp(-z)))


def rule(names: tuple[str, ...], beta: np.ndarray, t: float):
    return lambda r: hard(r) or chance(r, names, beta) < t


def choose(half_a: list[dict], qa: list[dict], names, beta) -> tuple[float, str]:
    def qa_ok(t: float) -> bool:
        return all(rates([r for r in qa if r["set"] == s], rule(names, beta, t))["false_refusal"] <= TARGET_FALSE_QA
                   for s in ("hotpotqa", "xquad"))
    table = [(float(t), rates(half_a, rule(names, beta, t))) for t in GRID]
    meeting = [(t, f) for t, f in table if f["false_refusal"] <= TARGET_FALSE
               and f["refused_unanswerable"] >= TARGET_UNANSWERABLE and qa_ok(t)]
    if meeting:
        return max(meeting, key=lambda tf: tf[1]["refused_unanswerable"])[0], "targets"
    allowed = [(t, f) for t, f in table if qa_ok(t)]
    if not allowed:
        return 0.5, "none"
    return max(allowed, key=lambda tf: (tf[1]["refused_unanswerable"] - tf[1]["false_refusal"], -tf[0]))[0], "youden"


def load_rows() -> list[dict]:
    rows = collect(SETS)
    scores = {name: record_scores(name) for name in SETS}
    for r in rows:
        r["hits"] = scores[r["set"]].get(r["id"], [])
        r["f"] = features(r)
    return rows


def main() -> None:
    rows = load_rows()
    mmlb = [r for r in rows if r["set"] == "mmlb"]
    half = {"A": [r for r in mmlb if fold(r) == 0], "B": [r for r in mmlb if fold(r) == 1]}
    others = [r for r in rows if r["set"] != "mmlb"]
    today = lambda r: bool(r["early"]) or r["late"]  # noqa: E731
    auc = {n: {s: auc_of([r for r in rows if r["set"] == s], lambda r, n=n: r["f"][n]) for s in SETS}
           for n in FEATURES}
    auc["mmlb half A"] = {n: auc_of(half["A"], lambda r, n=n: r["f"][n]) for n in FEATURES}
    models = {"evidence (ce_best + coverage)": ("ce_best", "coverage"),
              "evidence + margins": FEATURES}
    payload: dict = {"questions": {k: len(v) for k, v in half.items()}, "auc": auc,
                     "today": {"half B": rates(half["B"], today),
                               **{s: rates([r for r in others if r["set"] == s], today) for s in SETS[:3]}},
                     "models": {}}
    curves = {}
    for label, names in models.items():
        beta = fit(others + half["A"], names)
        t, how = choose(half["A"], others, names, beta)
        refuse = rule(names, beta, t)
        payload["models"][label] = {
            "weights": dict(zip(("bias", *names), [round(float(b), 4) for b in beta])), "threshold": t,
            "chosen_by": how, "half A": rates(half["A"], refuse), "half B": rates(half["B"], refuse),
            **{s: rates([r for r in others if r["set"] == s], refuse) for s in SETS[:3]}}
        curves[label] = [{"t": float(g), **rates(half["B"], rule(names, beta, float(g)))} for g in GRID]
        payload["models"][label]["curve_half_B"] = curves[label]
        print(label, json.dumps({k: v for k, v in payload["models"][label].items() if k != "curve_half_B"}), flush=True)
    print("auc", json.dumps(auc), flush=True)
    print("today", json.dumps(payload["today"]), flush=True)
    marks = {"shipped rules": (payload["today"]["half B"]["false_refusal"],
                               payload["today"]["half B"]["refused_unanswerable"])}
    for label, m in payload["models"].items():
        marks[f"{label}, t={m['threshold']:.2f}"] = (m["half B"]["false_refusal"], m["half B"]["refused_unanswerable"])
    svg = tradeoff_svg({k: [(p["false_refusal"], p["refused_unanswerable"], p["t"]) for p in v] for k, v in curves.items()},
                       marks, target=(TARGET_FALSE, TARGET_UNANSWERABLE),
                       title=f"Refusal trade-off, MMLongBench-Doc dev half B ({len(half['B'])} questions)")
    (ROOT / "docs" / "refusal-margins.svg").write_text(svg)
    earlier = json.loads((RESULTS / "refusal.json").read_text()) if (RESULTS / "refusal.json").exists() else {}
    print(f"wrote {write_result('refusal', {**{k: v for k, v in earlier.items() if k not in ('benchmark', 'machine', 'when')}, 'margins': payload})}")


if __name__ == "__main__":
    main()
