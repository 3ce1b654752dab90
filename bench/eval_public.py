"""Evaluate the offline default on every public set, in every mode, plus the sweeps behind the defaults.

Sets: the sample corpus (halvard, 64 questions with 20 unanswerable), HotpotQA-100 and XQuAD-en
(with questions of the other set added as unanswerable), NFCorpus (BEIR; settings read on dev,
reported on test) and MMLongBench-Doc's dev PDFs (page-level gold; text and table questions for
retrieval, all 250 answerable plus the 76 unanswerable for answers and refusal). Writes
bench/results/eval.json and prints the README tables.

Run with:  .venv/bin/python bench/eval_public.py [--sets halvard,hotpotqa,...]   (about an hour on 2 cores)
The follow-up rows (``followups``, in the default sets): HotpotQA follow-ups, hit@5 of the
follow-up as made standalone over hit@5 of the question written out, for the offline rewrite and
for multi-turn chat completions against a real ``ragkit serve`` (bench/eval_followups.py reports
them per kind); skipped with a note when the follow-up set cannot be found or built.
"""

from __future__ import annotations

import argparse
import json
import sys

from common import ROOT, SHARED, WORK, write_result

sys.path.insert(0, str(ROOT))

from quality import MMLB, mmlb_gold  # noqa: E402
from ragkit import KnowledgeBase  # noqa: E402
from ragkit.eval.datasets import load_dataset, with_unanswerable, write_corpus  # noqa: E402
from ragkit.eval.gold import GoldSet, load_beir, load_jsonl  # noqa: E402
from ragkit.eval.runner import evaluate  # noqa: E402
from ragkit.models import Record  # noqa: E402

QA = SHARED / "qa"
DEFAULT_SETS = "halvard,hotpotqa,xquad,nfcorpus,mmlb,followups"
HOME = WORK / "quality-kb"
FUSIONS = [("convex a=0.3", {"fusion": "convex", "alpha": 0.3}), ("convex a=0.5", {"fusion": "convex", "alpha": 0.5}),
           ("convex a=0.7", {"fusion": "convex", "alpha": 0.7}), ("adaptive a=0.5", {"fusion": "adaptive", "alpha": 0.5}),
           ("rrf k=60", {"fusion": "rrf", "rrf_k": 60}), ("convex+doc 0.2", {"fusion": "convex", "doc_weight": 0.2}),
           ("convex+proximity", {"fusion": "convex", "reranker": "proximity"}),
           ("convex+scope", {"fusion": "convex", "infer_scope": True})]


def qa_sets() -> dict:
    sets = {"halvard": (ROOT / "corpora" / "halvard", ROOT / "corpora" / "halvard.gold.jsonl")}
    plans = {"hotpotqa": ("hotpotqa", QA / "hotpotqa-100", "xquad", QA / "xquad-en", 30),
             "xquad": ("xquad", QA / "xquad-en", "hotpotqa", QA / "hotpotqa-100", 60)}
    for name, (kind, source, other_kind, other, n) in plans.items():
        documents, items = load_dataset(kind, source)
        items = with_unanswerable(items, load_dataset(other_kind, other)[1], n)
        sets[name] = write_corpus(documents, items, WORK / "eval-data" / name)
    return sets


def mmlb_answers_gold() -> GoldSet:
    """All 250 answerable questions and the 76 unanswerable ones, for answers and refusal."""
    gold = mmlb_gold(text_or_table=False)
    gold.items += load_jsonl(MMLB / "questions_unanswerable.jsonl").items
    return gold


def row(summary: dict) -> dict:
    r, a = summary["retrieval"], summary["answer"]
    return {"hit@5": r["hit@5"], "ndcg@10": r["ndcg@10"], "mrr@10": r["mrr@10"], "f1": a["f1"],
            "contains": a["contains_gold"], "exact_match": a["exact_match"],
            "refusal_accuracy": summary["refusal"]["accuracy"],
            "false_refusal": summary["refusal"]["false_refusal_rate"],
            "citation_precision": summary["citations"]["precision"],
            "citation_validity": summary["citations"]["validity"],
            "ask_p50_ms": summary["latency_ms"].get("total", {}).get("p50")}


