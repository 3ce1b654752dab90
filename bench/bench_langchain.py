"""ragkit vs the LangChain + Chroma pipeline from the tutorials, on the same corpus and embedder.

(a) ragkit: ``KnowledgeBase.ingest``.
(b) LangChain as its documentation shows: langchain-community loaders (PyPDFLoader,
    Docx2txtLoader, TextLoader), ``RecursiveCharacterTextSplitter.from_tiktoken_encoder`` with the
    same chunk size and overlap, ``langchain_chroma.Chroma.from_documents``; for re-ingest also the
    ``index()`` API with a SQL record manager (LangChain's incremental path).
Both embed with ragkit's ONNX MiniLM wrapped as a LangChain ``Embeddings``, so the comparison is
about the pipeline. Each measurement runs in its own process (clean memory peak); the two
pipelines alternate A B A B over several rounds and medians and per-round ratios are reported.

Run with:  .venv/bin/python bench/bench_langchain.py [--rounds 3] [--sets hotpotqa,musique,xquad]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, SHARED, WORK, fresh_dir, parseable_documents, peak_rss_mb, percentiles, qa_corpus, write_result

CHUNK_SIZE, CHUNK_OVERLAP = 200, 40


# -- the LangChain pipeline -------------------------------------------------------------------
def _langchain_embeddings():
    from langchain_core.embeddings import Embeddings

    from ragkit.embedders.minilm_onnx import MiniLMOnnxEmbedder

    class OnnxMiniLM(Embeddings):
        def __init__(self) -> None:
            self.model = MiniLMOnnxEmbedder()

        def embed_documents(self, texts):
            return self.model.embed(texts).tolist()

        def embed_query(self, text):
            return self.model.embed([text])[0].tolist()

    return OnnxMiniLM()


def _langchain_load(corpus: Path):
    from langchain_community.document_loaders import Docx2txtLoader, PyPDFLoader, TextLoader

    documents = []
    for path in sorted(corpus.rglob("*")):
        suffix = path.suffix.lower()
        if suffix == ".pdf":
            loader = PyPDFLoader(str(path))
        elif suffix == ".docx":
            loader = Docx2txtLoader(str(path))
        elif suffix in (".txt", ".md"):
            loader = TextLoader(str(path), autodetect_encoding=True)
        else:
            continue
        try:
            documents.extend(loader.load())
        except Exception as exc:  # noqa: BLE001 - the tutorial pipeline would crash; we count instead
            print(f"langchain could not load {path}: {exc}", file=sys.stderr)
    return documents


def _langchain_split(documents):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ragkit.tiktoken_offline import ensure_tiktoken_offline

    ensure_tiktoken_offline()
    # encoding_name defaults to "gpt2" in LangChain; cl100k_base is what ragkit counts in.
    splitter = RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name="cl100k_base", chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    return splitter.split_documents(documents)


def langchain_ingest(corpus: Path, home: Path) -> dict:
    from langchain_chroma import Chroma

    started = time.perf_counter()
    chunks = _langchain_split(_langchain_load(corpus))
    Chroma.from_documents(chunks, embedding=_langchain_embeddings(), persist_directory=str(home),
                          collection_metadata={"hnsw:space": "cosine"})
    return {"seconds": time.perf_counter() - started, "chunks": len(chunks)}


def langchain_index(corpus: Path, home: Path) -> dict:
    """LangChain's incremental path: index() with a SQL record manager; run twice (first, unchanged)."""
    from langchain_chroma import Chroma
    from langchain_classic.indexes import SQLRecordManager
    from langchain_core.indexing import index

    store = Chroma(collection_name="bench", embedding_function=_langchain_embeddings(), persist_directory=str(home))
    manager = SQLRecordManager("chroma/bench", db_url=f"sqlite:///{home}/records.sqlite")
    manager.create_schema()
    timings = {}
    for name in ("first", "unchanged"):
        started = time.perf_counter()
        chunks = _langchain_split(_langchain_load(corpus))
        result = index(chunks, manager, store, cleanup="incremental", source_id_key="source")
        timings[name] = {"seconds": time.perf_counter() - started, "result": dict(result)}
    return timings


