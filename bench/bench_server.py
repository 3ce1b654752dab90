"""``ragkit serve`` latency: search and extractive chat over HTTP, against the same work in-process.

A store is built *through the server* from the QA corpus in ../shared/datasets/qa (HotpotQA,
MuSiQue and XQuAD paragraphs, one file each: about 3.8k chunks; ``--copies 3`` makes
about 12.6k): every file is uploaded with ``files.create`` and ingested by file batches, as a client
would. Then, with the stock openai SDK on 127.0.0.1 only:

* ``vector_stores.search`` (10 results) and
* ``chat.completions.create`` with ``ragkit-extractive`` over the store (answer cache off, so
  every request retrieves and answers)

are timed at concurrency 1, 4 and 8 (a fixed number of requests per level, real questions from
the three QA sets), against the same questions through ``KnowledgeBase.search`` /
``KnowledgeBase.ask`` in this process, on the same store. The two sides alternate in blocks, so
load from other work on the machine falls on both alike; the difference is what HTTP, JSON,
auth, the metadata DB and the audit log cost. The server's own time per request comes from its
audit log, so client-side SDK time can be told apart.

Bounded: nothing leaves the machine and the request count per level is fixed (``--requests``).
Ingestion dominates the run (7 minutes for one copy, 15 for three, on a busy 2-core machine);
``--reuse`` times the store an earlier run left in the bench directory instead.
Run with:  .venv/bin/python bench/bench_server.py [--copies 1] [--requests 80] [--levels 1,4,8] [--reuse]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from common import ROOT, SHARED, WORK, fresh_dir, percentiles, qa_corpus, write_result
from server_helpers import Server

BATCH = 2000  # OpenAI's largest file batch
ROUNDS = 4  # HTTP and in-process requests alternate in this many blocks per level


def questions() -> list[str]:
    from ragkit.eval.datasets import load_dataset

    found: list[str] = []
    for kind, folder in (("hotpotqa", "hotpotqa-100"), ("musique", "musique-100"), ("xquad", "xquad-en")):
        _, items = load_dataset(kind, SHARED / "qa" / folder)
        found.extend(item.question for item in items)
    return found


def build_store(server: Server, corpus: Path) -> tuple[str, dict]:
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    local = threading.local()

    def client():
        if not hasattr(local, "client"):
            local.client = server.client()
        return local.client

    def send(path: Path) -> str:
        with open(path, "rb") as handle:
            return client().files.create(file=handle, purpose="assistants").id

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(send, files))
    uploaded = time.perf_counter() - started
    main = server.client()
    vs = main.vector_stores.create(name="qa-bench")
    for begin in range(0, len(ids), BATCH):
        main.vector_stores.file_batches.create(vector_store_id=vs.id, file_ids=ids[begin:begin + BATCH])
    while True:
        counts = main.vector_stores.retrieve(vs.id).file_counts
        if counts.in_progress == 0:
            break
        time.sleep(1.0)
    return vs.id, {"files": len(files), "completed": counts.completed, "failed": counts.failed,
                   "upload_s": round(uploaded, 2), "upload_and_ingest_s": round(time.perf_counter() - started, 2)}


def _previous_store(home: Path) -> tuple[str, dict] | None:
    """The store of an earlier run in ``home`` (its build figures from that run's result file)."""
    import json
    import sqlite3

    meta = home / "server" / "meta.sqlite"
    if not meta.exists():
        return None
    row = sqlite3.connect(meta).execute("SELECT id FROM vector_stores WHERE name='qa-bench' AND deleted=0").fetchone()
    if row is None:
        return None
    from common import RESULTS

    earlier = RESULTS / "server.json"
    build = json.loads(earlier.read_text())["store"] if earlier.exists() else {}
    return row[0], {k: v for k, v in build.items() if k not in ("chunks", "documents")} | {"reused": True}


def timed(call: Callable[[object, str], None], make_client: Callable[[], object], asked: list[str],
          concurrency: int, requests: int) -> tuple[list[float], float]:
    """``requests`` calls spread over ``concurrency`` threads: (latency of each in ms, wall seconds)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        client = make_client()
        for i in range(offset, requests, concurrency):
            t = time.perf_counter()
            call(client, asked[i % len(asked)])
            elapsed = (time.perf_counter() - t) * 1000
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return latencies, time.perf_counter() - started


def summary(latencies: list[float], wall: float) -> dict:
    stats = {k: round(v, 2) for k, v in percentiles(latencies).items() if k != "n"}
    return stats | {"n": len(latencies), "throughput_rps": round(len(latencies) / wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=1, help="distinct copies of the QA corpus (3: ~12.6k chunks)")
    parser.add_argument("--requests", type=int, default=80, help="requests per endpoint and concurrency level")
    parser.add_argument("--levels", default="1,4,8")
    parser.add_argument("--reuse", action="store_true", help="time the store a previous run built (no ingest)")
    parser.add_argument("--workers", type=int, default=1, help="ragkit serve --workers")
    args = parser.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    load_before = os.getloadavg()

    home = WORK / "server-home"
    previous = _previous_store(home) if args.reuse else None
    if previous is None:
        corpus = qa_corpus(WORK / "server-corpus", copies=args.copies)
        fresh_dir(home)
    asked = questions()
    guard = {"PYTHONPATH": str(ROOT / "tests" / "netguard")}  # the server cannot leave 127.0.0.1 either
    server = Server(home, "--no-auth", "--rate-limit", "0", "--answer-cache", "0", "--request-timeout", "600",
                    "--workers", str(args.workers), env=guard)
    server.start(timeout=300)
    results: dict = {"http": {}, "in_process": {}}
    from ragkit import KnowledgeBase

    try:
        vs_id, build = previous or build_store(server, corpus)
        print(f"store {vs_id}: {build}", flush=True)

        def search(client, q):
            assert client.vector_stores.search(vector_store_id=vs_id, query=q, max_num_results=10).data is not None

        def chat(client, q):
            client.chat.completions.create(model="ragkit-extractive", messages=[{"role": "user", "content": q}],
                                           extra_body={"vector_store_ids": [vs_id]})

        def local_search(kb, q):
            kb.search(q, k=10)

        def local_ask(kb, q):
            kb.ask(q, generator="extractive")

        search(server.client(), asked[0])  # warm up the server's caches
        with KnowledgeBase(home, collection=vs_id) as kb:
            status = kb.status()
            kb.search(asked[0], k=10)
            sides = {"search": {"http": (search, server.client), "in_process": (local_search, lambda: kb)},
                     "chat_extractive": {"http": (chat, server.client), "in_process": (local_ask, lambda: kb)}}
            for name, by_side in sides.items():
                for level in levels:
                    offset = levels.index(level) * args.requests  # different questions per level
                    rotated = asked[offset:] + asked[:offset]
                    measured = {side: ([], 0.0) for side in by_side}
                    per_round = args.requests // ROUNDS
                    for r in range(ROUNDS):  # alternate the sides, so load from elsewhere hits both alike
                        order = list(by_side) if r % 2 == 0 else list(reversed(by_side))
                        for side in order:
                            call, make = by_side[side]
                            latencies, wall = timed(call, make, rotated[r * per_round:], level, per_round)
                            measured[side] = (measured[side][0] + latencies, measured[side][1] + wall)
                    for side, (latencies, wall) in measured.items():
                        results[side].setdefault(name, {})[str(level)] = summary(latencies, wall)
                        print(f"{side} {name} c={level}: {results[side][name][str(level)]}", flush=True)
    finally:
        server.stop()

    # Server-side time per request, from the audit log (requests of one level are contiguous).
    import json

    audited = [json.loads(line) for line in (home / "server" / "audit.jsonl").read_text().splitlines()]
    endpoints = {"search": f"/v1/vector_stores/{vs_id}/search", "chat_extractive": "/v1/chat/completions"}
    for name, endpoint in endpoints.items():
        times = [r["latency_ms"] for r in audited if r["endpoint"] == endpoint and r["status"] == 200]
        times = times[len(times) - len(levels) * (args.requests // ROUNDS) * ROUNDS:]  # drop the warm-up
        for i, level in enumerate(levels):
            size = (args.requests // ROUNDS) * ROUNDS
            block = times[i * size:(i + 1) * size]
            stats = {k: round(v, 2) for k, v in percentiles(block).items() if k != "n"}
            results["http"][name][str(level)]["server_side"] = stats

    overhead = {name: {level: round(results["http"][name][level]["p50"] - results["in_process"][name][level]["p50"], 2)
                       for level in results["http"][name]} for name in results["http"]}
    path = write_result("server", {
        "store": {"chunks": status.chunks, "documents": status.documents, **build},
        "copies": args.copies, "workers": args.workers, "requests_per_level": args.requests, "levels": levels,
        "latency_ms": results, "p50_overhead_ms": overhead,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
