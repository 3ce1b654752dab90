"""Hit scores that mean the same across queries: fit and check ragkit/query/calibration.py.

For each development question it retrieves the top 10 (hybrid, and BM25-only for the lexical
model) and records every hit's raw signals (dense cosine, query-term coverage) with a label: the
hit lies on a gold passage or page. Every hit of an unanswerable question is labelled 0.

Sets (development data only, subsampled so a run takes a few minutes on 2 cores):
* NFCorpus: 80 ``dev`` queries over their judged documents plus 600 random others;
* HotpotQA-100 and 150 XQuAD-en questions, each asked of its own collection (answerable) and of
  the other's (unanswerable); 60 NFCorpus queries asked of HotpotQA's collection (unanswerable);
* MMLongBench-Doc dev: the 12 smallest PDFs with their answerable and unanswerable questions.

Questions are split by a hash of their id: one half fits (``--fit`` prints the constants for
ragkit/query/calibration.py), the other half is where the figures come from: the top-1 score of
answerable against unanswerable questions (AUC, medians), for the calibrated score and for the
fusion's per-query score it replaces. Writes bench/results/score_calibration.json and
docs/score-distribution.svg.

Run with:  .venv/bin/python bench/score_calibration.py [--fit] [--reuse]   (about 6 minutes on 2 cores the
first time; collections are kept in $RAGKIT_BENCH_DIR/score-calibration and reused)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from common import ROOT, SHARED, WORK, write_result

sys.path.insert(0, str(ROOT))

from ragkit import KnowledgeBase  # noqa: E402
from ragkit.eval.datasets import load_dataset, write_corpus  # noqa: E402
from ragkit.eval.gold import GoldItem, load_beir, load_jsonl  # noqa: E402
from ragkit.models import Record, SearchHit  # noqa: E402
from ragkit.query import calibration  # noqa: E402

HOME = WORK / "score-calibration"
MMLB = SHARED / "pdf-qa" / "mmlongbench-doc-dev"
SVG = ROOT / "docs" / "score-distribution.svg"
FEATURES = WORK / "score-calibration-signals.json"
DEPTH = 10
SEED = 7


@dataclass
class Asked:
    """One question asked of one collection, with the signals of its top hits."""

    set: str
    answerable: bool
    fit: bool
    #: per hit: (cosine or None, coverage, relevant), hybrid ranking
    hybrid: list[tuple[float | None, float, int]] = field(default_factory=list)
    lexical: list[tuple[float | None, float, int]] = field(default_factory=list)
    top_calibrated: float = 0.0
    top_fused: float = 0.0


def in_fit_half(question_id: str) -> bool:
    return hashlib.sha1(question_id.encode()).digest()[0] % 2 == 0


def relevant(hit: SearchHit, item: GoldItem) -> int:
    name = hit.source.rsplit("/", 1)[-1]
    for source in item.sources:
        if source.file in (hit.source, name) and (source.page is None or source.page == hit.page):
            return 1
    return 0


def ask(kb: KnowledgeBase, set_name: str, items: list[GoldItem], answerable: bool) -> list[Asked]:
    out = []
    for item in items:
        label = (lambda hit: relevant(hit, item)) if answerable else (lambda hit: 0)
        hybrid = kb.search(item.question, k=DEPTH)
        lexical = kb.search(item.question, k=DEPTH, mode="bm25")
        asked = Asked(set_name, answerable, in_fit_half(f"{set_name}:{item.id}"))
        asked.hybrid = [(h.dense_score, h.term_coverage or 0.0, label(h)) for h in hybrid.hits]
        asked.lexical = [(None, h.term_coverage or 0.0, label(h)) for h in lexical.hits]
        if hybrid.hits:
            asked.top_calibrated, asked.top_fused = hybrid.hits[0].score, float(hybrid.hits[0].rank_score or 0.0)
        out.append(asked)
    return out


# -- collections -----------------------------------------------------------------------------
def nfcorpus(rng: random.Random) -> tuple[list[Record], list[GoldItem]]:
    dev = load_beir(SHARED / "beir" / "nfcorpus", "dev")
    items = rng.sample([i for i in dev.gold.items if i.sources], 80)
    judged = {s.file for i in items for s in i.sources}
    others = [row for row in dev.corpus if row[0] not in judged]
    keep = judged | {row[0] for row in rng.sample(others, 600)}
    return [Record(i, text, title) for i, title, text in dev.corpus if i in keep], items


def mmlb_subset(count: int = 12) -> tuple[list, list[GoldItem], list[GoldItem]]:
    pdfs = sorted((MMLB / "docs").glob("*.pdf"), key=lambda p: p.stat().st_size)[:count]
    names = {p.name for p in pdfs}
    answerable = [i for i in load_jsonl(MMLB / "questions.jsonl").items if {s.file for s in i.sources} & names]
    unanswerable = [json.loads(line) for line in open(MMLB / "questions_unanswerable.jsonl")]
    unanswerable = [GoldItem.model_validate({k: v for k, v in row.items() if k != "file"})
                    for row in unanswerable if row.get("file") in names]
    return pdfs, answerable, unanswerable


def collect() -> list[Asked]:
    rng = random.Random(SEED)
    asked: list[Asked] = []
    qa = SHARED / "qa"
    hotpot_docs, hotpot_items = load_dataset("hotpotqa", qa / "hotpotqa-100")
    xquad_docs, xquad_items = load_dataset("xquad", qa / "xquad-en")
    xquad_items = rng.sample(xquad_items, 150)
    nf_records, nf_items = nfcorpus(rng)
    for name, docs, own, other in (("hotpotqa", hotpot_docs, hotpot_items, xquad_items),
                                   ("xquad", xquad_docs, xquad_items, hotpot_items)):
        folder, _ = write_corpus(docs, [], WORK / "score-calibration-data" / name)
        kb = KnowledgeBase(HOME, collection=name)
        kb.ingest([folder])
        asked += ask(kb, name, own, True) + ask(kb, name, other, False)
        if name == "hotpotqa":
            asked += ask(kb, "nfcorpus", nf_items[:60], False)
        kb.close()
        print(name, len(asked), flush=True)
    kb = KnowledgeBase(HOME, collection="nfcorpus")
    kb.ingest_records(nf_records)
    asked += ask(kb, "nfcorpus", nf_items, True) + ask(kb, "hotpotqa", hotpot_items[:60], False)
    kb.close()
    print("nfcorpus", len(asked), flush=True)
    pdfs, answerable, unanswerable = mmlb_subset()
    folder = WORK / "score-calibration-data" / "mmlb"
    folder.mkdir(parents=True, exist_ok=True)
    for pdf in pdfs:
        if not (folder / pdf.name).exists():
            (folder / pdf.name).symlink_to(pdf)
    kb = KnowledgeBase(HOME, collection="mmlb")
    kb.ingest([folder])
    asked += ask(kb, "mmlb", answerable, True) + ask(kb, "mmlb", unanswerable, False)
    kb.close()
    print("mmlb", len(asked), flush=True)
    return asked


# -- fitting and figures ---------------------------------------------------------------------
def fit_logistic(features: np.ndarray, labels: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """Logistic regression by Newton's method: [bias, weights...]; a feature whose weight comes
    out negative is dropped (weight 0) so the score stays monotone."""
    active = list(range(features.shape[1]))
    while True:
        x = np.hstack([np.ones((len(features), 1)), features[:, active]])
        beta = np.zeros(x.shape[1])
        for _ in range(50):
            p = 1 / (1 + np.exp(-x @ beta))
            gradient = x.T @ (labels - p) - ridge * beta
            hessian = (x.T * (p * (1 - p))) @ x + ridge * np.eye(x.shape[1])
            step = np.linalg.solve(hessian, gradient)
            beta += step
            if np.abs(step).max() < 1e-8:
                break
        negative = [a for a, b in zip(active, beta[1:]) if b < 0]
        if not negative:
            full = np.zeros(features.shape[1] + 1)
            full[0] = beta[0]
            for a, b in zip(active, beta[1:]):
                full[a + 1] = b
            return full
        active = [a for a in active if a not in negative]


def fit(asked: list[Asked]) -> dict:
    rows = [r for a in asked if a.fit for r in a.hybrid if r[0] is not None]
    x = np.array([[r[0], r[1]] for r in rows])
    y = np.array([r[2] for r in rows], dtype=float)
    hybrid = fit_logistic(x, y)
    lexical_rows = [r for a in asked if a.fit for r in a.lexical]
    lexical = fit_logistic(np.array([[r[1]] for r in lexical_rows]), np.array([r[2] for r in lexical_rows], float))
    return {"WITH_COSINE": {"bias": round(hybrid[0], 3), "cosine_weight": round(hybrid[1], 3),
                            "coverage_weight": round(hybrid[2], 3)},
            "LEXICAL_ONLY": {"bias": round(lexical[0], 3), "cosine_weight": 0.0,
                             "coverage_weight": round(lexical[1], 3)},
            "hits": len(rows), "relevant": int(y.sum())}


def auc(positive: list[float], negative: list[float]) -> float | None:
    """P(a random answerable question's top score beats an unanswerable one's), ties count half."""
    if not positive or not negative:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return round(wins / (len(positive) * len(negative)), 3)


def figures(asked: list[Asked]) -> dict:
    held = [a for a in asked if not a.fit and a.hybrid]
    out: dict = {}
    for name in ["all", *sorted({a.set for a in held})]:
        group = [a for a in held if name == "all" or a.set == name]
        yes = [a for a in group if a.answerable]
        no = [a for a in group if not a.answerable]
        entry = {"answerable": len(yes), "unanswerable": len(no)}
        for signal in ("top_calibrated", "top_fused"):
            p, n = [getattr(a, signal) for a in yes], [getattr(a, signal) for a in no]
            entry[signal] = {"auc": auc(p, n), "median_answerable": round(statistics.median(p), 3) if p else None,
                             "median_unanswerable": round(statistics.median(n), 3) if n else None}
        # what a score_threshold keeps: share of questions whose top hit survives it
        entry["top_kept_at_threshold"] = {
            f"{t:.1f}": {"answerable": round(statistics.fmean(a.top_calibrated >= t for a in yes), 3) if yes else None,
                         "unanswerable": round(statistics.fmean(a.top_calibrated >= t for a in no), 3) if no else None}
            for t in (0.2, 0.3, 0.4, 0.5)}
        hits = [r for a in group for r in a.hybrid if r[0] is not None]
        scores = [calibration.calibrated_score(c, v) for c, v, _ in hits]
        entry["hits"] = len(hits)
        entry["mean_score"] = round(statistics.fmean(scores), 3) if scores else None
        entry["relevant_rate"] = round(statistics.fmean(r[2] for r in hits), 3) if hits else None
        out[name] = entry
    return out


def histogram_svg(answerable: list[float], unanswerable: list[float], title: str, bins: int = 20) -> str:
    """Two overlaid histograms (share of questions per bin) with their medians, as plain SVG."""
    width, height, left, bottom, top, right = 640, 360, 56, 48, 40, 16
    plot_w, plot_h = width - left - right, height - top - bottom

    def shares(values: list[float]) -> list[float]:
        counts = np.histogram(np.clip(values, 0, 1), bins=bins, range=(0, 1))[0]
        return list(counts / max(1, len(values)))

    series = [("answerable", answerable, "#2b6cb0"), ("unanswerable", unanswerable, "#dd6b20")]
    peak = max(max(shares(v), default=0) for _, v, _ in series) or 1.0
    x = lambda value: left + value * plot_w  # noqa: E731
    y = lambda share: top + plot_h - share / peak * plot_h  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>']
    for tick in range(0, 11, 2):
        value = tick / 10
        parts.append(f'<line x1="{x(value)}" y1="{top + plot_h}" x2="{x(value)}" y2="{top + plot_h + 4}" stroke="#333"/>')
        parts.append(f'<text x="{x(value)}" y="{top + plot_h + 18}" text-anchor="middle">{value:.1f}</text>')
    for tick in np.linspace(0, peak, 5):
        parts.append(f'<line x1="{left - 4}" y1="{y(tick):.1f}" x2="{left}" y2="{y(tick):.1f}" stroke="#333"/>')
        parts.append(f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.0%}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 10}" text-anchor="middle">top-1 score</text>')
    parts.append(f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + plot_h / 2})">share of questions</text>')
    step = plot_w / bins
    for index, (label, values, colour) in enumerate(series):
        for b, share in enumerate(shares(values)):
            if share > 0:
                parts.append(f'<rect x="{left + b * step + 1:.1f}" y="{y(share):.1f}" width="{step - 2:.1f}" '
                             f'height="{top + plot_h - y(share):.1f}" fill="{colour}" fill-opacity="0.45"/>')
        if values:
            median = statistics.median(values)
            parts.append(f'<line x1="{x(median):.1f}" y1="{top}" x2="{x(median):.1f}" y2="{top + plot_h}" '
                         f'stroke="{colour}" stroke-width="2" stroke-dasharray="5,4"/>')
        legend_y = top + 8 + index * 18
        parts.append(f'<rect x="{left + plot_w - 210}" y="{legend_y}" width="12" height="12" fill="{colour}" fill-opacity="0.6"/>')
        parts.append(f'<text x="{left + plot_w - 192}" y="{legend_y + 10}">{label} (n={len(values)}, '
                     f'median {statistics.median(values) if values else 0:.2f})</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="print constants fitted on the fit half")
    parser.add_argument("--reuse", action="store_true", help="reuse the signals the last run collected")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.reuse and FEATURES.exists():
        asked = [Asked(**row) for row in json.loads(FEATURES.read_text())]
    else:
        asked = collect()
        FEATURES.write_text(json.dumps([vars(a) for a in asked]))
    for a in asked:  # scores as the constants in use give them (a refit changes them, not the signals)
        if a.hybrid:
            a.top_calibrated = calibration.along_ranking(
                calibration.calibrated_score(c, v) for c, v, _ in a.hybrid)[0]
    fitted = fit(asked)
    if args.fit:
        print("constants for ragkit/query/calibration.py:", json.dumps(fitted, indent=2))
    held = [a for a in asked if not a.fit and a.hybrid]
    result = {"subsample": "NFCorpus dev 80 queries over 680+ documents; HotpotQA-100; XQuAD-en 150; "
                           "MMLongBench-Doc dev 12 smallest PDFs; figures on the held-out half",
              "constants_in_use": {"WITH_COSINE": vars(calibration.WITH_COSINE),
                                   "LEXICAL_ONLY": vars(calibration.LEXICAL_ONLY)},
              "refit": fitted, "figures": figures(asked), "seconds": round(time.perf_counter() - started, 1)}
    SVG.parent.mkdir(parents=True, exist_ok=True)
    SVG.write_text(histogram_svg([a.top_calibrated for a in held if a.answerable],
                                 [a.top_calibrated for a in held if not a.answerable],
                                 "Calibrated top-1 score: answerable vs unanswerable questions (held-out dev)"))
    print(json.dumps(result["figures"]["all"], indent=2))
    print(f"wrote {write_result('score_calibration', result)} and {SVG}")


if __name__ == "__main__":
    main()
