"""The vector side at scale: Chroma's HNSW settings chosen by recall against exact search.

Vectors are realistic without embedding a million chunks: every pool sentence of the shared sets
(HotpotQA, MuSiQue, NFCorpus; ``bench_scale.sentences``) is embedded once by the real model, and a
synthetic chunk of 3 to 8 of those sentences (``bench_scale.records``' seeded draw) gets the
normalised mean of its sentences' vectors. Such vectors cluster by topic as real chunks do, unlike
random unit vectors, on which any approximate index looks worse than it is in use. Queries are real
questions (HotpotQA, NFCorpus) embedded by the same model; the exact top-k is a brute-force dot
product over all vectors.

Per size: insert throughput into a fresh persistent Chroma collection (ragkit's configuration),
then, in a separate query-only process (so its peak RSS is what a query process costs): for each
``ef_search``, recall@10 of the top 10 of a 50-candidate query (ragkit's dense pool) and of a
10-candidate query, and p50/p95 latency. ``ef_search`` can be changed on an existing collection,
so the default ragkit sets is the smallest value whose recall@10 is at least 0.95 at the largest size.
Run with:  .venv/bin/python bench/bench_hnsw.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench_scale import documents, queries, sentences
from common import WORK, fresh_dir, machine, peak_rss_mb, percentiles, write_result

EF_SEARCH = (10, 25, 50, 100, 200, 400, 800, 1600)
POOL = 50
BATCH = 5000


def embedder():
    from ragkit.embedders.minilm_onnx import MiniLMOnnxEmbedder

    return MiniLMOnnxEmbedder()


def sentence_vectors() -> np.ndarray:
    """Every pool sentence embedded once (cached: the pool is fixed)."""
    path = WORK / "hnsw-sentence-vectors.npy"
    if path.exists():
        return np.load(path)
    vectors = embedder().embed(sentences())
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors.astype(np.float32))
    return vectors


def document_sizes() -> np.ndarray:
    """How many pool sentences each source document contributed, in ``sentences()`` order."""
    return np.asarray([len(document) for document in documents()])


def chunk_vectors(size: int, seed: int = 0) -> np.ndarray:
    """``size`` chunk vectors, each the normalised mean of 3 to 8 consecutive sentences of one
    source document (a seeded draw), as a real chunk is a window of one document."""
    path = WORK / f"hnsw-chunk-vectors-{size}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r")
    pool = sentence_vectors()
    sizes = document_sizes()
    assert sizes.sum() == len(pool), "sentence pool and document sizes disagree"
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    cumulative = np.concatenate([np.zeros((1, pool.shape[1]), np.float64), np.cumsum(pool, axis=0, dtype=np.float64)])
    rng = np.random.default_rng(seed)
    usable = np.flatnonzero(sizes > 0)
    docs = rng.choice(usable, size=size, p=sizes[usable] / sizes[usable].sum())
    lengths = np.minimum(rng.integers(3, 9, size=size), sizes[docs])
    starts = offsets[docs] + (rng.random(size) * (sizes[docs] - lengths + 1)).astype(np.int64)
    sums = (cumulative[starts + lengths] - cumulative[starts]).astype(np.float32)
    sums /= np.linalg.norm(sums, axis=1, keepdims=True)
    np.save(path, sums)
    return sums


def query_vectors() -> np.ndarray:
    path = WORK / "hnsw-query-vectors.npy"
    if path.exists():
        return np.load(path)
    asked = queries()
    vectors = embedder().embed(asked).astype(np.float32)
    np.save(path, vectors)
    return vectors


def build(size: int) -> dict:
    import chromadb

    vectors = chunk_vectors(size)
    home = fresh_dir(WORK / f"hnsw-{size}")
    client = chromadb.PersistentClient(path=str(home))
    collection = client.create_collection("bench", configuration={"hnsw": {"space": "cosine"}})
    started = time.perf_counter()
    for start in range(0, size, BATCH):
        end = min(start + BATCH, size)
        collection.add(ids=[f"c{i}" for i in range(start, end)], embeddings=np.asarray(vectors[start:end]))
    seconds = time.perf_counter() - started
    disk = sum(p.stat().st_size for p in home.rglob("*") if p.is_file())
    return {"size": size, "insert_s": round(seconds, 1), "vectors_per_s": round(size / seconds),
            "disk_mb": round(disk / 1e6), "build_peak_rss_mb": peak_rss_mb()}


def exact_top(vectors: np.ndarray, asked: np.ndarray, k: int) -> np.ndarray:
    """Brute-force top-k ids by cosine (vectors are unit length), in blocks to bound memory."""
    best_scores = np.full((len(asked), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(asked), k), dtype=np.int64)
    for start in range(0, len(vectors), 200_000):
        block = np.asarray(vectors[start:start + 200_000])
        scores = asked @ block.T
        merged_scores = np.concatenate([best_scores, scores], axis=1)
        merged_ids = np.concatenate([best_ids, np.arange(start, start + len(block))[None, :].repeat(len(asked), 0)], axis=1)
        order = np.argsort(-merged_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, order, axis=1)
        best_ids = np.take_along_axis(merged_ids, order, axis=1)
    return best_ids


def exact_floors(size: int) -> None:
    """Per query, the similarity of the exact 10th neighbour (less a rounding margin): a found chunk
    counts when it is at least that close, since windows can repeat (ties). Computed in the
    parent, so the query process's memory holds no brute-force pass."""
    asked, vectors = query_vectors(), chunk_vectors(size)
    exact = exact_top(vectors, asked, 10)
    floors = np.einsum("qd,qd->q", asked, np.asarray(vectors[np.sort(exact[:, -1])])[np.argsort(np.argsort(exact[:, -1]))]) - 1e-5
    np.save(WORK / f"hnsw-floor-{size}.npy", floors)


