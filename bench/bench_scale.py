"""Lexical-index scale: ingest throughput, one-file updates, hybrid query latency, memory, disk.

The collection is synthetic but made of real text: every chunk is 3 to 8 sentences drawn (seeded)
from the shared sets (HotpotQA and MuSiQue paragraphs, NFCorpus abstracts), so BM25 sees
natural term statistics and a long vocabulary tail. One record is one chunk (a 1-chunk document,
as in the one-TXT upload of issue #21). Vectors are random unit vectors (seeded, cached as .npy
under the bench directory) loaded into the embedding cache before the run: the pipeline then
stores, commits and indexes exactly as a real ingest does, without embedding time. Queries are
real HotpotQA and NFCorpus questions embedded by the real model (part of the measured latency).

Each (size, backend) runs in its own process, so peak RSS is that run's. Measured per run:
first ingest (records/s, of which the BM25 index), adding / replacing / removing one TXT file
(its own embedding excluded), hybrid query p50/p95 with and without a filter, the first query
after an update (the reader's refresh), peak RSS and disk use.
Run with:  make bench-scale   or   .venv/bin/python bench/bench_scale.py [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import ROOT, SHARED, WORK, fresh_dir, machine, peak_rss_mb, percentiles, write_result

SENTENCE = re.compile(r"(?<=[.!?])\s+")


def documents() -> list[list[str]]:
    """Real sentences of the shared sets, per source document, in a fixed order."""
    found: list[list[str]] = []
    qa = SHARED / "qa"
    for name in ("hotpotqa-100", "musique-100"):
        data = json.loads((qa / name / "corpus.json").read_text())
        for value in (data.values() if isinstance(data, dict) else data):
            text = " ".join(value) if isinstance(value, list) else value.get("text", "") if isinstance(value, dict) else str(value)
            found.append([s for s in SENTENCE.split(text) if len(s) > 30])
    for line in (SHARED / "beir" / "nfcorpus" / "corpus.jsonl").read_text().splitlines():
        found.append([s for s in SENTENCE.split(json.loads(line).get("text", "")) if len(s) > 30])
    return found


def sentences() -> list[str]:
    """Real sentences of the shared sets, in a fixed order."""
    return [sentence for document in documents() for sentence in document]


def records(size: int, pool: list[str], seed: int = 0):
    from ragkit.models import Record

    rng = np.random.default_rng(seed)
    counts = rng.integers(3, 9, size=size)
    picks = rng.integers(0, len(pool), size=int(counts.sum()))
    out, at = [], 0
    for i, n in enumerate(counts):
        out.append(Record(f"s{i:07d}", " ".join(pool[j] for j in picks[at:at + n]), f"Synthetic note {i}"))
        at += n
    return out


def queries() -> list[str]:
    hotpot = [json.loads(line)["question"] for line in (SHARED / "qa" / "hotpotqa-100" / "questions.jsonl").read_text().splitlines()]
    nf = [json.loads(line)["text"] for line in (SHARED / "beir" / "nfcorpus" / "queries.jsonl").read_text().splitlines()]
    return hotpot[:50] + nf[:50]


def cached_vectors(n: int, dim: int) -> np.ndarray:
    """Realistic vectors without embedding every chunk: bench_hnsw's windows of real sentences'
    embeddings (HNSW on random unit vectors is slower and less accurate than in use)."""
    from bench_hnsw import chunk_vectors

    vectors = chunk_vectors(n)
    assert vectors.shape[1] == dim, f"cached vectors have {vectors.shape[1]} dimensions, the embedder {dim}"
    return vectors


def disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def first_ingest(home: Path, size: int, backend: str):
    """Ingest ``size`` records into a fresh knowledge base (vectors preloaded), timed."""
    from ragkit import KnowledgeBase
    from ragkit.stores.lexical import sync_index
    from ragkit.stores.manifest import text_sha256

    kb = KnowledgeBase(home / "kb", lexical_backend=backend)
    pipeline = kb._pipeline()
    pipeline.lexical_backend = backend
    items = records(size, sentences())
    chunks = [c for outcome in pipeline._record_outcomes(items) for c in outcome.chunks]
    vectors = cached_vectors(len(chunks), kb.embedder.dimension)
    kb.manifest.cache_vectors(kb.embedder.id, ((text_sha256(c.embed_text), vectors[i]) for i, c in enumerate(chunks)))
    result: dict = {"size": size, "backend": backend, "chunks": len(chunks)}
    del chunks, vectors
    started = time.perf_counter()
    report = pipeline.run_records(items)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    kb.lexical_index()
    result["first_ingest"] = {"seconds": round(seconds, 2), "chunks_per_s": round(result["chunks"] / seconds, 1),
                              "embedded": report.embedded, "first_query_index_open_s": round(time.perf_counter() - started, 3),
                              "peak_rss_mb": peak_rss_mb()}
    started = time.perf_counter()
    sync_index(kb.manifest, home / "bm25-rebuilt", None, backend)  # the BM25 share of the first ingest
    result["first_ingest"]["bm25_build_s"] = round(time.perf_counter() - started, 2)
    fresh_dir(home / "bm25-rebuilt")
    return result, kb, pipeline


def query_run(size: int, backend: str) -> dict:
    """Hybrid query latency and the peak RSS of a process that only opens the collection and
    searches it (a server's query side), with and without a filter."""
    from ragkit import KnowledgeBase
    from ragkit.models import Filters, SearchRequest

    kb = KnowledgeBase(WORK / f"scale-{backend}-{size}" / "kb", lexical_backend=backend)
    asked = queries()
    scoped = Filters(paths=tuple(f"record:s{i:07d}" for i in range(0, size, 10)))
    result: dict = {}
    for label, filters in (("hybrid", Filters()), ("hybrid_filtered", scoped)):
        times = []
        for q in asked:
            started = time.perf_counter()
            kb.search(SearchRequest(query=q, k=10, mode="hybrid", filters=filters))
            times.append((time.perf_counter() - started) * 1000)
        result[label + "_ms"] = {k: round(v, 1) for k, v in percentiles(times[5:]).items() if k in ("p50", "p95")}
    result["query_peak_rss_mb"] = peak_rss_mb()
    kb.close()
    return result


def one_run(size: int, backend: str, reuse: bool = False) -> dict:
    """One size: the first ingest (or an earlier run's, with ``reuse``), one file added, replaced
    and removed, then the query side in a process of its own."""
    from ragkit import KnowledgeBase

    home = WORK / f"scale-{backend}-{size}"
    built = home / "first-ingest.json"
    if reuse and built.exists():  # the collection of an earlier run, after its one-file round trip
        kb = KnowledgeBase(home / "kb", lexical_backend=backend)
        pipeline = kb._pipeline()
        pipeline.lexical_backend = backend
        result = json.loads(built.read_text())
        result["first_ingest"]["reused"] = True
        kb.lexical_index()  # an index written by an older schema is rebuilt here, before any timing
    else:
        result, kb, pipeline = first_ingest(fresh_dir(home), size, backend)
        built.write_text(json.dumps(result))

    lexical_seconds: list[float] = []
    update_index = pipeline._update_index

    def timed_update() -> None:  # the BM25 share of each one-file operation
        started = time.perf_counter()
        update_index()
        lexical_seconds.append(time.perf_counter() - started)

    pipeline._update_index = timed_update
    folder = home / "uploads"
    folder.mkdir(exist_ok=True)
    upload = folder / "upload.txt"
    pool = sentences()
    operations = {}
    for name, text in (("add", " ".join(pool[:4])), ("replace", " ".join(pool[4:8])), ("remove", None)):
        if text is not None:
            upload.write_text(text)
            started = time.perf_counter()
            done = pipeline.run([upload])
            total = time.perf_counter() - started
            embed = done.embed_seconds
        else:
            started = time.perf_counter()
            pipeline.remove_paths([str(upload.resolve())])
            total, embed = time.perf_counter() - started, 0.0
        started = time.perf_counter()
        kb.lexical_index()
        operations[name] = {"seconds_without_embedding": round(total - embed, 3), "embedding_s": round(embed, 3),
                            "bm25_s": round(lexical_seconds[-1], 3) if lexical_seconds else None,
                            "reader_refresh_s": round(time.perf_counter() - started, 3)}
    result["one_file"] = operations
    result["disk_mb"] = {"bm25": round(disk(kb.bm25_dir) / 1e6, 1), "chroma": round(disk(kb.home / "chroma") / 1e6, 1),
                         "state_db": round(sum(p.stat().st_size for p in kb.home.glob("ragkit.sqlite*")) / 1e6, 1)}
    kb.close()
    done = subprocess.run([sys.executable, __file__, "--query", f"{size}:{backend}"], capture_output=True, text=True,
                          cwd=Path(__file__).parent)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    result.update(json.loads(done.stdout.strip().splitlines()[-1]))
    result["load_average"] = round(os.getloadavg()[0], 1)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def markdown(runs: list[dict]) -> str:
    head = ("| chunks | backend | first ingest (chunks/s) | add 1 file (s) | replace 1 file (s) | remove 1 file (s) "
            "| of which BM25 (add/replace/remove, s) | BM25 build (s) | reader refresh (s) | hybrid p50/p95 (ms) | filtered p50/p95 (ms) | query process RSS (MB) | ingest peak RSS (MB) | disk: BM25 / Chroma / state DB (MB) |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    for r in runs:
        if "error" in r:
            rows.append(f"| {r['size']:,} records | {r['backend']} | {r['error']} ||||||||||||")
            continue
        o = r["one_file"]
        rows.append(f"| {r['chunks']:,} | {r['backend']} | {r['first_ingest']['chunks_per_s']:,.0f} "
                    f"| {o['add']['seconds_without_embedding']} | {o['replace']['seconds_without_embedding']} "
                    f"| {o['remove']['seconds_without_embedding']} "
                    f"| {' / '.join(str(o[k].get('bm25_s', '-')) for k in ('add', 'replace', 'remove'))} "
                    f"| {r['first_ingest']['bm25_build_s']} "
                    f"| {o['add']['reader_refresh_s']} "
                    f"| {r['hybrid_ms']['p50']} / {r['hybrid_ms']['p95']} "
                    f"| {r['hybrid_filtered_ms']['p50']} / {r['hybrid_filtered_ms']['p95']} "
                    f"| {r.get('query_peak_rss_mb', '-')} | {r['first_ingest'].get('peak_rss_mb', r['peak_rss_mb'])} "
                    f"| {r['disk_mb']['bm25']} / {r['disk_mb']['chroma']} / {r['disk_mb']['state_db']} |")
    return head + "\n".join(rows) + "\n"


def quality() -> str:
    """The BM25-only quality table of bench/bench_lexical_quality.py, when it has run."""
    path = ROOT / "bench" / "results" / "lexical-quality.json"
    if not path.exists():
        return ""
    data = json.loads(path.read_text())
    rows = "".join(f"| {name} | {b['dev']['ndcg@10']} | {b['test']['ndcg@10']} | {b['index_seconds']} |\n"
                   for name, b in data["backends"].items())
    return ("\n## BM25-only quality, NFCorpus (bench/bench_lexical_quality.py)\n\nThe same "
            f"{data['chunks']:,} chunks in both backends, retrieved with `mode=bm25`.\n\n"
            "| backend | nDCG@10 dev | nDCG@10 test | full index build (s) |\n|---|---|---|---|\n" + rows)


def targets(runs: list[dict]) -> str:
    """Issue #21's targets against the smallest and largest finished runs, with what each miss means."""
    done = sorted((r for r in runs if "error" not in r), key=lambda r: r["chunks"])
    if len(done) < 2 or done[-1]["chunks"] < 1_000_000:
        return ""
    small, large = done[0], done[-1]
    ops = lambda r, k: r["one_file"][k]["seconds_without_embedding"]  # noqa: E731
    return (
        f"\n## Targets at {large['chunks']:,} chunks\n\n"
        f"* Adding one small file: {ops(large, 'add')} s against {ops(small, 'add')} s at {small['chunks']:,} "
        f"({ops(large, 'add') / ops(small, 'add'):.1f}x; target ≤ 1.5x): **missed** for the first write of a "
        f"process, which loads the collection's HNSW index into memory (about 3 s at 1M vectors). The next "
        f"write, replacing that file, costs {ops(large, 'replace')} s against {ops(small, 'replace')} s "
        f"({ops(large, 'replace') / max(ops(small, 'replace'), 1e-9):.1f}x). `ragkit serve` keeps its collections "
        "open, so only its first upload after a start pays the load.\n"
        f"* Hybrid query p50 / p95: {large['hybrid_ms']['p50']} / {large['hybrid_ms']['p95']} ms (target ≤ 50 / 150): met.\n"
        f"* With a filter listing every tenth record's path ({large['size'] // 10:,} paths): "
        f"{large['hybrid_filtered_ms']['p50']} / {large['hybrid_filtered_ms']['p95']} ms: over the target. Such a list "
        "is what an attribute filter matching a tenth of a store's files becomes; a filter field kept on the "
        "chunks in both indexes would avoid listing paths.\n"
        f"* Query process RSS: {large.get('query_peak_rss_mb', '-')} MB (target ≤ 2,048): **missed**. Chroma keeps "
        "the HNSW index of 1M 384-dimension float vectors in the process that searches it (2,350 MB alone in "
        "bench_hnsw.py); with `chroma_url` that memory is the Chroma server's and the query process holds "
        "the model, the lexical reader and the manifest connection.\n")


def hnsw() -> str:
    """The vector side's table from bench/bench_hnsw.py, when it has run."""
    path = ROOT / "bench" / "results" / "hnsw.json"
    if not path.exists():
        return ""
    runs = [r for r in json.loads(path.read_text())["runs"] if r.get("probes")]
    efs = sorted({p["ef_search"] for r in runs for p in r["probes"]})
    head = ("| vectors | insert (vectors/s) | disk (MB) | query process RSS (MB) | "
            + " | ".join(f"ef {ef}: recall@10, p50 ms" for ef in efs) + " |\n|" + "---|" * (4 + len(efs)) + "\n")
    rows = ""
    for r in runs:
        cells = {p["ef_search"]: f"{p['recall_at_10']:.3f}, {p['p50_ms']}" for p in r["probes"] if p["n_results"] == 50}
        rows += (f"| {r['size']:,} | {r.get('vectors_per_s', '-')} | {r.get('disk_mb', '-')} | {r.get('query_peak_rss_mb', '-')} | "
                 + " | ".join(cells.get(ef, "-") for ef in efs) + " |\n")
    return ("\n## The vector side: HNSW recall against exact search (bench/bench_hnsw.py)\n\n"
            "Chroma alone, realistic vectors (windows of real sentences' embeddings), 100 real questions, "
            "ragkit's 50-candidate dense query; recall@10 counts a hit as found when it is as close as the "
            "exact 10th neighbour. ragkit searches with `ef_search` 1,600 (`HNSW_EF_SEARCH` in "
            "ragkit/stores/chroma.py): the smallest value measured with recall@10 ≥ 0.95 at 1M.\n\n" + head + rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default="tantivy,bm25s")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per run")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--query", help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true", help="keep a size's collection from an earlier run "
                        "(its first-ingest figures too) and measure the rest again")
    parser.add_argument("--report", action="store_true", help="only rewrite the markdown from scale.json")
    args = parser.parse_args()
    if args.report:
        from common import RESULTS

        write_markdown(json.loads((RESULTS / "scale.json").read_text())["runs"])
        return
    if args.one:
        size, backend = args.one.split(":")
        print(json.dumps(one_run(int(size), backend, args.reuse)))
        return
    if args.query:
        size, backend = args.query.split(":")
        print(json.dumps(query_run(int(size), backend)))
        return
    runs = []
    for size in (int(s) for s in args.sizes.split(",")):
        for backend in args.backends.split(","):
            try:
                command = [sys.executable, __file__, "--one", f"{size}:{backend}"] + (["--reuse"] if args.reuse else [])
                done = subprocess.run(command, capture_output=True,
                                      text=True, timeout=args.timeout, cwd=Path(__file__).parent)
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0
                            else {"size": size, "backend": backend, "error": done.stderr.strip().splitlines()[-1][:200]})
            except subprocess.TimeoutExpired:
                runs.append({"size": size, "backend": backend, "error": f"did not finish in {args.timeout:.0f} s"})
            print(json.dumps(runs[-1]), flush=True)
            write_result("scale", {"runs": runs})  # after every run: a long run that is stopped keeps the rest
            write_markdown(runs)


