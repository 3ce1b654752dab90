"""Offline embedders and the cross-encoder reranker on NFCorpus: quality (nDCG@10), throughput, latency.

Settings: dense and hybrid retrieval with all-MiniLM-L6-v2 (the default) and bge-small-en-v1.5,
hybrid + cross-encoder at rerank depth 10 and 20 (and the RRF weight of the cross-encoder).
Settings are chosen on the dev split and reported on test, through ragkit.eval.runner.evaluate.

To stay within a shared 2-core budget, ``--queries`` dev and test queries are taken at an even
stride, and with ``--corpus sampled`` (default) the collection holds the documents judged for
any of them plus every ``--stride``-th other document, and ``--max-chars`` keeps only the start
of each abstract (about one chunk per document). Scores are then higher than on the full
corpus (fewer distractors) but every setting sees the same collection and queries.

Run with:  .venv/bin/python bench/bench_embedders.py [--queries 60] [--corpus sampled|full]
"""

from __future__ import annotations

import argparse
import json
import time

from common import SHARED, WORK, fresh_dir, percentiles, write_result

from ragkit import KnowledgeBase
from ragkit.embedders.bge_onnx import BgeOnnxEmbedder
from ragkit.embedders.minilm_onnx import MiniLMOnnxEmbedder
from ragkit.eval.gold import GoldSet, load_beir
from ragkit.eval.runner import evaluate
from ragkit.models import Record
from ragkit.rerankers.cross_encoder import CrossEncoderReranker

NF = SHARED / "beir" / "nfcorpus"


class QuerySide:
    """The bge embedder as retrieval sees it once queries go through ``embed_queries``: the
    instruction is added to every query; the id is the collection's, so the store opens."""

    def __init__(self, embedder: BgeOnnxEmbedder) -> None:
        self.inner, self.id, self.max_tokens, self.truncated = embedder, embedder.id, embedder.max_tokens, 0
        self.dimension = embedder.dimension

    def embed(self, texts):
        return self.inner.embed_query(texts)


