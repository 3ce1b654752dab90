"""Refusal calibrated on evidence: a cross-encoder's answerability logit against the lexical rules.

Signals per question come from bench/refusal_evidence_data.py (collections built once in
``$RAGKIT_BENCH_DIR/refusal-evidence``; XQuAD subsampled to every fourth answerable question).
Rules compared, each as a curve of (false refusals, refused unanswerable) over its threshold:

* ``today``: the shipped rules (similarity, unknown names and years, coverage, asked-for kind);
* ``cross-encoder``: refuse when the best logit over the top 3 hits is below t;
* ``veto``: today's rules, but a refusal stands only when the cross-encoder agrees (logit < t);
* ``evidence``: the hard rules (nothing retrieved, unknown names or years, asked-for kind) or a
  logistic model over (best logit, best cosine similarity, coverage) below t — the rule
  ragkit/answer/evidence.py ships.

MMLongBench-Doc has no test split, so its dev questions are split by *document* (a hash of the
file name) into two folds: the logistic model and its threshold are chosen on one fold plus the
other sets and scored on the other fold, then the other way round; "held-out" figures pool both
folds, each question scored by a model that never saw its document. The shipped constants are
then fitted on everything, with the threshold chosen the same way (:func:`choose_threshold`:
every target met if possible, else no set worse than today, else the fewest MMLongBench false
refusals that keep HotpotQA and XQuAD within 5% and the sample corpus at today's refusals).
Results go under ``evidence`` in bench/results/refusal.json; the curves to docs/refusal-tradeoff.svg.

Run with:  .venv/bin/python bench/refusal_evidence_data.py --build, then
.venv/bin/python bench/calibrate_refusal_evidence.py   (about 18 + 12 minutes on 2 busy cores the
first time, most of it building and querying MMLongBench; seconds once the signals exist)
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

from common import RESULTS, ROOT, write_result
from refusal_evidence_data import collect
from refusal_svg import write_svg

sys.path.insert(0, str(ROOT))

from ragkit.answer.evidence import EVIDENCE_DEPTH, EvidenceModel, evidence_refuses  # noqa: E402

TARGET_UNANSWERABLE, TARGET_FALSE, TARGET_FALSE_QA = 0.80, 0.15, 0.05
GRID = np.round(np.arange(0.02, 0.99, 0.01), 2)


def fold(row: dict) -> int:
    return int(hashlib.sha1(row["document"].encode()).hexdigest(), 16) % 2


def logit(row: dict) -> float:
    return max(row["logits"][:EVIDENCE_DEPTH]) if row["logits"] else -12.0


def hard(row: dict) -> bool:
    """The rules kept beside the evidence model: they name a concrete absence."""
    early = row["early"] or ""
    return (early.startswith("nothing") or "never mention" in early) or row["kind_only"]


def features(row: dict, with_similarity: bool = False) -> list[float]:
    similarity = 0.5 if row["best_similarity"] is None else row["best_similarity"]
    return [logit(row), *([similarity] if with_similarity else []), row["coverage"]]


def fit_logistic(rows: list[dict], l2: float = 1e-2, with_similarity: bool = False) -> np.ndarray:
    """Class- and set-balanced logistic regression by Newton's method: (bias, w_logit, [w_sim,] w_cov)."""
    x = np.array([[1.0, *features(r, with_similarity)] for r in rows])
    y = np.array([1.0 if r["answerable"] else 0.0 for r in rows])
    groups: dict[tuple, int] = {}
    for r in rows:
        groups[(r["set"], r["answerable"])] = groups.get((r["set"], r["answerable"]), 0) + 1
    weight = np.array([1.0 / groups[(r["set"], r["answerable"])] for r in rows])
    weight *= len(rows) / weight.sum()
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ beta))
        gradient = x.T @ (weight * (p - y)) + l2 * np.r_[0, beta[1:]]
        hessian = (x.T * (weight * p * (1 - p))) @ x + l2 * np.diag([0, *([1] * (x.shape[1] - 1))])
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def model_of(beta: np.ndarray, threshold: float) -> EvidenceModel:
    b = [round(float(v), 4) for v in beta]
    return EvidenceModel(bias=b[0], logit_weight=b[1], coverage_weight=b[2], threshold=round(float(threshold), 2))


