"""Retrieval latency (dense, bm25, hybrid) at 10k and 100k chunks, and extractive answer latency.

The large collections are synthetic: chunk texts are sampled from the word distribution of the
real QA paragraphs (so BM25 posting lists look natural) and vectors are random unit vectors (HNSW
search cost does not depend on what the vectors mean). Queries are real HotpotQA questions,
embedded by the real model, so query embedding is part of the measured latency.
Run with:  .venv/bin/python bench/bench_retrieval.py [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter

import numpy as np

from common import ROOT, SHARED, WORK, fresh_dir, percentiles, write_result


def vocabulary() -> tuple[list[str], np.ndarray]:
    counts: Counter[str] = Counter()
    corpus = json.loads((SHARED / "qa" / "hotpotqa-100" / "corpus.json").read_text())
    for sentences in corpus.values():
        counts.update(re.findall(r"[A-Za-z]+|\d+", " ".join(sentences)))
    words, freq = zip(*counts.most_common())
    p = np.asarray(freq, dtype=np.float64)
    return list(words), p / p.sum()


def questions(n: int) -> list[str]:
    lines = (SHARED / "qa" / "hotpotqa-100" / "questions.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in lines][:n]


def build(size: int, home, words, p, seed: int = 0):
    from ragkit.stores.lexical import sync_index
    from ragkit.stores.manifest import FileCommit
    from ingest.split import chunk_id
    from ragkit import KnowledgeBase
    from ragkit.models import Chunk

    rng = np.random.default_rng(seed)
    kb = KnowledgeBase(home)
    kb._pipeline()  # checks the build settings, as an ingest would
    per_file, batch = 10, 5000
    started = time.perf_counter()
    for begin in range(0, size, batch):
        chunks, commits = [], []
        for file_index in range(begin // per_file, min(size, begin + batch) // per_file):
            path = f"/synthetic/doc{file_index:06d}.txt"
            file_chunks = []
            for j in range(per_file):
                text = " ".join(rng.choice(words, size=120, p=p))
                file_chunks.append(Chunk(chunk_id(path, None, j, text), text, f"doc{file_index:06d}.txt", path,
                                         "0" * 64, None, "", 0, len(text), j, 160))
            chunks.extend(file_chunks)
            commits.append(FileCommit(path, f"doc{file_index:06d}.txt", 0, 0, "0" * 64, file_chunks))
        vectors = rng.standard_normal((len(chunks), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        kb.store.upsert([c.id for c in chunks], vectors, [c.text for c in chunks], [c.metadata() for c in chunks])
        kb.manifest.commit_files(commits)
    sync_index(kb.manifest, kb.bm25_dir, None, kb.settings.lexical_backend)
    build_s = time.perf_counter() - started
    return kb, build_s


def measure(kb, queries: list[str], mode: str, k: int = 5) -> dict:
    for q in queries[:5]:
        kb.search(q, k=k, mode=mode)  # warm-up
    times = []
    for q in queries:
        start = time.perf_counter()
        kb.search(q, k=k, mode=mode)
        times.append((time.perf_counter() - start) * 1000)
    return percentiles(times)


def extractive_latency() -> dict:
    from ragkit import KnowledgeBase
    from ragkit.eval.gold import load_jsonl

    kb = KnowledgeBase(fresh_dir(WORK / "halvard-kb"))
    kb.ingest([ROOT / "corpora" / "halvard"])
    items = load_jsonl(ROOT / "corpora" / "halvard.gold.jsonl").items
    kb.ask(items[0].question)
    total, generate = [], []
    for item in items * 3:
        answer = kb.ask(item.question)
        total.append(answer.timings["total"] * 1000)
        if "generate" in answer.timings:
            generate.append(answer.timings["generate"] * 1000)
    return {"ask_total_ms": percentiles(total), "generate_ms": percentiles(generate)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    words, p = vocabulary()
    qs = questions(args.queries)
    result = {"sizes": {}}
    for size in (int(s) for s in args.sizes.split(",")):
        kb, build_s = build(size, fresh_dir(WORK / f"synthetic-{size}"), words, p)
        entry = {"build_s": build_s}
        for mode in ("dense", "bm25", "hybrid"):
            entry[mode] = measure(kb, qs, mode)
        result["sizes"][str(size)] = entry
        print(size, json.dumps({m: round(entry[m]["p50"], 2) for m in ("dense", "bm25", "hybrid")}))
        kb.close()
    result["extractive"] = extractive_latency()
    path = write_result("retrieval", result)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
