"""Both offline embedders on every shared QA set: MiniLM (default) against bge-small, dev and test.

Sets: the sample corpus (halvard), HotpotQA-100, MuSiQue-100 and XQuAD-en, built as
bench/eval_public.py builds them, and MMLongBench-Doc's dev PDFs (text and table questions,
page-level gold, bench/quality.py's ``mmlb_gold()``). None has an official dev/test split, so
questions are split into halves by a stable hash: of the question id, and for MMLongBench of the
gold document's file name (a document's questions stay on one side). Unanswerable questions are
left out: they carry no retrieval gold.

For each set and embedder: a fresh collection under ``--home`` (wiped first; the model loaded and
a warm-up ingest run in another home beforehand; the embedder going first alternates by set, as
the load drifts) with its wall-clock ingest time, embedding time and chunks; then dense and
hybrid retrieval (hit@5, nDCG@10). Then a paired bootstrap of the bge - MiniLM difference in mean
hybrid nDCG@10 per split, and both models' CPU time per chunk on the same chunk texts. The
embedder is chosen on dev (mean hybrid nDCG@10 over the sets, hybrid being the shipped mode,
weighed against ingest cost) and reported on test. Writes bench/results/embedders-qa.json.

Run with:  nice .venv/bin/python bench/embedders_qa.py [--sets halvard,hotpotqa,musique,xquad,mmlb]
(14 minutes on a quiet 2-core machine, 35 on a busy one; most of it MMLongBench's PDFs)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import time

from common import ROOT, WORK, write_result

sys.path.insert(0, str(ROOT))

from eval_public import qa_sets  # noqa: E402
from quality import MMLB, mmlb_gold  # noqa: E402
from ragkit import KnowledgeBase  # noqa: E402
from ragkit.eval.gold import GoldSet, load_jsonl  # noqa: E402
from ragkit.eval.runner import evaluate  # noqa: E402

SETS = ("halvard", "hotpotqa", "musique", "xquad", "mmlb")
EMBEDDERS = {"minilm": "minilm-onnx", "bge": "bge-onnx"}
MODES = ("dense", "hybrid")
SPLITS = ("dev", "test")
HOME = WORK / "embedders-qa"


def half(key: str) -> str:
    """``dev`` or ``test``, the same on every run and machine."""
    return SPLITS[hashlib.sha256(key.encode()).digest()[0] % 2]


def split(gold: GoldSet, by_document: bool) -> dict[str, GoldSet]:
    """The answerable questions with gold sources, in two halves (by question id or gold file)."""
    items = [i for i in gold.items if i.answerable and i.sources]
    key = (lambda i: i.sources[0].file) if by_document else (lambda i: i.id)
    return {s: GoldSet([i for i in items if half(key(i)) == s], gold.path) for s in SPLITS}


def inputs(selected: list[str]) -> dict[str, tuple]:
    """(paths to ingest, {split: gold}) per set."""
    out = {}
    qa = qa_sets() if set(selected) - {"mmlb"} else {}
    for name in selected:
        if name == "mmlb":
            out[name] = ([MMLB / "docs"], split(mmlb_gold(), by_document=True))
        else:
            docs, gold_path = qa[name]
            out[name] = ([docs], split(load_jsonl(gold_path), by_document=False))
    return out


def measure(home, name: str, embedder: str, paths, golds: dict[str, GoldSet]) -> dict:
    kb = KnowledgeBase(home, collection=f"{name}-{embedder}", embedder=EMBEDDERS[embedder])
    started = time.perf_counter()
    kb.embedder.embed(["load the model before the clock starts"])
    load = time.perf_counter() - started
    started = time.perf_counter()
    report = kb.ingest(paths)
    row = {"ingest_seconds": round(time.perf_counter() - started, 1), "embed_seconds": round(report.embed_seconds, 1),
           "load_average_1m": round(os.getloadavg()[0], 1),
           "model_load_seconds": round(load, 1), "chunks": kb.manifest.count_chunks(), "embedded": report.embedded,
           "embed_cache_hits": report.embed_cache_hits, "failed_files": report.count("failed"),
           "embedder_id": kb.embedder.id}
    for s, gold in golds.items():
        for mode in MODES:
            run = evaluate(kb.view(mode=mode), gold, ks=[5, 10], answers=False)
            r = run.summary["retrieval"]
            row[f"{s} {mode}"] = {"n": len(gold.items), "hit@5": round(r["hit@5"], 3),
                                  "ndcg@10": round(r["ndcg@10"], 3),
                                  "per_question_ndcg@10": [round(q.ndcg, 4) for q in run.results]}
    kb.close()
    return row


def means(results: dict) -> dict:
    """Per embedder and split: the mean over sets of each mode's nDCG@10 and hit@5, and total ingest time."""
    out = {}
    for emb in EMBEDDERS:
        rows = [results[name][emb] for name in results]
        out[emb] = {"ingest_seconds": round(sum(r["ingest_seconds"] for r in rows), 1)}
        for s in SPLITS:
            for mode in MODES:
                for metric in ("hit@5", "ndcg@10"):
                    mean = statistics.fmean(r[f"{s} {mode}"][metric] for r in rows)
                    out[emb][f"{s} {mode} {metric}"] = round(mean, 3)
    return out