def retrieval(kb, gold, **update) -> dict:
    s = evaluate(kb.view(**update), gold, ks=[5, 10], answers=False).summary["retrieval"]
    return {"hit@5": s["hit@5"], "ndcg@10": s["ndcg@10"]}


def run_qa(name: str, docs, gold_path, results: dict) -> None:
    kb = KnowledgeBase(HOME, collection=f"q-{name}-ctx")
    kb.ingest([docs])
    gold = load_jsonl(gold_path)
    results["modes"][name] = {}
    for mode in ("dense", "bm25", "hybrid"):
        results["modes"][name][mode] = row(evaluate(kb, gold, ks=[1, 5, 10], mode=mode).summary)
        print(name, mode, json.dumps(results["modes"][name][mode]), flush=True)
    results["fusion"][name] = {label: retrieval(kb, gold, **update) for label, update in FUSIONS}
    print(name, "fusion", json.dumps(results["fusion"][name]), flush=True)
    results["top_k"][name] = {}
    for top_k in (3, 5, 8):
        run = evaluate(kb.view(top_k=top_k), gold, ks=[5], mode="hybrid")
        results["top_k"][name][str(top_k)] = {
            "contains": run.summary["answer"]["contains_gold"], "f1": run.summary["answer"]["f1"],
            "false_refusal": run.summary["refusal"]["false_refusal_rate"],
            "refusal_accuracy": run.summary["refusal"]["accuracy"]}
    kb.close()


def run_nfcorpus(results: dict) -> None:
    nf = SHARED / "beir" / "nfcorpus"
    dev, test = load_beir(nf, "dev"), load_beir(nf, "test")
    kb = KnowledgeBase(HOME, collection="q-nfcorpus-ctx")
    kb.ingest_records([Record(i, t, ti) for i, ti, t in test.corpus])
    for split, beir in (("dev", dev), ("test", test)):
        name = f"nfcorpus-{split}"
        results["modes"][name] = {mode: retrieval(kb, beir.gold, mode=mode) for mode in ("dense", "bm25", "hybrid")}
        results["fusion"][name] = {label: retrieval(kb, beir.gold, **update) for label, update in FUSIONS}
        print(name, json.dumps(results["modes"][name]), json.dumps(results["fusion"][name]), flush=True)
    kb.close()


def run_mmlb(results: dict) -> None:
    kb = KnowledgeBase(HOME, collection="q-mmlb-ctx")
    kb.ingest([MMLB / "docs"])
    gold = mmlb_gold()
    results["modes"]["mmlb"] = {mode: retrieval(kb, gold, mode=mode) for mode in ("dense", "bm25", "hybrid")}
    results["fusion"]["mmlb"] = {label: retrieval(kb, gold, **update) for label, update in FUSIONS}
    answered = evaluate(kb, mmlb_answers_gold(), ks=[5, 10]).summary
    results["modes"]["mmlb"]["hybrid"] |= {"refusal_accuracy": answered["refusal"]["accuracy"],
                                           "false_refusal": answered["refusal"]["false_refusal_rate"],
                                           "contains": answered["answer"]["contains_gold"], "f1": answered["answer"]["f1"]}
    print("mmlb", json.dumps(results["modes"]["mmlb"]), json.dumps(results["fusion"]["mmlb"]), flush=True)
    kb.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default=DEFAULT_SETS)
    selected = parser.parse_args().sets.split(",")
    results: dict = {"modes": {}, "fusion": {}, "top_k": {}, "notes": []}
    qa = qa_sets()
    for name in ("halvard", "hotpotqa", "xquad"):
        if name in selected:
            run_qa(name, *qa[name], results)
    if "nfcorpus" in selected:
        run_nfcorpus(results)
    if "mmlb" in selected:
        run_mmlb(results)
    if "followups" in selected:
        results["followups"] = run_followups(results["notes"])
    path = write_result("eval" if selected == DEFAULT_SETS.split(",") else "eval-" + "-".join(selected), results)
    print(table(results))
    print(f"wrote {path}")


