"""BM25-only retrieval quality of the two lexical backends on NFCorpus (BEIR), dev and test.

Both backends index the very same chunks: the corpus is split as ``ingest_records`` splits it
and committed to one manifest (no vectors: BM25-only retrieval never reads them), then each
backend's index is brought up to date from that manifest and evaluated through the real
retriever (``mode="bm25"``) with the harness of bench/eval_public.py. Reports nDCG@10 and hit@5.
Run with:  .venv/bin/python bench/bench_lexical_quality.py   (a few minutes on 2 cores)
"""

from __future__ import annotations

import json
import time

from common import SHARED, WORK, fresh_dir, write_result

from ragkit import KnowledgeBase
from ragkit.eval.gold import load_beir
from ragkit.eval.runner import evaluate
from ragkit.models import Record
from ragkit.stores.lexical import BACKENDS, sync_index


def main() -> None:
    nf = SHARED / "beir" / "nfcorpus"
    dev, test = load_beir(nf, "dev"), load_beir(nf, "test")
    home = fresh_dir(WORK / "lexical-quality")
    kb = KnowledgeBase(home, collection="nfcorpus")
    pipeline = kb._pipeline()
    outcomes = list(pipeline._record_outcomes([Record(i, t, ti) for i, ti, t in test.corpus]))
    from ragkit.stores.manifest import FileCommit

    kb.manifest.commit_files([FileCommit(o.task.path, o.task.source, o.task.size, o.task.mtime_ns, o.task.sha256,
                                         o.chunks) for o in outcomes])
    results: dict = {"chunks": kb.manifest.count_chunks(), "backends": {}}
    for backend in BACKENDS:
        started = time.perf_counter()
        sync_index(kb.manifest, kb.bm25_dir, None, backend)
        view = kb.view(lexical_backend=backend)
        row = {"index_seconds": round(time.perf_counter() - started, 2)}
        for split, beir in (("dev", dev), ("test", test)):
            summary = evaluate(view, beir.gold, ks=[5, 10], mode="bm25", answers=False).summary["retrieval"]
            row[split] = {"ndcg@10": round(summary["ndcg@10"], 4), "hit@5": round(summary["hit@5"], 4)}
        results["backends"][backend] = row
        print(backend, json.dumps(row), flush=True)
    for split in ("dev", "test"):
        results[f"delta_ndcg@10_{split}"] = round(
            results["backends"]["tantivy"][split]["ndcg@10"] - results["backends"]["bm25s"][split]["ndcg@10"], 4)
    write_result("lexical-quality", results)
    kb.close()


if __name__ == "__main__":
    main()