def sample(gold: GoldSet, n: int) -> GoldSet:
    step = max(1, len(gold.items) // n)
    return GoldSet(gold.items[::step][:n], gold.path)


def corpus(full: list, golds: list[GoldSet], sampled: bool, stride: int, max_chars: int = 0) -> list[Record]:
    judged = {s.file for g in golds for item in g.items for s in item.sources}
    keep = [row for n, row in enumerate(full) if not sampled or row[0] in judged or n % stride == 0]
    return [Record(i, text[:max_chars] if max_chars else text, title) for i, title, text in keep]


def ingest(home, name: str, embedder, records: list[Record]) -> tuple[KnowledgeBase, dict]:
    kb = KnowledgeBase(home, collection=f"nf-{name}", embedder=embedder)
    embedder.embed(["warm-up"])
    started = time.perf_counter()
    report = kb.ingest_records(records)
    seconds = time.perf_counter() - started
    return kb, {"chunks": report.embedded, "seconds": round(seconds, 1),
                "embed_seconds": round(report.embed_seconds, 1),
                "chunks_per_s": round(report.embedded / max(report.embed_seconds, 1e-9), 1)}


def run(kb: KnowledgeBase, gold: GoldSet, mode: str, reranker: CrossEncoderReranker | None = None,
        **updates) -> dict:
    view = kb.view(mode=mode, reranker="cross-encoder" if reranker else "none", **updates)
    if reranker is not None:
        view._components["reranker"] = reranker  # one model and one score cache for every depth/weight
    outcome = evaluate(view, gold, ks=[10], answers=False)
    latency = [sum(r.timings.values()) * 1000 for r in outcome.results]
    retrieval = outcome.summary["retrieval"]
    return {"ndcg@10": round(retrieval["ndcg@10"], 4), "recall@10": round(retrieval["recall@10"], 4),
            "query_ms": {k: round(v, 1) for k, v in percentiles(latency).items() if k in ("p50", "p95")}}


def settings_for(kbs: dict, gold: GoldSet, reranker: CrossEncoderReranker, log) -> dict:
    rows: dict = {}
    for name, kb in kbs.items():
        for mode in ("dense", "hybrid"):
            rows[f"{mode} {name}"] = run(kb, gold, mode)
            log(f"{mode} {name}", rows[f"{mode} {name}"])
        for depth in (20, 10):  # 20 first: depth 10 then reads the score cache
            for weight in (1.0, 2.0):
                reranker.depth, reranker.weight = depth, weight
                label = f"hybrid {name} + rerank N={depth} w={weight:g}"
                before = reranker.scored_pairs
                rows[label] = run(kb, gold, "hybrid", reranker) | {"pairs_scored": reranker.scored_pairs - before}
                log(label, rows[label])
    return rows


def cold_latency(kb: KnowledgeBase, gold: GoldSet, log, queries: int = 10) -> dict:
    """Hybrid search latency with a fresh cross-encoder per depth (the sweeps above read a warm cache)."""
    rows = {}
    for depth in (0, 10, 20):
        view = kb.view(mode="hybrid", reranker="cross-encoder" if depth else "none")
        if depth:
            view._components["reranker"] = CrossEncoderReranker(depth=depth)
        view.search("warm-up query", k=30)
        times = []
        for item in gold.items[:queries]:
            started = time.perf_counter()
            view.search(item.question, k=30)
            times.append((time.perf_counter() - started) * 1000)
        rows[f"N={depth}" if depth else "no rerank"] = {k: round(v, 1) for k, v in percentiles(times).items()
                                                        if k in ("p50", "p95")}
        log(f"cold latency N={depth}", rows[f"N={depth}" if depth else "no rerank"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=60, help="dev and test queries each (even stride)")
    parser.add_argument("--corpus", choices=("sampled", "full"), default="sampled")
    parser.add_argument("--stride", type=int, default=4, help="with --corpus sampled: keep every n-th unjudged doc")
    parser.add_argument("--max-chars", type=int, default=0, help="keep only the start of each abstract (0: all)")
    args = parser.parse_args()
    dev_set, test_set = load_beir(NF, "dev"), load_beir(NF, "test")
    dev, test = sample(dev_set.gold, args.queries), sample(test_set.gold, args.queries)
    records = corpus(test_set.corpus, [dev, test], args.corpus == "sampled", args.stride, args.max_chars)
    print(f"{len(records)} documents, {len(dev.items)} dev and {len(test.items)} test queries", flush=True)

    def log(label, row):
        print(label, json.dumps(row), flush=True)

    home = fresh_dir(WORK / "embedders-kb")
    minilm, bge = MiniLMOnnxEmbedder(), BgeOnnxEmbedder()
    result: dict = {"corpus": {"documents": len(records), "mode": args.corpus, "stride": args.stride,
                               "max_chars": args.max_chars},
                    "queries": {"dev": len(dev.items), "test": len(test.items)}, "ingest": {}}
    kb_minilm, result["ingest"]["minilm-onnx"] = ingest(home, "minilm", minilm, records)
    log("ingest minilm", result["ingest"]["minilm-onnx"])
    kb_bge, result["ingest"]["bge-onnx"] = ingest(home, "bge", bge, records)
    log("ingest bge", result["ingest"]["bge-onnx"])
    kb_bge_query = KnowledgeBase(home, collection="nf-bge", embedder=QuerySide(bge))

    reranker = CrossEncoderReranker()
    kbs = {"minilm": kb_minilm, "bge": kb_bge_query}
    result["dev"] = settings_for(kbs, dev, reranker, lambda label, row: log("dev " + label, row))
    result["dev"]["dense bge (no query instruction)"] = run(kb_bge, dev, "dense")
    log("dev dense bge (no query instruction)", result["dev"]["dense bge (no query instruction)"])
    result["test"] = settings_for(kbs, test, reranker, lambda label, row: log("test " + label, row))
    result["cross_encoder_pairs_scored"] = reranker.scored_pairs
    result["cold_rerank_latency_ms"] = cold_latency(kb_bge_query, test, log)
    path = write_result("embedders", result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