def followups_missing() -> str | None:
    """Why the follow-up rows cannot run (no built set and no HotpotQA-100 to build it from), or None."""
    from followups_build import HOTPOTQA, OUT

    if (OUT / "test.jsonl").exists() and (OUT / "docs").is_dir():
        return None
    if not (HOTPOTQA / "corpus.json").exists():
        return f"follow-up rows skipped: no follow-up set in {OUT} and no HotpotQA-100 at {HOTPOTQA} to build it"
    return None


def run_followups(notes: list[str]) -> dict:
    """The follow-up rows: the offline rewrite, then multi-turn chat completions through a real
    server and the stock SDK (each only when its inputs are there; a failure becomes a note)."""
    missing = followups_missing()
    if missing:
        notes.append(missing)
        print(missing, flush=True)
        return {}
    from eval_followups import chat_completions_column, load, offline_figures

    rows: dict = {"offline": offline_figures()}
    print("follow-ups (offline, hit@5 over standalone)", json.dumps(rows["offline"]["all"]), flush=True)
    try:
        rows["chat_completions"] = chat_completions_column(load("test"))[0]
        print("follow-ups (chat completions)", json.dumps(rows["chat_completions"]["all"]), flush=True)
    except Exception as exc:  # noqa: BLE001 - a server that will not start is reported, the rest still is
        notes.append(f"chat completions follow-up row skipped: {type(exc).__name__}: {exc}")
    return rows


FOLLOWUP_SURFACES = {"offline": "offline rewrite (KnowledgeBase sessions)",
                     "chat_completions": "multi-turn chat completions (ragkit serve + openai SDK)"}


def followup_table(results: dict) -> list[str]:
    """One row per surface: follow-up hit@5 / standalone hit@5 (ratio), over all conversations."""
    rows = results.get("followups") or {}
    lines = ["", "| follow-ups (HotpotQA, test) | n | follow-up hit@5 | standalone hit@5 | ratio |",
             "|---|---|---|---|---|"]
    for surface, label in FOLLOWUP_SURFACES.items():
        r = (rows.get(surface) or {}).get("all")
        if r:
            lines.append(f"| {label} | {r['n']} | {_cell(r['followup_hit@5'])} | {_cell(r['standalone_hit@5'])} | "
                         f"{_cell(r['ratio'])} |")
    return lines + [f"note: {n}" for n in results.get("notes", [])]


def _cell(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def table(results: dict) -> str:
    lines = ["| corpus | mode | hit@5 | nDCG@10 | answer F1 | contains gold | refusal acc. | false refusal |",
             "|---|---|---|---|---|---|---|---|"]
    for name, modes in results["modes"].items():
        for mode, r in modes.items():
            cells = [r.get("hit@5"), r.get("ndcg@10"), r.get("f1"), r.get("contains"), r.get("refusal_accuracy"),
                     r.get("false_refusal")]
            lines.append(f"| {name} | {mode} | " + " | ".join(_cell(v) for v in cells) + " |")
    labels = [label for label, _ in FUSIONS]
    lines += ["", "| nDCG@10 | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for name, fusions in results["fusion"].items():
        lines.append(f"| {name} | " + " | ".join(_cell(fusions[label]["ndcg@10"]) for label in labels) + " |")
    lines += ["", "| corpus | top_k=3 contains / F1 | top_k=5 | top_k=8 |", "|---|---|---|---|"]
    for name, sweep in results["top_k"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v['contains']:.3f} / {v['f1']:.3f}" for v in sweep.values()) + " |")
    return "\n".join(lines + followup_table(results))


if __name__ == "__main__":
    main()