def set_ef(size: int, ef: int) -> dict:
    """Persist ``ef_search`` on the collection. A changed value reaches queries only in a process
    that opens the collection afterwards (measured: the same client kept the old value)."""
    import chromadb

    client = chromadb.PersistentClient(path=str(WORK / f"hnsw-{size}"))
    client.get_collection("bench").modify(configuration={"hnsw": {"ef_search": ef}})
    return {}


def probe(size: int, ef: int) -> dict:
    """Recall and latency at one ef_search, in this (query-only) process."""
    import chromadb

    asked = query_vectors()
    vectors = chunk_vectors(size)  # memory-mapped: only the rows found are read
    tenth = np.load(WORK / f"hnsw-floor-{size}.npy")
    client = chromadb.PersistentClient(path=str(WORK / f"hnsw-{size}"))
    collection = client.get_collection("bench")
    assert collection.configuration["hnsw"]["ef_search"] == ef
    rows = []
    for depth in (10, POOL):
        recalls, times = [], []
        for vector, floor in zip(asked, tenth):
            started = time.perf_counter()
            found = collection.query(query_embeddings=[vector], n_results=depth, include=[])["ids"][0]
            times.append((time.perf_counter() - started) * 1000)
            rows_found = np.asarray(vectors[[int(i[1:]) for i in found[:10]]])
            recalls.append(float(np.sum(rows_found @ vector >= floor)) / 10)
        spread = percentiles(times[5:])
        rows.append({"ef_search": ef, "n_results": depth, "recall_at_10": round(float(np.mean(recalls)), 4),
                     "p50_ms": round(spread["p50"], 2), "p95_ms": round(spread["p95"], 2)})
    return {"queries": len(asked), "probes": rows,
            "query_peak_rss_mb": peak_rss_mb()}


def previous_builds() -> list[dict]:
    """The runs of the last results file (read before this run rewrites it)."""
    from common import RESULTS

    path = RESULTS / "hnsw.json"
    return json.loads(path.read_text()).get("runs", []) if path.exists() else []


def previous_build(size: int, earlier: list[dict]) -> dict | None:
    """The build figures of ``size`` among ``earlier`` runs, when its collection still exists."""
    if not (WORK / f"hnsw-{size}").exists():
        return None
    for run in earlier:
        if run.get("size") == size and "insert_s" in run:
            return {k: run[k] for k in ("size", "insert_s", "vectors_per_s", "disk_mb", "build_peak_rss_mb") if k in run}
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--probe-only", action="store_true", help="keep each size's built collection (and its "
                        "build figures in bench/results/hnsw.json) and probe it again")
    args = parser.parse_args()
    if args.one:
        stage, size, ef = args.one.split(":")
        done = build(int(size)) if stage == "build" else set_ef(int(size), int(ef)) if stage == "set" else probe(int(size), int(ef))
        print(json.dumps(done))
        return
    sentence_vectors(), query_vectors()  # embedded once, before any timing
    runs, before = [], previous_builds()
    for size in (int(s) for s in args.sizes.split(",")):
        exact_floors(size)
        run: dict = {"probes": []}
        stages = [(stage, ef) for ef in EF_SEARCH for stage in ("set", "probe")]
        earlier = previous_build(size, before) if args.probe_only else None
        if earlier is None:
            stages.insert(0, ("build", 0))
        else:
            run.update(earlier)
        for stage, ef in stages:  # separate processes: each peak RSS is its own
            done = subprocess.run([sys.executable, __file__, "--one", f"{stage}:{size}:{ef}"], capture_output=True,
                                  text=True, cwd=Path(__file__).parent)
            if done.returncode != 0:
                run.setdefault("errors", []).append(done.stderr.strip().splitlines()[-1][:300])
                break
            found = json.loads(done.stdout.strip().splitlines()[-1])
            run["probes"] += found.pop("probes", [])
            run["query_peak_rss_mb"] = max(run.get("query_peak_rss_mb", 0), found.pop("query_peak_rss_mb", 0))
            run.update(found)
        runs.append(run)
        print(json.dumps(run), flush=True)
        write_result("hnsw", {"runs": runs, "machine": machine()})


if __name__ == "__main__":
    main()