# -- ragkit -----------------------------------------------------------------------------------
def ragkit_ingest(corpus: Path, home: Path) -> dict:
    import chromadb  # noqa: F401 - imported before the clock, as langchain_chroma's import does for (b)

    from ragkit import KnowledgeBase

    kb = KnowledgeBase(home, chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    started = time.perf_counter()
    report = kb.ingest([corpus])
    first = time.perf_counter() - started
    started = time.perf_counter()
    again = kb.ingest([corpus])
    unchanged = time.perf_counter() - started
    assert again.embedded == 0
    return {"seconds": first, "chunks": kb.manifest.count_chunks(), "unchanged_seconds": unchanged,
            "embedded": report.embedded}


def embed_only(corpus: Path, home: Path) -> dict:
    """The limit: ragkit's chunk texts through the model, nothing else (same process, warm model)."""
    from ragkit import KnowledgeBase
    from ragkit.embedders.minilm_onnx import MiniLMOnnxEmbedder

    texts = [text for _, text, _ in KnowledgeBase(home).manifest.iter_chunks()]
    model = MiniLMOnnxEmbedder()
    model.embed(["warm-up"])
    unique = list(dict.fromkeys(texts))
    started = time.perf_counter()
    model.embed(unique)  # one call: every text sorted by length together, the least padding
    return {"seconds": time.perf_counter() - started, "texts": len(unique)}


# -- retrieval quality and latency on the same questions ----------------------------------------
def _gold(sets) -> list[tuple[str, set[str]]]:
    from ragkit.eval.datasets import load_dataset

    sources = {"hotpotqa": SHARED / "qa" / "hotpotqa-100", "musique": SHARED / "qa" / "musique-100",
               "xquad": SHARED / "qa" / "xquad-en"}
    questions = []
    for name in sets:
        _, items = load_dataset(name, sources[name])
        if name == "xquad":
            items = items[::6]  # ~200 of 1190, spread over all paragraphs
        for item in items:
            if item.answerable and item.sources:
                stems = {Path(s.file).stem for s in item.sources}
                questions.append((item.question, stems))
    return questions


def retrieval(system: str, home: Path, sets) -> dict:
    questions = _gold(sets)
    hits, times = 0, []
    if system == "ragkit":
        from ragkit import KnowledgeBase

        kb = KnowledgeBase(home)
        kb.search("warm-up")
        for question, stems in questions:
            started = time.perf_counter()
            found = kb.search(question, k=5).hits
            times.append((time.perf_counter() - started) * 1000)
            hits += any(Path(h.source).stem in stems for h in found)
    else:
        from langchain_chroma import Chroma

        store = Chroma(embedding_function=_langchain_embeddings(), persist_directory=str(home))
        store.similarity_search("warm-up", k=5)
        for question, stems in questions:
            started = time.perf_counter()
            found = store.similarity_search(question, k=5)
            times.append((time.perf_counter() - started) * 1000)
            hits += any(Path(d.metadata["source"]).stem in stems for d in found)
    return {"hit@5": hits / len(questions), "questions": len(questions), "latency_ms": percentiles(times)}


# -- orchestration ------------------------------------------------------------------------------
WORKERS = {"ragkit": ragkit_ingest, "langchain": langchain_ingest, "langchain-index": langchain_index,
           "embed-only": embed_only}


def _run_worker(kind: str, corpus: Path, home: Path, sets: str = "") -> dict:
    command = [sys.executable, __file__, "--worker", kind, "--corpus", str(corpus), "--home", str(home), "--sets", sets]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _alternate(corpus: Path, count: int, label: str = "") -> list[dict]:
    """ragkit and LangChain first ingests, alternating A B A B, each in a fresh process and store
    (``cmp-ragkit`` / ``cmp-langchain``, or ``cmp-documents-*`` for a labelled run)."""
    tag = "documents-" if label else ""
    rounds = []
    for number in range(count):
        a = _run_worker("ragkit", corpus, fresh_dir(WORK / f"cmp-{tag}ragkit"))
        b = _run_worker("langchain", corpus, fresh_dir(WORK / f"cmp-{tag}langchain"))
        rounds.append({"ragkit": a, "langchain": b, "langchain_over_ragkit": b["seconds"] / a["seconds"]})
        print(f"{label}round {number + 1}: ragkit {a['seconds']:.1f}s  langchain {b['seconds']:.1f}s  "
              f"ratio {b['seconds'] / a['seconds']:.2f}", flush=True)
    return rounds


def _medians(rounds: list[dict]) -> dict:
    return {
        "ragkit_first_ingest_s": statistics.median(r["ragkit"]["seconds"] for r in rounds),
        "langchain_first_ingest_s": statistics.median(r["langchain"]["seconds"] for r in rounds),
        "speedup_first_ingest": statistics.median(r["langchain_over_ragkit"] for r in rounds),
        "per_round_speedup": [round(r["langchain_over_ragkit"], 3) for r in rounds],
        "chunks": {"ragkit": rounds[0]["ragkit"]["chunks"], "langchain": rounds[0]["langchain"]["chunks"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--document-rounds", type=int, default=3,
                        help="rounds of the PDF/DOCX-only comparison (0 skips it)")
    parser.add_argument("--sets", default="hotpotqa,musique,xquad")
    parser.add_argument("--worker")
    parser.add_argument("--corpus")
    parser.add_argument("--home")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.worker:
        if args.worker.startswith("retrieval-"):
            result = retrieval(args.worker.split("-", 1)[1], Path(args.home), args.sets.split(","))
        else:
            result = WORKERS[args.worker](Path(args.corpus), Path(args.home))
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return

    sets = tuple(args.sets.split(","))
    corpus = qa_corpus(WORK / "compare-corpus", sets)
    documents = parseable_documents(corpus)
    rounds = _alternate(corpus, args.rounds)
    document_rounds = []
    if args.document_rounds:
        # The same two pipelines on the PDF/DOCX files alone: there the parser, not the model, is
        # the larger cost for LangChain, as in a typical folder of reports and manuals.
        only_documents = fresh_dir(WORK / "compare-documents")
        parseable_documents(only_documents)
        document_rounds = _alternate(only_documents, args.document_rounds, "documents only, ")
    limit = _run_worker("embed-only", corpus, WORK / "cmp-ragkit")
    incremental = _run_worker("langchain-index", corpus, fresh_dir(WORK / "cmp-langchain-index"))
    quality = {"ragkit": _run_worker("retrieval-ragkit", corpus, WORK / "cmp-ragkit", args.sets),
               "langchain": _run_worker("retrieval-langchain", corpus, WORK / "cmp-langchain", args.sets)}
    median = lambda key, system: statistics.median(r[system][key] for r in rounds)  # noqa: E731
    summary = {
        **_medians(rounds),
        "embed_only_s": limit["seconds"],
        "ragkit_over_embed_only": median("seconds", "ragkit") / limit["seconds"],
        "ragkit_unchanged_s": median("unchanged_seconds", "ragkit"),
        "ragkit_unchanged_over_first": median("unchanged_seconds", "ragkit") / median("seconds", "ragkit"),
        "langchain_naive_reingest_s": median("seconds", "langchain"),
        "langchain_index_first_s": incremental["first"]["seconds"],
        "langchain_index_unchanged_s": incremental["unchanged"]["seconds"],
        "ragkit_hit@5": quality["ragkit"]["hit@5"],
        "langchain_hit@5": quality["langchain"]["hit@5"],
        "ragkit_retrieval_p50_ms": quality["ragkit"]["latency_ms"]["p50"],
        "langchain_retrieval_p50_ms": quality["langchain"]["latency_ms"]["p50"],
        "ragkit_peak_rss_mb": median("peak_rss_mb", "ragkit"),
        "langchain_peak_rss_mb": median("peak_rss_mb", "langchain"),
        "documents": {"qa_sets": list(sets), "pdf_docx_files": len(documents)},
        "documents_only": _medians(document_rounds) if document_rounds else None,
    }
    path = write_result("langchain_comparison", {"summary": summary, "rounds": rounds,
                                                 "document_rounds": document_rounds, "embed_only": limit,
                                                 "langchain_index": incremental, "retrieval": quality})
    print(json.dumps(summary, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