def bootstrap(results: dict, mode: str = "hybrid", rounds: int = 2000) -> dict:
    """Per split: the bge - MiniLM difference in mean-over-sets nDCG@10 and its 95% interval,
    questions resampled within each set and paired across the embedders."""
    out = {}
    for s in SPLITS:
        pairs = {name: list(zip(r["bge"][f"{s} {mode}"]["per_question_ndcg@10"],
                                r["minilm"][f"{s} {mode}"]["per_question_ndcg@10"])) for name, r in results.items()}
        diff = lambda sample: statistics.fmean(  # noqa: E731
            statistics.fmean(b - m for b, m in pairs_) for pairs_ in sample.values())
        rng, draws = random.Random(0), []
        for _ in range(rounds):
            draws.append(diff({n: rng.choices(p, k=len(p)) for n, p in pairs.items()}))
        draws.sort()
        out[s] = {"difference": round(diff(pairs), 3), "ci95": [round(draws[int(0.025 * rounds)], 3),
                                                              round(draws[int(0.975 * rounds)], 3)],
                  "questions_bge_better": sum(b > m for p in pairs.values() for b, m in p),
                  "questions_minilm_better": sum(m > b for p in pairs.values() for b, m in p)}
    return out


def throughput(home, sources: list[str], n: int = 240, rounds: int = 5) -> dict:
    """Each embedder on the same chunk texts (an even sample of ``sources``' MiniLM collections),
    alternating round by round: chunks per second (best and median round) and the process's CPU
    milliseconds per chunk (median; less swayed by other jobs on a shared machine)."""
    texts = []
    for name in sources:
        kb = KnowledgeBase(home, collection=f"{name}-minilm", embedder="minilm-onnx")
        chunks = [text for _, text, _ in kb.manifest.iter_chunks()]
        texts += chunks[:: max(1, len(chunks) // (n // len(sources)))][: n // len(sources)]
        kb.close()
    models = {emb: KnowledgeBase(home, embedder=e).embedder for emb, e in EMBEDDERS.items()}
    wall: dict = {emb: [] for emb in EMBEDDERS}
    cpu: dict = {emb: [] for emb in EMBEDDERS}
    for _ in range(rounds):
        for emb, model in models.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            model.embed(texts)
            wall[emb].append(time.perf_counter() - started)
            cpu[emb].append(time.process_time() - cpu_started)
    return {"texts": len(texts), "from": sources, "rounds": rounds,
            **{emb: {"chunks_per_second_best": round(len(texts) / min(wall[emb]), 1),
                     "chunks_per_second_median": round(len(texts) / statistics.median(wall[emb]), 1),
                     "cpu_ms_per_chunk": round(1000 * statistics.median(cpu[emb]) / len(texts), 1)}
               for emb in EMBEDDERS}}


def table(results: dict, summary: dict) -> str:
    lines = ["| set (dev / test questions) | embedder | chunks | ingest s | "
             "dense dev | hybrid dev | dense test | hybrid test |",
             "|---|---|---|---|---|---|---|---|"]
    cell = lambda r: f"{r['ndcg@10']:.3f} / {r['hit@5']:.3f}"  # noqa: E731
    for name, by_emb in results.items():
        for emb, r in by_emb.items():
            n = f"{r['dev dense']['n']} / {r['test dense']['n']}"
            lines.append(f"| {name} ({n}) | {emb} | {r['chunks']} | {r['ingest_seconds']} | "
                         + " | ".join(cell(r[f"{s} {m}"]) for s in SPLITS for m in MODES) + " |")
    for emb, m in ((emb, summary[emb]) for emb in EMBEDDERS):
        lines.append(f"| **mean over sets** | {emb} | | {m['ingest_seconds']} (total) | "
                     + " | ".join(f"{m[f'{s} {mode} ndcg@10']:.3f} / {m[f'{s} {mode} hit@5']:.3f}"
                                  for s in SPLITS for mode in MODES) + " |")
    return "\n".join(lines) + "\n\ncells: nDCG@10 / hit@5\n" + json.dumps(
        {k: v for k, v in summary.items() if k not in EMBEDDERS}, indent=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--home", default=str(HOME), help="wiped, then one fresh collection per set and embedder")
    args = parser.parse_args()
    selected = args.sets.split(",")
    for home in (args.home, args.home + "-warm-up"):
        shutil.rmtree(home, ignore_errors=True)
    started = time.perf_counter()
    # one-time imports, not charged to the first set; another home, so its embedding cache is not shared
    warm = KnowledgeBase(args.home + "-warm-up", collection="warm-up")
    warm.ingest([ROOT / "corpora" / "halvard"])
    warm.close()
    results: dict = {}
    for number, (name, (paths, golds)) in enumerate(inputs(selected).items()):
        results[name] = {}
        for emb in list(EMBEDDERS)[:: 1 if number % 2 == 0 else -1]:  # alternate which goes first (load drifts)
            results[name][emb] = measure(args.home, name, emb, paths, golds)
            print(name, emb, json.dumps(results[name][emb]), flush=True)
        results[name] = {emb: results[name][emb] for emb in EMBEDDERS}
    summary = means(results)
    summary["bge - minilm, hybrid nDCG@10"] = bootstrap(results)
    summary["embedding_cost"] = throughput(args.home, [n for n in ("musique", "mmlb") if n in results]
                                          or list(results))
    for rows in results.values():  # per-question scores fed the interval; the file keeps the figures
        for row in rows.values():
            for cell in row.values():
                if isinstance(cell, dict):
                    cell.pop("per_question_ndcg@10", None)
    payload = {"split": "sha256 of the question id (MMLongBench: of the gold file name), first byte even = dev",
               "choice": "mean hybrid nDCG@10 over the sets on dev, weighed against ingest time; test reported",
               "sets": selected, "results": results, "means": summary,
               "run_seconds": round(time.perf_counter() - started, 1)}
    path = write_result("embedders-qa" if selected == list(SETS) else "embedders-qa-" + "-".join(selected), payload)
    print(table(results, summary))
    print(f"wrote {path} in {payload['run_seconds']} s")


if __name__ == "__main__":
    main()