def evidence_rule(model: EvidenceModel):
    return lambda r: hard(r) or evidence_refuses(logit(r), r["coverage"], model)


def rates(rows: list[dict], refuse) -> dict:
    answerable = [refuse(r) for r in rows if r["answerable"]]
    unanswerable = [refuse(r) for r in rows if not r["answerable"]]
    return {"false_refusal": round(float(sum(answerable)) / max(1, len(answerable)), 3),
            "refused_unanswerable": round(float(sum(unanswerable)) / max(1, len(unanswerable)), 3),
            "answerable": len(answerable), "unanswerable": len(unanswerable)}


def by_set(rows: list[dict], refuse) -> dict:
    return {name: rates([r for r in rows if r["set"] == name], refuse)
            for name in ("halvard", "hotpotqa", "xquad", "mmlb")}


def meets(figures: dict) -> bool:
    """Every target: MMLongBench false refusals <= 0.15 with >= 0.80 of its unanswerable refused,
    HotpotQA and XQuAD false refusals <= 0.05, every unanswerable sample-corpus question refused."""
    m = figures["mmlb"]
    return (m["false_refusal"] <= TARGET_FALSE and m["refused_unanswerable"] >= TARGET_UNANSWERABLE
            and figures["hotpotqa"]["false_refusal"] <= TARGET_FALSE_QA
            and figures["xquad"]["false_refusal"] <= TARGET_FALSE_QA
            and figures["halvard"]["refused_unanswerable"] >= 1.0)


def no_worse(figures: dict, today: dict) -> bool:
    """No set refuses more answerable questions than today (or than its target allows, if more),
    and none refuses fewer unanswerable ones."""
    allowed = {"mmlb": TARGET_FALSE, "hotpotqa": TARGET_FALSE_QA, "xquad": TARGET_FALSE_QA, "halvard": 0.0}
    return all(f["false_refusal"] <= max(today[n]["false_refusal"], allowed[n])
               and f["refused_unanswerable"] >= today[n]["refused_unanswerable"] for n, f in figures.items())


def choose_threshold(rows: list[dict], beta: np.ndarray) -> tuple[float, str]:
    """The threshold, and which rule chose it, first that applies:

    1. ``targets``: every target met; of those, the most MMLongBench unanswerable refused;
    2. ``dominates``: no set worse than today's rules; of those, the most MMLongBench unanswerable refused;
    3. ``fewest false refusals``: HotpotQA and XQuAD within their target and the sample corpus
       refusing at least what today's rules refuse; of those, the fewest MMLongBench false refusals.
    """
    today = by_set(rows, lambda r: bool(r["early"]) or r["late"])
    table = [(float(t), by_set(rows, evidence_rule(model_of(beta, t)))) for t in GRID]
    for label, keep, best in (
            ("targets", lambda f: meets(f), lambda f: f["mmlb"]["refused_unanswerable"]),
            ("dominates", lambda f: no_worse(f, today), lambda f: f["mmlb"]["refused_unanswerable"]),
            ("fewest false refusals",
             lambda f: max(f["hotpotqa"]["false_refusal"], f["xquad"]["false_refusal"]) <= TARGET_FALSE_QA
             and f["halvard"]["refused_unanswerable"] >= today["halvard"]["refused_unanswerable"],
             lambda f: -f["mmlb"]["false_refusal"])):
        kept = [(t, f) for t, f in table if keep(f)]
        if kept:
            return max(kept, key=lambda tf: (best(tf[1]), -tf[0]))[0], label
    return 0.5, "none"


def curve(rows: list[dict], rule_at) -> list[dict]:
    return [{"t": float(t), **rates(rows, rule_at(t))} for t in GRID]


