"""Ingest benchmark: first ingest, embed-only limit, unchanged re-ingest, peak RSS at 1x and 4x.

Corpus: the HotpotQA, MuSiQue and XQuAD paragraphs of ../shared/datasets/qa as files.
Run with:  .venv/bin/python bench/bench_ingest.py [--sets hotpotqa,musique,xquad]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from common import RESULTS, WORK, fresh_dir, qa_corpus, timer, write_result


def first_and_unchanged(corpus, home) -> dict:
    from ragkit import KnowledgeBase
    from ragkit.embedders.minilm_onnx import MiniLMOnnxEmbedder

    kb = KnowledgeBase(home)
    with timer() as first:
        report = kb.ingest([corpus])
    texts = [text for _, text, _ in kb.manifest.iter_chunks()]
    tokens = sum(meta["n_tokens"] for _, _, meta in kb.manifest.iter_chunks())
    with timer() as again:
        unchanged = kb.ingest([corpus])
    assert unchanged.embedded == 0 and unchanged.chunks_added == 0
    kb.close()
    # The physical limit: the same chunk texts through the same model, nothing else.
    embedder = MiniLMOnnxEmbedder()
    embedder.embed(["warm-up"])
    unique = list(dict.fromkeys(texts))
    with timer() as embed_only:
        embedder.embed(unique)  # one call: every text sorted by length together, the least padding
    files = report.count("added")
    return {
        "files": files,
        "chunks": len(texts),
        "unique_chunk_texts": len(unique),
        "tokens": tokens,
        "first_ingest_s": first["seconds"],
        "files_per_s": files / first["seconds"],
        "chunks_per_s": len(texts) / first["seconds"],
        "tokens_per_s": tokens / first["seconds"],
        "embed_only_s": embed_only["seconds"],
        "ingest_over_embed_only": first["seconds"] / embed_only["seconds"],
        "unchanged_reingest_s": again["seconds"],
        "unchanged_over_first": again["seconds"] / first["seconds"],
    }


def rss_of_ingest(corpus, home) -> float:
    """Peak RSS (MB) of a separate process that ingests ``corpus`` (so runs do not share a peak)."""
    code = (
        "import sys; sys.path.insert(0, '.'); sys.path.insert(0, 'bench');"
        "from common import peak_rss_mb; from ragkit import KnowledgeBase;"
        f"KnowledgeBase({str(home)!r}).ingest([{str(corpus)!r}]);"
        "print(peak_rss_mb())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default="hotpotqa,musique,xquad")
    parser.add_argument("--rss-set", default="hotpotqa", help="set used for the 1x/4x memory runs")
    args = parser.parse_args()
    sets = tuple(args.sets.split(","))
    corpus = qa_corpus(WORK / "ingest-corpus", sets)
    result = first_and_unchanged(corpus, fresh_dir(WORK / "ingest-kb"))
    one = qa_corpus(WORK / "rss-1x", (args.rss_set,), copies=1)
    four = qa_corpus(WORK / "rss-4x", (args.rss_set,), copies=4)
    result["peak_rss_mb_1x"] = rss_of_ingest(one, fresh_dir(WORK / "rss-kb-1x"))
    result["peak_rss_mb_4x"] = rss_of_ingest(four, fresh_dir(WORK / "rss-kb-4x"))
    result["rss_4x_over_1x"] = result["peak_rss_mb_4x"] / result["peak_rss_mb_1x"]
    result["corpus"] = {"sets": list(sets), "rss_set": args.rss_set}
    path = write_result("ingest", result)
    print(json.dumps(result, indent=2))
    print(f"wrote {path.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
