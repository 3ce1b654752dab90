"""Search throughput of one and two stateless ``ragkit serve`` replicas over shared storage.

Everything runs on 127.0.0.1, for real: a PostgreSQL server (Debian's binaries, started as the
tests start it, ``tests/postgres_server.py``) holds the state database, the ingest manifest and the
BM25 index; a ``chroma run`` server holds the vectors. Each replica is a ``ragkit serve``
process with an empty home of its own, configured only through ``RAGKIT_*`` variables
(``database_url``, ``chroma_url``, ``lexical_backend=postgres``), as deploy/docker-compose.yml
configures its containers.

1. Replica 1 starts; the corpus (the sample corpus, corpora/halvard, and 300 HotpotQA paragraphs
   written as .txt files) is uploaded through it with the stock openai SDK (``files.create``, then
   ``vector_stores.file_batches.create_and_poll``).
2. Replica 2 starts on another empty home. Before anything is timed, it must find what was
   uploaded through replica 1 (the warranty question of the sample corpus, and a HotpotQA
   question's paragraph); if it cannot, the run stops and says so.
3. ``vector_stores.search`` (10 results, HotpotQA questions) runs from 8 client threads, each with
   its own SDK client, in windows of ``--seconds``: against replica 1 alone, then spread
   round-robin over both (thread i on replica i mod 2), ``--rounds`` times in turn, so load from
   other work on the machine falls on both settings alike. Each setting gets 30 s by default.

Results go to bench/results/replicas.json and to the table in docs/deployment.md between
``<!-- replicas-bench -->`` markers. On 2 cores the replicas, the two servers and the client
threads share the same CPUs, so the figure says what replication costs or gains on one small
machine, not what it gains on several.
Run with:  nice -n 10 .venv/bin/python bench/bench_replicas.py [--seconds 15] [--rounds 2] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from common import ROOT, SHARED, WORK, fresh_dir, machine, percentiles, write_result
from chroma_server import start_chroma, stop_chroma
from postgres_server import PostgresServer
from server_helpers import Server

HOTPOTQA = SHARED / "qa" / "hotpotqa-100"
PARAGRAPHS = 300
DOC = ROOT / "docs" / "deployment.md"
START, END = "<!-- replicas-bench -->", "<!-- /replicas-bench -->"
#: (question, a file the answer is in) asked of the second replica before it is timed
SAMPLE_CHECK = ("How long is the warranty on the WS-200 sensor array?", "warranty-and-returns.docx")


def write_corpus(target: Path) -> tuple[list[Path], list[str], tuple[str, str]]:
    """The files to upload, the questions to search, and one HotpotQA (question, file) pair.

    The paragraphs that answer the questions come first, then others in the set's order, so the
    300 are the same on every run."""
    from ragkit.eval.datasets import load_dataset

    fresh_dir(target)
    documents, items = load_dataset("hotpotqa", HOTPOTQA)
    texts = dict(documents)
    chosen: list[str] = []
    for item in items:
        chosen.extend(s.file for s in item.sources if s.file not in chosen)
    chosen.extend(name for name, _ in documents if name not in chosen)
    for name in chosen[:PARAGRAPHS]:
        (target / name).write_text(texts[name], encoding="utf-8")
    files = sorted((ROOT / "corpora" / "halvard").iterdir()) + sorted(target.iterdir())
    check = next((i.question, i.sources[0].file) for i in items if i.sources and i.sources[0].file in chosen[:PARAGRAPHS])
    return files, [item.question for item in items], check


def ingest(server: Server, files: list[Path]) -> tuple[str, dict]:
    client = server.client()
    started = time.perf_counter()
    ids = []
    for path in files:
        with open(path, "rb") as handle:
            ids.append(client.files.create(file=handle, purpose="assistants").id)
    uploaded = time.perf_counter() - started
    store = client.vector_stores.create(name="replicas-bench")
    batch = client.vector_stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=ids,
                                                              poll_interval_ms=1000)
    counts = batch.file_counts
    build = {"files": len(files), "completed": counts.completed, "failed": counts.failed,
             "upload_s": round(uploaded, 1), "upload_and_ingest_s": round(time.perf_counter() - started, 1)}
    if counts.completed != len(files):
        failed = client.vector_stores.files.list(vector_store_id=store.id, filter="failed", limit=5).data
        reasons = [f"{f.id}: {f.last_error.message if f.last_error else '?'}" for f in failed]
        raise RuntimeError(f"ingest through replica 1 ended with {counts}: {reasons}")
    return store.id, build


def found_by(server: Server, store: str, question: str, expected: str) -> list[str]:
    """The files of the top results ``server`` returns for ``question``; raises unless ``expected`` is among them."""
    results = server.client().vector_stores.search(vector_store_id=store, query=question, max_num_results=10).data
    names = [r.filename for r in results]
    if expected not in names:
        raise RuntimeError(f"replica on port {server.port} did not find {expected!r} for {question!r}: {names}")
    return names


def load(servers: list[Server], store: str, questions: list[str], concurrency: int, seconds: float) -> dict:
    """``concurrency`` threads, thread i on replica i mod n, each searching until the time is up."""
    latencies: list[float] = []
    per_replica = [0] * len(servers)
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(concurrency + 1)
    window: dict[str, float] = {}

    def worker(index: int) -> None:
        replica = index % len(servers)
        client = servers[replica].client()
        try:  # a client's first request opens its connection and warms the replica
            client.vector_stores.search(vector_store_id=store, query=questions[index], max_num_results=10)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(f"replica {replica + 1}, first search: {type(exc).__name__}: {exc}"[:300])
            ready.abort()
            return
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            return
        i = index
        while time.perf_counter() < window["end"]:
            started = time.perf_counter()
            try:
                client.vector_stores.search(vector_store_id=store, query=questions[i % len(questions)],
                                            max_num_results=10)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the load goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            finally:
                i += concurrency
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
                per_replica[replica] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    window["end"] = float("inf")
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        for thread in threads:
            thread.join()
        raise RuntimeError(f"searching failed before the load began: {errors}") from None
    begun = time.perf_counter()
    window["end"] = begun + seconds
    for thread in threads:
        thread.join()
    return {"replicas": len(servers), "latencies": latencies, "wall": time.perf_counter() - begun,
            "per_replica": per_replica, "errors": errors, "load_avg_after": round(os.getloadavg()[0], 2)}


def combine(windows: list[dict], concurrency: int) -> dict:
    """One row from the windows of one setting: all their requests over all their time."""
    latencies = [ms for w in windows for ms in w["latencies"]]
    wall = sum(w["wall"] for w in windows)
    errors = [e for w in windows for e in w["errors"]]
    stats = {k: round(v, 1) for k, v in percentiles(latencies).items() if k != "n"} if latencies else {}
    return {"replicas": windows[0]["replicas"], "concurrency": concurrency, "requests": len(latencies),
            "throughput_rps": round(len(latencies) / wall, 1), **stats,
            "per_window_rps": [round(len(w["latencies"]) / w["wall"], 1) for w in windows],
            "per_replica": [sum(col) for col in zip(*(w["per_replica"] for w in windows))],
            "errors": len(errors), "first_errors": errors[:3], "seconds": round(wall, 1),
            "load_avg_after": [w["load_avg_after"] for w in windows]}


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True).stdout.strip()


def code_version(env: dict[str, str]) -> dict:
    """The commit of the ragkit the replicas ran: the first PYTHONPATH entry holding it, else this checkout."""
    tree = next((Path(p) for p in env["PYTHONPATH"].split(os.pathsep) if (Path(p) / "ragkit").is_dir()), ROOT)
    return {"tree": str(tree), "commit": _git(tree, "rev-parse", "HEAD"),
            "modified": bool(_git(tree, "status", "--porcelain"))}


def table(runs: list[dict], build: dict, when: str) -> str:
    lines = ["| replicas | searches/s | per window | p50 ms | p95 ms | requests | per replica | errors |",
             "|---:|---:|---|---:|---:|---:|---|---:|"]
    for run in runs:
        lines.append(f"| {run['replicas']} | {run['throughput_rps']} | {', '.join(map(str, run['per_window_rps']))} | "
                     f"{run.get('p50', '–')} | {run.get('p95', '–')} | {run['requests']:,} | "
                     f"{' / '.join(map(str, run['per_replica']))} | {run['errors']} |")
    info = machine()
    lines.append("")
    lines.append(f"`vector_stores.search` (10 results) at concurrency {runs[0]['concurrency']}, "
                 f"{runs[0]['seconds']:.0f} s per row in {len(runs[0]['per_window_rps'])} alternating windows; "
                 f"{build['files']} files ingested through replica 1 "
                 f"in {build['upload_and_ingest_s']} s; {info['cpus']} CPUs, Python {info['python']}, "
                 f"{when}; 1-minute load average after each window: "
                 f"{', '.join(str(v) for r in runs for v in r['load_avg_after'])} (other work shared the machine). "
                 f"`bench/bench_replicas.py`, `bench/results/replicas.json`.")
    return "\n".join(lines)


def publish(markdown: str) -> None:
    if not DOC.exists():
        print(f"{DOC} is missing: the table is not written there")
        return
    text = DOC.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        print(f"{DOC} has no {START} ... {END} markers: the table is not written there")
        return
    DOC.write_text(pattern.sub(lambda _: f"{START}\n{markdown}\n{END}", text), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of one load window")
    parser.add_argument("--rounds", type=int, default=2, help="windows per setting, one and two replicas taking turns")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    load_before = [round(v, 2) for v in os.getloadavg()]
    root = fresh_dir(WORK / "replicas")
    files, questions, hotpot_check = write_corpus(root / "corpus")
    postgres = PostgresServer(root / "postgres").start()
    chroma, chroma_url = start_chroma(root / "chroma")
    servers: list[Server] = []
    try:
        env = {"RAGKIT_DATABASE_URL": postgres.database(), "RAGKIT_CHROMA_URL": chroma_url,
               "RAGKIT_LEXICAL_BACKEND": "postgres",
               # replicas cannot leave 127.0.0.1 either; a PYTHONPATH given to the run still applies
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests" / "netguard"),
                                                          os.environ.get("PYTHONPATH")]))}

        def replica(number: int) -> Server:
            server = Server(root / f"home-{number}", "--no-auth", "--rate-limit", "0", "--answer-cache", "0",
                            "--request-timeout", "600", env=env)
            servers.append(server)
            return server.start(timeout=300)

        first = replica(1)
        store, build = ingest(first, files)
        print(f"store {store}: {build}", flush=True)
        second = replica(2)
        seen = {"sample": found_by(second, store, *SAMPLE_CHECK)[:3],
                "hotpotqa": found_by(second, store, *hotpot_check)[:3]}
        print(f"replica 2 finds what replica 1 ingested: {seen}", flush=True)
        windows: dict[int, list[dict]] = {1: [], 2: []}
        for _ in range(args.rounds):
            for replicas in ([first], [first, second]):
                window = load(replicas, store, questions, args.concurrency, args.seconds)
                windows[len(replicas)].append(window)
                print(f"{len(replicas)} replica(s): {len(window['latencies']) / window['wall']:.1f} searches/s, "
                      f"{len(window['errors'])} errors", flush=True)
        runs = [combine(windows[n], args.concurrency) for n in (1, 2)]
    finally:
        for server in servers:
            server.stop()
        stop_chroma(chroma)
        postgres.stop()
    path = write_result("replicas", {"store": build, "second_replica_found": seen, "runs": runs,
                                     "code": code_version(env), "load_avg_before": load_before,
                                     "settings": {k: v for k, v in env.items() if k.startswith("RAGKIT_")
                                                  and k != "RAGKIT_DATABASE_URL"}})
    when = time.strftime("%Y-%m-%d")
    markdown = table(runs, build, when)
    publish(markdown)
    print(markdown)
    print(f"wrote {path}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
