"""Page-level retrieval on real PDFs: ragkit against the LangChain tutorial pipeline.

MMLongBench-Doc's dev subset (38 PDFs, 979 pages) with page-level gold evidence. For each
answerable question whose evidence is text or a table, a hit means one of the top 5 chunks comes
from a gold page of the gold file. The LangChain arm is the tutorial pipeline of
``bench/bench_langchain.py`` (PyPDFLoader, the same token splitter and chunk size, Chroma, dense
search) with the same ONNX MiniLM embedder; the ragkit arm is ``KnowledgeBase`` with its
defaults (pass ``--set key=value`` to try others).

Run with:  .venv/bin/python bench/bench_mmlb.py     (needs `make bench`'s extra packages)
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from common import RESULTS, ROOT, SHARED, WORK, fresh_dir, write_result

sys.path.insert(0, str(ROOT))

MMLB = SHARED / "pdf-qa" / "mmlongbench-doc-dev"
TEXT_OR_TABLE = {"Pure-text (Plain-text)", "Table"}


def questions() -> list[dict]:
    meta = {json.loads(line)["id"]: json.loads(line) for line in open(MMLB / "questions_meta.jsonl")}
    rows = [json.loads(line) for line in open(MMLB / "questions.jsonl")]
    return [r for r in rows if TEXT_OR_TABLE & set(meta[r["id"]]["evidence_sources"])]


def _hit(ranked: list[tuple[str, int | None]], gold: dict, k: int) -> float:
    wanted = {(s["file"], s["page"]) for s in gold["sources"]}
    return 1.0 if any((name, page) in wanted for name, page in ranked[:k]) else 0.0


def langchain_arm(items: list[dict], k: int) -> dict:
    from bench_langchain import _langchain_embeddings, _langchain_load, _langchain_split
    from langchain_chroma import Chroma

    home = fresh_dir(WORK / "mmlb-langchain")
    started = time.perf_counter()
    chunks = _langchain_split(_langchain_load(MMLB / "docs"))
    store = Chroma.from_documents(chunks, embedding=_langchain_embeddings(), persist_directory=str(home),
                                  collection_metadata={"hnsw:space": "cosine"})
    ingest = time.perf_counter() - started
    hits = {5: [], 20: []}
    for item in items:
        found = store.similarity_search(item["question"], k=20)
        ranked = [(doc.metadata["source"].rsplit("/", 1)[-1], int(doc.metadata["page"]) + 1) for doc in found]
        for cut in hits:
            hits[cut].append(_hit(ranked, item, cut))
    return {"chunks": len(chunks), "ingest_seconds": round(ingest, 1),
            **{f"hit@{cut}": round(sum(v) / len(v), 3) for cut, v in hits.items()}}


def ragkit_arm(items: list[dict], k: int, overrides: dict) -> dict:
    from ragkit import KnowledgeBase

    # the collection bench/eval_public.py and bench/quality.py build (ingest is incremental)
    kb = KnowledgeBase(WORK / "quality-kb", collection="q-mmlb-ctx", **overrides)
    started = time.perf_counter()
    kb.ingest([MMLB / "docs"])
    ingest = time.perf_counter() - started
    hits = {5: [], 20: []}
    for item in items:
        result = kb.search(item["question"], k=20)
        ranked = [(h.source.rsplit("/", 1)[-1], h.page) for h in result.hits]
        for cut in hits:
            hits[cut].append(_hit(ranked, item, cut))
    return {"chunks": kb.manifest.count_chunks(), "ingest_seconds": round(ingest, 1),
            **{f"hit@{cut}": round(sum(v) / len(v), 3) for cut, v in hits.items()}}


def ragkit_pages(items: list[dict], overrides: dict) -> dict:
    """The same, ranking pages by their best chunk (a page's further chunks take no places)."""
    from ragkit import KnowledgeBase

    kb = KnowledgeBase(WORK / "quality-kb", collection="q-mmlb-ctx", **overrides)
    hits = {5: [], 20: []}
    for item in items:
        ranked = list(dict.fromkeys((h.source.rsplit("/", 1)[-1], h.page) for h in kb.search(item["question"], k=60).hits))
        for cut in hits:
            hits[cut].append(_hit(ranked, item, cut))
    return {f"hit@{cut}": round(sum(v) / len(v), 3) for cut, v in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arms", default="ragkit,langchain")
    parser.add_argument("--set", action="append", default=[], help="ragkit setting key=value (repeatable)")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    items = questions()
    previous = RESULTS / "mmlb.json"
    # an arm that is not rerun keeps its last figures (the LangChain arm takes minutes)
    kept = json.loads(previous.read_text()) if previous.exists() else {}
    results = {"questions": len(items), "settings": overrides,
               **{arm: kept[arm] for arm in ("ragkit", "langchain") if arm in kept and arm not in args.arms}}
    if "ragkit" in args.arms:
        results["ragkit"] = ragkit_arm(items, 5, overrides)
        results["ragkit"]["pages"] = ragkit_pages(items, overrides)
        print("ragkit", results["ragkit"], flush=True)
    if "langchain" in args.arms:
        results["langchain"] = langchain_arm(items, 5)
        print("langchain", results["langchain"], flush=True)
    print(f"wrote {write_result('mmlb', results)}")


if __name__ == "__main__":
    main()
