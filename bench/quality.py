"""Retrieval quality across collections: contextual chunks, fusion, document evidence.

Builds each collection twice (with and without chunk context lines) and scores retrieval-only
variants on it. Settings are chosen on dev data (NFCorpus dev, the sample corpus, HotpotQA,
XQuAD, MMLongBench's text and table questions) and reported on NFCorpus test.

Run with:  .venv/bin/python bench/quality.py [--sets nfcorpus,mmlb,...]   (writes bench/results/quality.json)
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from common import ROOT, SHARED, WORK, write_result

sys.path.insert(0, str(ROOT))

from ragkit import KnowledgeBase  # noqa: E402
from ragkit.eval.gold import GoldSet, load_beir, load_jsonl  # noqa: E402
from ragkit.eval.runner import evaluate  # noqa: E402
from ragkit.models import Record  # noqa: E402

MMLB = SHARED / "pdf-qa" / "mmlongbench-doc-dev"
TEXT_OR_TABLE = {"Pure-text (Plain-text)", "Table"}

VARIANTS = {
    "dense": {"mode": "dense"},
    "bm25": {"mode": "bm25"},
    "convex a=0.5": {"fusion": "convex", "alpha": 0.5},
    "rrf": {"fusion": "rrf"},
    "adaptive": {"fusion": "adaptive", "alpha": 0.5},
    "convex+doc 0.2": {"fusion": "convex", "alpha": 0.5, "doc_weight": 0.2},
    "adaptive+doc 0.1": {"fusion": "adaptive", "alpha": 0.5, "doc_weight": 0.1},
    "adaptive+doc 0.2": {"fusion": "adaptive", "alpha": 0.5, "doc_weight": 0.2},
    "adaptive+doc 0.3": {"fusion": "adaptive", "alpha": 0.5, "doc_weight": 0.3},
}


def mmlb_gold(text_or_table: bool = True) -> GoldSet:
    gold = load_jsonl(MMLB / "questions.jsonl")
    if text_or_table:
        meta = {json.loads(line)["id"]: json.loads(line) for line in open(MMLB / "questions_meta.jsonl")}
        gold.items = [i for i in gold.items if TEXT_OR_TABLE & set(meta[i.id]["evidence_sources"])]
    return gold


def collections(selected: set[str]):
    """(name, build(kb), {split: gold}) for each selected set."""
    if "nfcorpus" in selected:
        nf = SHARED / "beir" / "nfcorpus"
        dev, test = load_beir(nf, "dev"), load_beir(nf, "test")
        yield "nfcorpus", lambda kb: kb.ingest_records([Record(i, t, ti) for i, ti, t in dev.corpus]), \
            {"dev": dev.gold, "test": test.gold}
    if "mmlb" in selected:
        yield "mmlb", lambda kb: kb.ingest([MMLB / "docs"]), {"text+table": mmlb_gold(), "all": mmlb_gold(False)}
    for name in ("halvard", "hotpotqa", "xquad"):
        if name in selected:
            docs = ROOT / "corpora" / "halvard" if name == "halvard" else WORK / "eval-data" / name / "docs"
            gold = ROOT / "corpora" / "halvard.gold.jsonl" if name == "halvard" else WORK / "eval-data" / name / "gold.jsonl"
            yield name, lambda kb, docs=docs: kb.ingest([docs]), {"dev": load_jsonl(gold)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default="nfcorpus,mmlb,halvard,hotpotqa,xquad")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--contexts", default="on,off", help="build with context lines (on), without (off), or both")
    args = parser.parse_args()
    variants = {k: VARIANTS[k] for k in args.variants.split(",")}
    results: dict = {}
    for name, build, golds in collections(set(args.sets.split(","))):
        for context in [c == "on" for c in args.contexts.split(",")]:
            label = f"{name} ctx={'on' if context else 'off'}"
            kb = KnowledgeBase(WORK / "quality-kb", collection=f"q-{name}-{'ctx' if context else 'plain'}",
                               chunk_context=context)
            started = time.perf_counter()
            build(kb)
            results[label] = {"ingest_seconds": round(time.perf_counter() - started, 1), "chunks": kb.manifest.count_chunks()}
            for split, gold in golds.items():
                for variant, update in variants.items():
                    s = evaluate(kb.view(**update), gold, ks=[5, 10, 20], answers=False).summary["retrieval"]
                    row = {"hit@5": round(s["hit@5"], 3), "hit@20": round(s["hit@20"], 3), "ndcg@10": round(s["ndcg@10"], 3)}
                    results[label][f"{split} {variant}"] = row
                    print(label, split, variant, json.dumps(row), flush=True)
            kb.close()
    print(f"wrote {write_result('quality-' + '-'.join(sorted(args.sets.split(','))), {'results': results})}")


if __name__ == "__main__":
    main()
