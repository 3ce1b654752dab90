"""Evaluate the offline default on every public set: dense / BM25 / hybrid / hybrid + rerank, refusal, follow-ups.

Sets: the sample corpus (halvard, 64 questions with 20 unanswerable), HotpotQA-100, MuSiQue-100
and XQuAD-en (with questions of another set added as unanswerable: XQuAD's for the two multi-hop
sets, HotpotQA's for XQuAD), NFCorpus (BEIR; dev and test, settings
read on dev, reported on test; the collection of bench/nfcorpus_full.py is reused) and
MMLongBench-Doc's dev PDFs (page-level gold; text and table questions for retrieval, all 250
answerable plus the 76 unanswerable for answers and refusal). Every set gets the four retrieval
rows (the shipped default marked), refusal figures with the shipped rules and with
``refusal_evidence = "cross-encoder"``, and the follow-up ratio. Writes bench/results/eval.json
and prints the tables of docs/evaluation.md.

Run with:  .venv/bin/python bench/eval_public.py [--sets halvard,hotpotqa,...] [--max-queries N]
``--max-queries`` keeps at most N answerable questions per set (an even stride; unanswerable
ones are all kept) when a full run is too slow for the machine; MMLongBench's refusal figures
always use all 326 questions. ``--sweeps`` adds the fusion and top-k sweeps behind those
defaults; ``--update`` replaces only the given sets in bench/results/eval.json, so a slow set can
run with a limit and the others whole. The rerank rows and the evidence refusal need the ``bge`` extra (skipped with a note
without it); cross-encoder scores are kept in ``~/.cache/ragkit-eval`` (bench/rerank_cache.py).
The follow-up rows (``followups``): HotpotQA follow-ups, hit@5 of the follow-up as made
standalone over hit@5 of the question written out, offline and through a real ``ragkit serve``
(bench/eval_followups.py reports them per kind); skipped with a note when the set cannot be built.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from common import RESULTS, ROOT, SHARED, WORK, write_result

sys.path.insert(0, str(ROOT))

from quality import MMLB, mmlb_gold  # noqa: E402
from ragkit import KnowledgeBase  # noqa: E402
from ragkit.config import Settings  # noqa: E402
from ragkit.embedders.packaged import is_installed  # noqa: E402
from ragkit.eval.datasets import load_dataset, with_unanswerable, write_corpus  # noqa: E402
from ragkit.eval.gold import GoldSet, load_beir, load_jsonl  # noqa: E402
from ragkit.eval.runner import evaluate  # noqa: E402
from ragkit.models import Record  # noqa: E402

QA = SHARED / "qa"
DEFAULT_SETS = "halvard,hotpotqa,musique,xquad,nfcorpus,mmlb,followups"
HOME = WORK / "quality-kb"
DEFAULTS = Settings()
RERANK = "hybrid+rerank"
MODES = ("dense", "bm25", "hybrid", RERANK)
FUSIONS = [("convex a=0.3", {"fusion": "convex", "alpha": 0.3}), ("convex a=0.5", {"fusion": "convex", "alpha": 0.5}),
           ("convex a=0.7", {"fusion": "convex", "alpha": 0.7}), ("adaptive a=0.5", {"fusion": "adaptive", "alpha": 0.5}),
           ("rrf k=60", {"fusion": "rrf", "rrf_k": 60}), ("convex+doc 0.2", {"fusion": "convex", "doc_weight": 0.2}),
           ("convex+proximity", {"fusion": "convex", "reranker": "proximity"}),
           ("convex+scope", {"fusion": "convex", "infer_scope": True})]


def default_mode() -> str:
    """The row the shipped settings produce."""
    if DEFAULTS.reranker == "cross-encoder" and DEFAULTS.mode == "hybrid":
        return RERANK
    return DEFAULTS.mode


def limit(gold: GoldSet, n: int) -> GoldSet:
    """At most ``n`` answerable questions, at an even stride (all when ``n`` is 0). Unanswerable
    questions are kept whole: there are at most 76 per set, and refusal rates need them all."""
    answerable = [item for item in gold.items if item.answerable]
    if not n or len(answerable) <= n:
        return gold
    kept = {id(item) for item in answerable[:: math.ceil(len(answerable) / n)]}
    return GoldSet([item for item in gold.items if not item.answerable or id(item) in kept], gold.path)


class Runner:
    """The shared pieces of one run: where collections live, the query limit, one cross-encoder."""

    def __init__(self, home, template: str, max_queries: int, depth: int, sweeps: bool) -> None:
        self.home, self.template, self.max_queries, self.depth, self.sweeps = home, template, max_queries, depth, sweeps
        self.reranker = None
        if is_installed():
            from rerank_cache import DiskCachedCrossEncoder

            self.reranker = DiskCachedCrossEncoder(depth=depth)

    def kb(self, name: str) -> KnowledgeBase:
        return KnowledgeBase(self.home, collection=self.template.format(name=name))

    def view(self, kb: KnowledgeBase, mode: str, **updates) -> KnowledgeBase:
        """The collection as ``mode`` searches it (the rerank mode: hybrid + the shared cross-encoder)."""
        if mode != RERANK:
            return kb.view(mode=mode, **updates)
        view = kb.view(mode="hybrid", reranker="cross-encoder", rerank_depth=self.depth, **updates)
        view._components["reranker"] = self.reranker
        return view

    def modes(self) -> tuple[str, ...]:
        return MODES if self.reranker is not None else MODES[:3]

    def save(self) -> None:
        if self.reranker is not None:
            self.reranker.save()


def qa_sets() -> dict:
    sets = {"halvard": (ROOT / "corpora" / "halvard", ROOT / "corpora" / "halvard.gold.jsonl")}
    plans = {"hotpotqa": ("hotpotqa", QA / "hotpotqa-100", "xquad", QA / "xquad-en", 30),
             "musique": ("musique", QA / "musique-100", "xquad", QA / "xquad-en", 30),
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


def refusal_row(summary: dict, gold: GoldSet) -> dict:
    answerable = sum(1 for item in gold.items if item.answerable)
    return {"answerable": answerable, "unanswerable": len(gold.items) - answerable,
            "refused_unanswerable": summary["refusal"]["accuracy"],
            "false_refusal": summary["refusal"]["false_refusal_rate"]}


def retrieval(kb, gold, **update) -> dict:
    s = evaluate(kb.view(**update), gold, ks=[5, 10], answers=False).summary["retrieval"]
    return {"hit@5": s["hit@5"], "ndcg@10": s["ndcg@10"]}


def retrieval_mode(runner: Runner, kb, gold, mode: str) -> dict:
    outcome = evaluate(runner.view(kb, mode), gold, ks=[5, 10], answers=False)
    s = outcome.summary["retrieval"]
    search_ms = sorted(sum(r.timings.values()) * 1000 for r in outcome.results)  # the search's stages
    return {"hit@5": s["hit@5"], "ndcg@10": s["ndcg@10"], "search_p50_ms": search_ms[len(search_ms) // 2]}


def refusals(runner: Runner, kb, gold: GoldSet, default_summary: dict) -> dict:
    """The shipped rules (from the default row's run) and the evidence model, in the default mode."""
    rows = {"shipped": refusal_row(default_summary, gold)}
    if runner.reranker is not None:
        from ragkit.answer.evidence import JUDGE

        JUDGE._scorer = runner.reranker  # one model and one score cache for the whole run
        evidence = "off" if DEFAULTS.refusal_evidence == "cross-encoder" else "cross-encoder"
        summary = evaluate(runner.view(kb, default_mode(), refusal_evidence=evidence), gold, ks=[5]).summary
        rows[f"refusal_evidence={evidence}"] = refusal_row(summary, gold)
    return rows


def run_qa(runner: Runner, name: str, docs, gold_path, results: dict) -> None:
    kb = runner.kb(name)
    kb.ingest([docs])
    gold = limit(load_jsonl(gold_path), runner.max_queries)
    results["modes"][name], summaries = {}, {}
    for mode in runner.modes():
        summaries[mode] = evaluate(runner.view(kb, mode), gold, ks=[1, 5, 10]).summary
        results["modes"][name][mode] = row(summaries[mode])
        print(name, mode, json.dumps(results["modes"][name][mode]), flush=True)
    results["refusal"][name] = refusals(runner, kb, gold, summaries[default_mode()])
    print(name, "refusal", json.dumps(results["refusal"][name]), flush=True)
    if runner.sweeps:
        sweeps(kb, name, gold, results)
    kb.close()
    runner.save()


def sweeps(kb, name: str, gold: GoldSet, results: dict) -> None:
    results["fusion"][name] = {label: retrieval(kb, gold, **update) for label, update in FUSIONS}
    print(name, "fusion", json.dumps(results["fusion"][name]), flush=True)
    results["top_k"][name] = {}
    for top_k in (3, 5, 8):
        run = evaluate(kb.view(top_k=top_k), gold, ks=[5], mode="hybrid")
        results["top_k"][name][str(top_k)] = {
            "contains": run.summary["answer"]["contains_gold"], "f1": run.summary["answer"]["f1"],
            "false_refusal": run.summary["refusal"]["false_refusal_rate"],
            "refusal_accuracy": run.summary["refusal"]["accuracy"]}


def run_nfcorpus(runner: Runner, results: dict) -> None:
    """Dev and test; the collection (MiniLM, the default embedder) is bench/nfcorpus_full.py's."""
    from nfcorpus_full import NF, open_collection

    dev, test = load_beir(NF, "dev"), load_beir(NF, "test")
    kb, _ = open_collection("minilm", [Record(i, t, ti) for i, ti, t in test.corpus])
    for split, beir in (("dev", dev), ("test", test)):
        name = f"nfcorpus-{split}"
        gold = limit(beir.gold, runner.max_queries)
        results["modes"][name] = {mode: retrieval_mode(runner, kb, gold, mode) for mode in runner.modes()}
        print(name, json.dumps(results["modes"][name]), flush=True)
        if runner.sweeps:
            results["fusion"][name] = {label: retrieval(kb, gold, **update) for label, update in FUSIONS}
    kb.close()
    runner.save()


def run_mmlb(runner: Runner, results: dict) -> None:
    kb = runner.kb("mmlb")
    kb.ingest([MMLB / "docs"])
    gold = limit(mmlb_gold(), runner.max_queries)
    results["modes"]["mmlb"] = {mode: retrieval_mode(runner, kb, gold, mode) for mode in runner.modes()}
    print("mmlb", json.dumps(results["modes"]["mmlb"]), flush=True)
    answers_gold = mmlb_answers_gold()
    answered = evaluate(runner.view(kb, default_mode()), answers_gold, ks=[5, 10]).summary
    results["modes"]["mmlb"][default_mode()] |= {"contains": answered["answer"]["contains_gold"],
                                                 "f1": answered["answer"]["f1"]}
    results["refusal"]["mmlb"] = refusals(runner, kb, answers_gold, answered)
    print("mmlb refusal", json.dumps(results["refusal"]["mmlb"]), flush=True)
    if runner.sweeps:
        results["fusion"]["mmlb"] = {label: retrieval(kb, gold, **update) for label, update in FUSIONS}
    kb.close()
    runner.save()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default=DEFAULT_SETS)
    parser.add_argument("--max-queries", type=int, default=0, help="at most N answerable questions per set (0: all)")
    parser.add_argument("--home", default=str(HOME), help="where the collections are built (reused when present)")
    parser.add_argument("--collections", default="q-{name}-ctx", help="collection name template")
    parser.add_argument("--sweeps", action="store_true", help="also the fusion and top-k sweeps")
    parser.add_argument("--update", action="store_true",
                        help="replace only these sets in bench/results/eval.json (e.g. a slow set with a limit)")
    args = parser.parse_args()
    selected = args.sets.split(",")
    runner = Runner(args.home, args.collections, args.max_queries, DEFAULTS.rerank_depth, args.sweeps)
    results: dict = {"default": {"mode": default_mode(), "embedder": DEFAULTS.embedder,
                                 "refusal_evidence": DEFAULTS.refusal_evidence, "rerank_depth": runner.depth},
                     "max_queries": {name: args.max_queries for name in selected},
                     "modes": {}, "refusal": {}, "fusion": {}, "top_k": {},
                     "notes": [] if runner.reranker else ["rerank and evidence rows skipped: the bge extra is not installed"]}
    qa = qa_sets()
    for name in ("halvard", "hotpotqa", "musique", "xquad"):
        if name in selected:
            run_qa(runner, name, *qa[name], results)
    if "mmlb" in selected:
        run_mmlb(runner, results)
    if "followups" in selected:
        results["followups"] = run_followups(results["notes"])
    if "nfcorpus" in selected:
        run_nfcorpus(runner, results)
    if args.update:
        results = merged(json.loads((RESULTS / "eval.json").read_text()), results)
    full = args.update or selected == DEFAULT_SETS.split(",")
    path = write_result("eval" if full else "eval-" + "-".join(selected), results)
    print(table(results))
    print(f"wrote {path}")


