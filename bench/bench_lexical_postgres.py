"""The postgres lexical backend against tantivy on NFCorpus: quality, query latency, update cost.

Both backends index the very same chunks (NFCorpus split as ``ingest_records`` splits it, committed
to one manifest without vectors, as bench/bench_lexical_quality.py does). Reports nDCG@10 (dev and
test, through the real retriever with ``mode="bm25"``), the latency of one query (``search`` top
10, ``scores`` over every chunk, ``document_scores``) on the dev questions (postgres after the
vacuum autovacuum would run after the bulk load), a full build and a one-file update; then what a postgres reader's per-position arrays cost at ``--layout-chunks``
chunks (synthetic rows). PostgreSQL is a throwaway server on 127.0.0.1 (tests/postgres_server.py)
unless ``--url`` names one. Run with:  .venv/bin/python bench/bench_lexical_postgres.py
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from common import SHARED, WORK, fresh_dir, percentiles, write_result

from ragkit import KnowledgeBase
from ragkit.eval.gold import load_beir
from ragkit.eval.runner import evaluate
from ragkit.models import Record
from ragkit.stores.lexical import PostgresTarget, load_index, sync_index
from ragkit.stores.manifest import FileCommit


def _manifest(kb: KnowledgeBase, corpus) -> None:
    outcomes = kb._pipeline()._record_outcomes([Record(i, t, ti) for i, ti, t in corpus])
    kb.manifest.commit_files([FileCommit(o.task.path, o.task.source, o.task.size, o.task.mtime_ns, o.task.sha256,
                                         o.chunks) for o in outcomes])


def _vacuum(url: str) -> None:
    """What autovacuum does after a bulk load: set the visibility map (index-only scans), analyze."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        for table in ("lexical_terms", "lexical_vocabulary", "lexical_chunks", "lexical_files"):
            conn.execute(f"VACUUM (ANALYZE) {table}")


def _latency(index, questions: list[str]) -> dict:
    found = {}
    for name, call in (("search@10", lambda q: index.search(q, 10)), ("scores", index.scores),
                       ("document_scores", index.document_scores)):
        call(questions[0])  # positions, vocabulary and connections made before timing
        times = []
        for question in questions:
            started = time.perf_counter()
            call(question)
            times.append((time.perf_counter() - started) * 1000)
        found[name] = {key: round(value, 2) for key, value in percentiles(times).items()}
    return found


def _one_file_update(kb: KnowledgeBase, backend) -> float:
    """Seconds to bring the index up to date after one record changed."""
    record = kb.manifest.files()[17]
    chunks = kb.manifest.chunks_by_id(sorted(kb.manifest.chunk_ids(record.path)))
    text = " ".join(text for text, _ in chunks.values()) + " edited"
    _manifest(kb, [(record.source, "", text)])
    started = time.perf_counter()
    sync_index(kb.manifest, kb.bm25_dir, {record.path}, backend)
    return round(time.perf_counter() - started, 3)


def _layout_cost(url: str, n: int) -> dict:
    """Open a reader of ``n`` synthetic chunks (100 per file) and read its per-position arrays."""
    import psycopg

    target = PostgresTarget(url, f"layout-{n}")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        from ragkit.stores.lexical.postgres_schema import engines

        engines(url)
        (cid,) = conn.execute("INSERT INTO lexical_collections (name, generation, chunks, files, tokens) "
                              "VALUES (%s, 1, %s, %s, %s) RETURNING id", (target.collection, n, n // 100, n * 120)).fetchone()
        with conn.cursor().copy("COPY lexical_files (collection_id, path, source, file_type, stamp, tokens) "
                                "FROM STDIN") as copy:
            for f in range(n // 100):
                copy.write_row((cid, f"/data/folder-{f % 50}/report-{f}.pdf", f"report-{f}.pdf", "pdf", "", 12000))
        first = conn.execute("SELECT min(id) FROM lexical_files WHERE collection_id = %s", (cid,)).fetchone()[0]
        with conn.cursor().copy("COPY lexical_chunks (collection_id, file_id, chunk_id, page, tokens) FROM STDIN") as copy:
            for i in range(n):
                copy.write_row((cid, first + i // 100, f"report-{i // 100}.pdf-{i % 100}-{i * 7919 % 10**9:09d}",
                                i % 40, 120))
    rss = _rss_mb()
    started = time.perf_counter()
    reader = load_index(Path("/nonexistent"), target)
    len(reader.ids), reader.paths, reader.sources, reader.file_types, reader.position(reader.ids[-1])
    return {"chunks": n, "seconds": round(time.perf_counter() - started, 2), "rss_mb": round(_rss_mb() - rss)}


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="a PostgreSQL database URL (default: a throwaway server)")
    parser.add_argument("--layout-chunks", type=int, default=1_000_000)
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        from postgres_server import PostgresServer

        server = PostgresServer(Path(tempfile.mkdtemp(prefix="ragkit-pg-")) / "pg").start()
        url = server.database()
    try:
        results = run(url, args.layout_chunks)
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.root.parent, ignore_errors=True)
    write_result("lexical-postgres", results)


def run(url: str, layout_chunks: int) -> dict:
    nf = SHARED / "beir" / "nfcorpus"
    dev, test = load_beir(nf, "dev"), load_beir(nf, "test")
    kb = KnowledgeBase(fresh_dir(WORK / "lexical-postgres"), collection="nfcorpus")
    _manifest(kb, test.corpus)
    questions = [item.question for item in dev.gold.items]
    results: dict = {"chunks": kb.manifest.count_chunks(), "questions": len(questions), "backends": {}}
    backends = {"tantivy": "tantivy", "postgres": PostgresTarget(url, "nfcorpus")}
    for name, backend in backends.items():
        started = time.perf_counter()
        index = sync_index(kb.manifest, kb.bm25_dir, None, backend)
        row: dict = {"index_seconds": round(time.perf_counter() - started, 2)}
        if name == "postgres":
            _vacuum(url)
        view = kb.view(lexical_backend=name, lexical_url=url if name == "postgres" else None)
        for split, beir in (("dev", dev), ("test", test)):
            summary = evaluate(view, beir.gold, ks=[5, 10], mode="bm25", answers=False).summary["retrieval"]
            row[split] = {"ndcg@10": round(summary["ndcg@10"], 4), "hit@5": round(summary["hit@5"], 4)}
        row["latency_ms"] = _latency(index, questions)
        results["backends"][name] = row
        print(name, json.dumps(row), flush=True)
    for name, backend in backends.items():  # after both are measured on the same manifest
        results["backends"][name]["one_file_update_seconds"] = _one_file_update(kb, backend)
        sync_index(kb.manifest, kb.bm25_dir, None, backends["postgres" if name == "tantivy" else "tantivy"])
    if layout_chunks:
        results["postgres_reader_arrays"] = _layout_cost(url, layout_chunks)
        print(json.dumps(results["postgres_reader_arrays"]), flush=True)
    kb.close()
    return results


if __name__ == "__main__":
    main()
