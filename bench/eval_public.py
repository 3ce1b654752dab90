"""Evaluate the offline default on corpora/halvard, HotpotQA-100 and XQuAD-en in every mode,
plus the sweeps behind the defaults (fusion method, alpha, top-k). Writes bench/results/eval.json
and prints the README table.

Run with:  .venv/bin/python bench/eval_public.py      (about 10 minutes on 2 cores)
"""

from __future__ import annotations

import json
import sys

from common import ROOT, SHARED, WORK, write_result

sys.path.insert(0, str(ROOT))

from ragkit import KnowledgeBase  # noqa: E402
from ragkit.eval.datasets import load_dataset, with_unanswerable, write_corpus  # noqa: E402
from ragkit.eval.gold import load_jsonl  # noqa: E402
from ragkit.eval.runner import evaluate  # noqa: E402

QA = SHARED / "qa"


def prepare() -> dict:
    sets = {"halvard": (ROOT / "corpora" / "halvard", ROOT / "corpora" / "halvard.gold.jsonl")}
    plans = {"hotpotqa": ("hotpotqa", QA / "hotpotqa-100", "xquad", QA / "xquad-en", 30),
             "xquad": ("xquad", QA / "xquad-en", "hotpotqa", QA / "hotpotqa-100", 60)}
    for name, (kind, source, other_kind, other, n) in plans.items():
        documents, items = load_dataset(kind, source)
        items = with_unanswerable(items, load_dataset(other_kind, other)[1], n)
        sets[name] = write_corpus(documents, items, WORK / "eval-data" / name)
    return sets


def row(summary: dict) -> dict:
    r, a = summary["retrieval"], summary["answer"]
    return {"hit@5": r["hit@5"], "ndcg@10": r["ndcg@10"], "mrr@10": r["mrr@10"], "f1": a["f1"],
            "contains": a["contains_gold"], "exact_match": a["exact_match"],
            "refusal_accuracy": summary["refusal"]["accuracy"],
            "false_refusal": summary["refusal"]["false_refusal_rate"],
            "citation_precision": summary["citations"]["precision"],
            "citation_validity": summary["citations"]["validity"],
            "ask_p50_ms": summary["latency_ms"].get("total", {}).get("p50")}


def main() -> None:
    results: dict = {"modes": {}, "fusion": {}, "top_k": {}}
    for name, (docs, gold_path) in prepare().items():
        kb = KnowledgeBase(WORK / "eval-kb", collection=f"eval-{name}")
        kb.ingest([docs])
        gold = load_jsonl(gold_path)
        results["modes"][name] = {}
        for mode in ("dense", "bm25", "hybrid"):
            run = evaluate(kb, gold, ks=[1, 5, 10], mode=mode)
            results["modes"][name][mode] = row(run.summary)
            print(name, mode, json.dumps({k: round(v, 3) if isinstance(v, float) else v
                                          for k, v in results["modes"][name][mode].items()}), flush=True)
        results["fusion"][name] = {}
        for label, update in [("convex a=0.3", {"fusion": "convex", "alpha": 0.3}),
                              ("convex a=0.5", {"fusion": "convex", "alpha": 0.5}),
                              ("convex a=0.7", {"fusion": "convex", "alpha": 0.7}),
                              ("rrf k=60", {"fusion": "rrf", "rrf_k": 60})]:
            summary = evaluate(kb.view(**update), gold, ks=[5, 10], mode="hybrid", answers=False).summary["retrieval"]
            results["fusion"][name][label] = {"hit@5": summary["hit@5"], "ndcg@10": summary["ndcg@10"]}
        results["top_k"][name] = {}
        for top_k in (3, 5, 8):
            run = evaluate(kb.view(top_k=top_k), gold, ks=[5], mode="hybrid")
            results["top_k"][name][str(top_k)] = {
                "contains": run.summary["answer"]["contains_gold"], "f1": run.summary["answer"]["f1"],
                "false_refusal": run.summary["refusal"]["false_refusal_rate"],
                "refusal_accuracy": run.summary["refusal"]["accuracy"]}
        kb.close()
    path = write_result("eval", results)
    print(table(results))
    print(f"wrote {path}")


def table(results: dict) -> str:
    lines = ["| corpus | mode | hit@5 | nDCG@10 | answer F1 | contains gold | refusal acc. | false refusal |",
             "|---|---|---|---|---|---|---|---|"]
    for name, modes in results["modes"].items():
        for mode, r in modes.items():
            cells = [r["hit@5"], r["ndcg@10"], r["f1"], r["contains"], r["refusal_accuracy"], r["false_refusal"]]
            lines.append(f"| {name} | {mode} | " + " | ".join("–" if v is None else f"{v:.3f}" for v in cells) + " |")
    lines += ["", "| corpus | " + " | ".join(next(iter(results["fusion"].values()))) + " |",
              "|---|" + "---|" * len(next(iter(results["fusion"].values())))]
    for name, fusions in results["fusion"].items():
        lines.append(f"| {name} nDCG@10 | " + " | ".join(f"{v['ndcg@10']:.3f}" for v in fusions.values()) + " |")
    lines += ["", "| corpus | top_k=3 contains / F1 | top_k=5 | top_k=8 |", "|---|---|---|---|"]
    for name, sweep in results["top_k"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v['contains']:.3f} / {v['f1']:.3f}" for v in sweep.values()) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