def main() -> None:
    rows = collect()
    mmlb = [r for r in rows if r["set"] == "mmlb"]
    others = [r for r in rows if r["set"] != "mmlb"]
    today = lambda r: bool(r["early"]) or r["late"]  # noqa: E731
    logit_grid = [float(g) for g in np.round(np.arange(-11.0, 8.01, 0.25), 2)]
    held_out: dict[str, bool] = {}
    folds = {}
    for k in (0, 1):
        train = others + [r for r in mmlb if fold(r) != k]
        test = [r for r in mmlb if fold(r) == k]
        beta = fit_logistic(train)
        t, chosen_by = choose_threshold(train, beta)
        model = model_of(beta, t)
        for r in test:
            held_out[r["id"]] = evidence_rule(model)(r)
        folds[f"fold{k}"] = {"model": model.__dict__, "threshold_chosen_by": chosen_by,
                             "dev": by_set(train, evidence_rule(model)),
                             "held_out_mmlb": rates(test, evidence_rule(model))}
        print(f"fold {k}", folds[f"fold{k}"], flush=True)
    beta = fit_logistic(rows)
    t, chosen_by = choose_threshold(rows, beta)
    shipped = model_of(beta, t)
    curves = {
        "today": rates(mmlb, today),
        "cross-encoder": [{"t": g, **rates(mmlb, lambda r, g=g: logit(r) < g)} for g in logit_grid],
        "veto": [{"t": g, **rates(mmlb, lambda r, g=g: today(r) and logit(r) < g)} for g in logit_grid],
        "evidence": curve(mmlb, lambda t: evidence_rule(model_of(beta, t))),
    }
    names = ("halvard", "hotpotqa", "xquad", "mmlb")
    shipped_dev = by_set(rows, evidence_rule(shipped))
    payload = {
        "questions": {n: rates([r for r in rows if r["set"] == n], lambda r: False) for n in names},
        "auc": {"best_logit": {n: auc_of([r for r in rows if r["set"] == n], logit) for n in names},
                "coverage": {n: auc_of([r for r in rows if r["set"] == n], lambda r: r["coverage"]) for n in names}},
        "today": by_set(rows, today),
        "cross_encoder_alone": scan(rows, lambda g: lambda r: logit(r) < g, logit_grid),
        "veto": scan(rows, lambda g: lambda r: today(r) and logit(r) < g, logit_grid),
        "evidence_with_similarity_weights": [round(float(v), 4) for v in fit_logistic(rows, with_similarity=True)],
        "folds": folds,
        "held_out_mmlb": rates(mmlb, lambda r: held_out[r["id"]]),
        "shipped_model": shipped.__dict__,
        "shipped_threshold_chosen_by": chosen_by,
        "shipped_dev": shipped_dev,
        "shipped_meets_targets_on_dev": meets(shipped_dev),
        "shipped_no_worse_than_today_on_dev": no_worse(shipped_dev, by_set(rows, today)),
        "mmlb_curves": curves,
    }
    for key, value in payload.items():
        if key != "mmlb_curves":
            print(key, json.dumps(value), flush=True)
    # bench/results/refusal.json holds both calibrations: the min_coverage grid and this one
    earlier = json.loads((RESULTS / "refusal.json").read_text()) if (RESULTS / "refusal.json").exists() else {}
    kept = {key: earlier[key] for key in ("min_coverage_grid",) if key in earlier}
    print(f"wrote {write_result('refusal', {**kept, 'evidence': payload})}")
    write_svg(curves, payload["held_out_mmlb"], ROOT / "docs" / "refusal-tradeoff.svg")


def scan(rows: list[dict], rule_at, grid: list[float]) -> dict:
    """A one-threshold rule over its grid: does any threshold meet every target, or leave no set
    worse than today's rules? And its figures where its MMLongBench false refusals come closest
    to today's (the fair point to compare refusals at)."""
    today = by_set(rows, lambda r: bool(r["early"]) or r["late"])
    table = [(g, by_set(rows, rule_at(g))) for g in grid]
    near = min(table, key=lambda gf: abs(gf[1]["mmlb"]["false_refusal"] - today["mmlb"]["false_refusal"]))
    return {"any_meets_targets": any(meets(f) for _, f in table),
            "any_no_worse_than_today": any(no_worse(f, today) for _, f in table),
            "at_todays_mmlb_false_refusals": {"logit_threshold": near[0], **near[1]}}


def auc_of(rows: list[dict], signal) -> float:
    """Chance that an answerable question's ``signal`` beats an unanswerable one's (ties: half)."""
    pos = [signal(r) for r in rows if r["answerable"]]
    neg = [signal(r) for r in rows if not r["answerable"]]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return round(wins / (len(pos) * len(neg)), 3)


if __name__ == "__main__":
    main()
