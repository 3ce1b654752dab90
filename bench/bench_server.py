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
``KnowledgeBase.ask`` in this process, on the same store. A third side sends the same requests
with a plain HTTP client (httpx, one keep-alive connection per thread, the JSON body decoded and
nothing more): the server as any client sees it, without the SDK's own parsing into its models,
which costs the client about 1 ms a search at c=1 and shares the 2 cores with the server at c=8.
The sides take turns in blocks, so load from other work on the machine falls on all alike; the
difference is what HTTP, JSON, auth, the metadata DB and the audit log cost. The server's own
time per request comes from its audit log, so client-side time can be told apart.

Bounded: nothing leaves the machine and the request count per level is fixed (``--requests``).
Ingestion dominates the run (6 to 15 minutes for three copies, depending on other load);
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


def warm_up(client) -> None:
    """One untimed ``GET /v1/models`` (not an endpoint the audit figures below read)."""
    if hasattr(client, "models"):
        client.models.list()
    elif hasattr(client, "get"):
        client.get("/models").raise_for_status()


def timed(call: Callable[[object, str], None], make_client: Callable[[], object], asked: list[str],
          concurrency: int, requests: int) -> tuple[list[float], float]:
    """``requests`` calls spread over ``concurrency`` threads, each with a client of its own that
    has made one request already: (latency of each in ms, wall seconds)."""
    latencies: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(concurrency)
    started: list[float] = []

    def worker(offset: int) -> None:
        client = make_client()
        warm_up(client)  # a new client's first request pays for its connection and, in the SDK, more
        if ready.wait() == 0:  # the clock starts when every thread is ready
            started.append(time.perf_counter())
        for i in range(offset, requests, concurrency):
            t = time.perf_counter()
            call(client, asked[i % len(asked)])
            elapsed = (time.perf_counter() - t) * 1000
            with lock:
                latencies.append(elapsed)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return latencies, time.perf_counter() - started[0]


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
    results: dict = {"http": {}, "http_plain": {}, "in_process": {}}
    from ragkit import KnowledgeBase

    try:
        vs_id, build = previous or build_store(server, corpus)
        print(f"store {vs_id}: {build}", flush=True)

        def search(client, q):
            assert client.vector_stores.search(vector_store_id=vs_id, query=q, max_num_results=10).data is not None

        def chat(client, q):
            client.chat.completions.create(model="ragkit-extractive", messages=[{"role": "user", "content": q}],
                                           extra_body={"vector_store_ids": [vs_id]})

        def plain_search(client, q):
            response = client.post(f"/vector_stores/{vs_id}/search", json={"query": q, "max_num_results": 10})
            assert response.status_code == 200 and response.json()["data"] is not None

        def plain_chat(client, q):
            response = client.post("/chat/completions", json={
                "model": "ragkit-extractive", "messages": [{"role": "user", "content": q}], "vector_store_ids": [vs_id]})
            assert response.status_code == 200 and response.json()["choices"]

        def plain_client():
            import httpx

            return httpx.Client(base_url=server.base_url, timeout=600)

        def local_search(kb, q):
            kb.search(q, k=10)

        def local_ask(kb, q):
            kb.ask(q, generator="extractive")

        search(server.client(), asked[0])  # warm up the server's caches
        with KnowledgeBase(home, collection=vs_id) as kb:
            status = kb.status()
            kb.search(asked[0], k=10)
            sides = {"search": {"http": (search, server.client), "http_plain": (plain_search, plain_client),
                                "in_process": (local_search, lambda: kb)},
                     "chat_extractive": {"http": (chat, server.client), "http_plain": (plain_chat, plain_client),
                                         "in_process": (local_ask, lambda: kb)}}
            for name, by_side in sides.items():
                for level in levels:
                    offset = levels.index(level) * args.requests  # different questions per level
                    rotated = asked[offset:] + asked[:offset]
                    measured = {side: ([], 0.0) for side in by_side}
                    per_round = args.requests // ROUNDS
                    for r in range(ROUNDS):  # rotate the sides, so load from elsewhere hits all alike
                        names = list(by_side)
                        order = names[r % len(names):] + names[:r % len(names)]
                        for side in order:
                            call, make = by_side[side]
                            latencies, wall = timed(call, make, rotated[r * per_round:], level, per_round)
                            measured[side] = (measured[side][0] + latencies, measured[side][1] + wall)
                    for side, (latencies, wall) in measured.items():
                        results[side].setdefault(name, {})[str(level)] = summary(latencies, wall)
                        print(f"{side} {name} c={level}: {results[side][name][str(level)]}", flush=True)
    finally:
        server.stop()

    # Server-side time per request, from the audit log: the requests of one level, from both HTTP
    # sides, are contiguous
    import json

    audited = [json.loads(line) for line in (home / "server" / "audit.jsonl").read_text().splitlines()]
    endpoints = {"search": f"/v1/vector_stores/{vs_id}/search", "chat_extractive": "/v1/chat/completions"}
    size = 2 * (args.requests // ROUNDS) * ROUNDS
    results["server_side"] = {}
    for name, endpoint in endpoints.items():
        times = [r["latency_ms"] for r in audited if r["endpoint"] == endpoint and r["status"] == 200]
        times = times[len(times) - len(levels) * size:]  # drop the warm-up
        for i, level in enumerate(levels):
            stats = {k: round(v, 2) for k, v in percentiles(times[i * size:(i + 1) * size]).items() if k != "n"}
            results["server_side"].setdefault(name, {})[str(level)] = stats

    against = {side: {name: {level: {
        "p50_ratio": round(results[side][name][level]["p50"] / results["in_process"][name][level]["p50"], 3),
        "throughput_share": round(results[side][name][level]["throughput_rps"]
                                  / results["in_process"][name][level]["throughput_rps"], 3)}
        for level in results[side][name]} for name in results[side]} for side in ("http", "http_plain")}
    overhead = {name: {level: round(results["http"][name][level]["p50"] - results["in_process"][name][level]["p50"], 2)
                       for level in results["http"][name]} for name in results["http"]}
    path = write_result("server", {
        "store": {"chunks": status.chunks, "documents": status.documents, **build},
        "copies": args.copies, "workers": args.workers, "requests_per_level": args.requests, "levels": levels,
        "latency_ms": results, "p50_overhead_ms": overhead, "against_in_process": against,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
