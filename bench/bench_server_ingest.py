"""Ingesting through ``ragkit serve`` against ``ragkit ingest``: the same files, both fresh.

The QA corpus (HotpotQA, MuSiQue and XQuAD paragraphs, one file each) is ingested twice into
fresh homes: once by ``KnowledgeBase.ingest`` in this process (what ``ragkit ingest`` runs), once
through the server as a client would (``files.create`` for every file, 4 at a time, then file
batches, polled until no file is ``in_progress``). The arms run in the order given by
``--order`` (default: server first, then local, then server again) so that load from other work
falls on both; the report gives each run and the ratio of the medians. Target: ≤ 1.2.

Run with:  .venv/bin/python bench/bench_server_ingest.py
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench_server import build_store
from common import ROOT, WORK, fresh_dir, qa_corpus, write_result
from server_helpers import Server


def local_arm(corpus) -> dict:
    from ragkit import KnowledgeBase

    home = fresh_dir(WORK / "server-ingest-local")
    started = time.perf_counter()
    with KnowledgeBase(home) as kb:
        report = kb.ingest([corpus])
    return {"seconds": round(time.perf_counter() - started, 2), "files": len(report.files),
            "chunks": report.chunks_added}


def server_arm(corpus) -> dict:
    home = fresh_dir(WORK / "server-ingest-home")
    guard = {"PYTHONPATH": str(ROOT / "tests" / "netguard")}
    server = Server(home, "--no-auth", "--rate-limit", "0", "--request-timeout", "600", env=guard)
    server.start(timeout=300)
    try:
        _, build = build_store(server, corpus)
    finally:
        server.stop()
    return {"seconds": build["upload_and_ingest_s"], "upload_s": build["upload_s"], "files": build["files"],
            "completed": build["completed"], "failed": build["failed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--order", default="server,local,server")
    args = parser.parse_args()
    corpus = qa_corpus(WORK / "server-corpus-1", copies=1)
    runs: dict[str, list[dict]] = {"server": [], "local": []}
    for arm in args.order.split(","):
        result = (server_arm if arm == "server" else local_arm)(corpus)
        runs[arm].append(result)
        print(arm, result, flush=True)
    medians = {arm: statistics.median(r["seconds"] for r in rs) for arm, rs in runs.items() if rs}
    ratio = round(medians["server"] / medians["local"], 2) if len(medians) == 2 else None
    print(f"server / local = {ratio} (target <= 1.2)")
    print(f"wrote {write_result('server-ingest', {'runs': runs, 'median_seconds': medians, 'server_over_local': ratio})}")


if __name__ == "__main__":
    main()