def merged(earlier: dict, update: dict) -> dict:
    """``earlier`` with the sets of ``update`` replaced (rows of one set come from one run)."""
    out = {key: value for key, value in earlier.items() if key not in ("benchmark", "machine", "when")}
    for key in ("modes", "refusal", "fusion", "top_k"):
        prefixes = tuple(update["max_queries"])
        kept = {name: rows for name, rows in earlier.get(key, {}).items() if not name.startswith(prefixes)}
        out[key] = kept | update[key]
    out["max_queries"] = earlier.get("max_queries", {}) | update["max_queries"]
    if "followups" in update:
        out["followups"] = update["followups"]
    out["notes"] = list(dict.fromkeys(earlier.get("notes", []) + update["notes"]))
    out["default"] = update["default"]
    return out


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
    shipped = results.get("default", {}).get("mode")
    lines = ["| set | mode | hit@5 | nDCG@10 | answer F1 | contains gold | refusal acc. | false refusal |",
             "|---|---|---|---|---|---|---|---|"]
    for name, modes in results["modes"].items():
        for mode, r in modes.items():
            cells = [r.get("hit@5"), r.get("ndcg@10"), r.get("f1"), r.get("contains"), r.get("refusal_accuracy"),
                     r.get("false_refusal")]
            label = f"**{mode}** (default)" if mode == shipped else mode
            lines.append(f"| {name} | {label} | " + " | ".join(_cell(v) for v in cells) + " |")
    lines += ["", "| refusal | rule | answerable / unanswerable | unanswerable refused | false refusals |",
              "|---|---|---|---|---|"]
    for name, rules in results.get("refusal", {}).items():
        for rule, r in rules.items():
            lines.append(f"| {name} | {rule} | {r['answerable']} / {r['unanswerable']} | "
                         f"{_cell(r['refused_unanswerable'])} | {_cell(r['false_refusal'])} |")
    if results["fusion"]:
        labels = [label for label, _ in FUSIONS]
        lines += ["", "| nDCG@10 | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
        for name, fusions in results["fusion"].items():
            lines.append(f"| {name} | " + " | ".join(_cell(fusions[label]["ndcg@10"]) for label in labels) + " |")
    if results["top_k"]:
        lines += ["", "| corpus | top_k=3 contains / F1 | top_k=5 | top_k=8 |", "|---|---|---|---|"]
        for name, sweep in results["top_k"].items():
            lines.append(f"| {name} | " + " | ".join(f"{v['contains']:.3f} / {v['f1']:.3f}" for v in sweep.values()) + " |")
    return "\n".join(lines + followup_table(results))


if __name__ == "__main__":
    main()
