"""Page furniture: what removing repeated header/footer lines saves at ingest, and what it does
to retrieval.

The MMLongBench-Doc PDFs (real reports, papers, slides and manuals) are ingested twice into fresh
knowledge bases, once as by default (furniture removed) and once with ``keep_furniture``. OCR is
off in both arms so the comparison is about furniture alone. Reported per arm: furniture lines
removed, chunks, embedding seconds, ingest seconds, and page-level hit@5 / nDCG@10 on the text
and table questions and on all answerable ones.

Run with:  .venv/bin/python bench/bench_furniture.py
"""

from __future__ import annotations

import json
import sys

from common import ROOT, WORK, fresh_dir, write_result

sys.path.insert(0, str(ROOT))

from quality import MMLB, mmlb_gold  # noqa: E402
from ragkit import KnowledgeBase  # noqa: E402
from ragkit.eval.runner import evaluate  # noqa: E402


def arm(keep_furniture: bool) -> dict:
    home = fresh_dir(WORK / f"furniture-{'kept' if keep_furniture else 'removed'}")
    with KnowledgeBase(home, keep_furniture=keep_furniture, ocr=False) as kb:
        report = kb.ingest([MMLB / "docs"])
        summary = report.summary()
        row = {"furniture_lines": summary["furniture_lines"], "chunks": kb.manifest.count_chunks(),
               "embed_seconds": round(report.embed_seconds, 1), "ingest_seconds": round(report.seconds, 1)}
        for label, gold in (("text+table", mmlb_gold()), ("all", mmlb_gold(False))):
            s = evaluate(kb, gold, ks=[5, 10], answers=False).summary["retrieval"]
            row[label] = {"hit@5": round(s["hit@5"], 3), "ndcg@10": round(s["ndcg@10"], 3)}
    print("kept" if keep_furniture else "removed", json.dumps(row), flush=True)
    return row


def main() -> None:
    results = {"removed (default)": arm(False), "kept": arm(True)}
    print(f"wrote {write_result('furniture', {'corpus': 'mmlongbench-doc-dev docs, OCR off', 'arms': results})}")


if __name__ == "__main__":
    main()
