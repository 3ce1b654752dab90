"""`make bench`: run every benchmark, then print the README tables from bench/results/*.json.

Not part of the test run. Takes roughly 20-30 minutes on 2 cores (embedding dominates).
Pass --quick for a smaller run (HotpotQA only, 1 round, 10k chunks).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"  # --quick writes to results/quick/, never over the full run's figures


def run(script: str, *args: str) -> None:
    print(f"\n== {script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *args], check=True)


def table() -> str:
    lines: list[str] = []
    ingest = RESULTS / "ingest.json"
    if ingest.exists():
        r = json.loads(ingest.read_text())
        lines += ["| ingest (QA paragraphs as files) | value |", "|---|---|",
                  f"| files / chunks / tokens | {r['files']} / {r['chunks']} / {r['tokens']} |",
                  f"| first ingest | {r['first_ingest_s']:.1f} s ({r['files_per_s']:.1f} files/s, "
                  f"{r['chunks_per_s']:.1f} chunks/s, {r['tokens_per_s']:.0f} tokens/s) |",
                  f"| embed-only, same texts | {r['embed_only_s']:.1f} s |",
                  f"| ingest / embed-only | {r['ingest_over_embed_only']:.2f} (target ≤ 1.25) |",
                  f"| unchanged re-ingest | {r['unchanged_reingest_s']:.2f} s = {100 * r['unchanged_over_first']:.1f}% "
                  "of first (target ≤ 5%) |",
                  f"| peak RSS 1x / 4x corpus | {r['peak_rss_mb_1x']:.0f} MB / {r['peak_rss_mb_4x']:.0f} MB "
                  f"({r['rss_4x_over_1x']:.2f}x) |", ""]
    retrieval = RESULTS / "retrieval.json"
    if retrieval.exists():
        r = json.loads(retrieval.read_text())
        lines += ["| retrieval latency, k=5 | dense p50 / p95 | bm25 p50 / p95 | hybrid p50 / p95 |", "|---|---|---|---|"]
        for size, entry in r["sizes"].items():
            cells = " | ".join(f"{entry[m]['p50']:.1f} / {entry[m]['p95']:.1f} ms" for m in ("dense", "bm25", "hybrid"))
            lines.append(f"| {int(size):,} chunks | {cells} |")
        e = r["extractive"]
        lines += ["", f"Extractive answer: generation p50 {e['generate_ms']['p50']:.1f} ms, whole `ask` p50 "
                      f"{e['ask_total_ms']['p50']:.1f} ms / p95 {e['ask_total_ms']['p95']:.1f} ms (target p50 ≤ 100 ms).", ""]
    comparison = RESULTS / "langchain_comparison.json"
    if comparison.exists():
        s = json.loads(comparison.read_text())["summary"]
        lines += ["| ragkit vs LangChain + Chroma | ragkit | LangChain |", "|---|---|---|",
                  f"| first ingest (median) | {s['ragkit_first_ingest_s']:.1f} s | {s['langchain_first_ingest_s']:.1f} s "
                  f"(ratio {s['speedup_first_ingest']:.2f}; rounds {', '.join(f'{x:.2f}' for x in s.get('per_round_speedup', []))}) |",
                  f"| embed-only limit | {s['embed_only_s']:.1f} s ({s['ragkit_over_embed_only']:.2f}x) | – |",
                  f"| unchanged re-ingest | {s['ragkit_unchanged_s']:.2f} s | naive {s['langchain_naive_reingest_s']:.1f} s; "
                  f"index() {s['langchain_index_unchanged_s']:.1f} s |",
                  f"| hit@5 on the sets' questions | {s['ragkit_hit@5']:.3f} | {s['langchain_hit@5']:.3f} |",
                  f"| retrieval p50 | {s['ragkit_retrieval_p50_ms']:.1f} ms | {s['langchain_retrieval_p50_ms']:.1f} ms |",
                  f"| peak RSS | {s['ragkit_peak_rss_mb']:.0f} MB | {s['langchain_peak_rss_mb']:.0f} MB |",
                  f"| chunks | {s['chunks']['ragkit']} | {s['chunks']['langchain']} |"]
        d = s.get("documents_only")
        if d:
            lines.append(f"| first ingest, the {s['documents']['pdf_docx_files']} PDF/DOCX files alone (median) | "
                         f"{d['ragkit_first_ingest_s']:.1f} s | {d['langchain_first_ingest_s']:.1f} s "
                         f"(ratio {d['speedup_first_ingest']:.2f}) |")
        lines.append("")
    furniture = RESULTS / "furniture.json"
    if furniture.exists():
        arms = json.loads(furniture.read_text())["arms"]
        lines += ["| page furniture (MMLongBench PDFs, OCR off) | lines removed | chunks | embed s | ingest s | "
                  "hit@5 text+table | hit@5 all |", "|---|---|---|---|---|---|---|"]
        for label, a in arms.items():
            lines.append(f"| {label} | {a['furniture_lines']} | {a['chunks']} | {a['embed_seconds']:.1f} | "
                         f"{a['ingest_seconds']:.1f} | {a['text+table']['hit@5']:.3f} | {a['all']['hit@5']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tables-only", action="store_true")
    args = parser.parse_args()
    global RESULTS
    if args.quick:
        RESULTS = HERE / "results" / "quick"
        os.environ["RAGKIT_BENCH_RESULTS"] = str(RESULTS)
    if not args.tables_only:
        if args.quick:
            run("bench_ingest.py", "--sets", "hotpotqa")
            run("bench_retrieval.py", "--sizes", "10000")
            run("bench_langchain.py", "--rounds", "1", "--document-rounds", "1", "--sets", "hotpotqa")
        else:
            run("bench_ingest.py")
            run("bench_retrieval.py")
            run("bench_langchain.py")
            run("bench_furniture.py")
    text = table()
    (RESULTS / "tables.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