def write_markdown(runs: list[dict]) -> None:
    memory = next((int(line.split()[1]) // 1024 // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), None) if Path("/proc/meminfo").exists() else None
    (ROOT / "docs" / "benchmarks-scale.md").write_text(
        "# Lexical index at scale\n\nWritten by `make bench-scale` (bench/bench_scale.py); the method is in its "
        f"docstring. Machine: {machine()['cpus']} cores, {memory} GB RAM, {machine()['platform']}.\n\n"
        "Sizes are records (one synthetic note each; long ones split, hence more chunks than records). "
        "One-file costs exclude the file's own embedding; \"BM25 build\" is the lexical index built from "
        "scratch over the finished collection (the share of the first ingest that was rebuilt on every "
        "upload before the tantivy backend); \"reader refresh\" is the first query's wait for the new "
        "snapshot after an update. The runs go one after another on the same machine; when other jobs "
        "share it (the load average is in bench/results/scale.json from now on), compare rows with each other "
        "rather than with absolute numbers elsewhere. \"Ingest peak RSS\" is the benchmark's own process, which "
        "also holds every record and every chunk in memory to preload their vectors; \"query process RSS\" is a "
        "process that only opens the collection and searches it.\n\n" + markdown(runs) + untried(runs) + targets(runs) + hnsw() + quality())


def untried(runs: list[dict]) -> str:
    """What a million chunks would need, from the largest finished run, when it was not run."""
    done = [r for r in runs if "error" not in r]
    if not done or max(r["chunks"] for r in done) >= 1_000_000:
        return ""
    largest = max(done, key=lambda r: (r["chunks"], r["backend"] == "tantivy"))
    hours = 1_000_000 / largest["first_ingest"]["chunks_per_s"] / 3600
    return (f"\n1M chunks were not run: at the largest run's first-ingest rate ({largest['chunks']:,} chunks, "
            f"{largest['first_ingest']['chunks_per_s']:,.0f} chunks/s, mostly the vector store and the manifest) "
            f"the first ingest alone would take about {hours:.1f} h on this machine, and the vector store "
            "about ten times the disk and memory of the largest run. Run it with "
            "`bench/bench_scale.py --sizes 1000000 --backends tantivy --timeout 20000`.\n")


if __name__ == "__main__":
    main()
