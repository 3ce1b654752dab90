"""Refusal calibration: false refusals and refused unanswerable questions per set, for a grid of
``min_coverage`` values, with every other refusal signal as configured.

Retrieval and the pre-generation checks run once per question; only the extractive answerer's
coverage threshold varies. Uses the collections bench/eval_public.py builds.

Run with:  .venv/bin/python bench/calibrate_refusal.py
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace

from common import RESULTS, ROOT, WORK, write_result

sys.path.insert(0, str(ROOT))

from eval_public import HOME, mmlb_answers_gold  # noqa: E402
from ragkit import KnowledgeBase  # noqa: E402
from ragkit.api import MATCHING_DEPTH  # noqa: E402
from ragkit.eval.gold import load_jsonl  # noqa: E402
from ragkit.generators.extractive import ExtractiveGenerator  # noqa: E402

GRID = (0.25, 0.30, 0.35, 0.40, 0.45)


def sets():
    yield "halvard", load_jsonl(ROOT / "corpora" / "halvard.gold.jsonl")
    for name in ("hotpotqa", "xquad"):
        yield name, load_jsonl(WORK / "eval-data" / name / "gold.jsonl")
    yield "mmlb", mmlb_answers_gold()


def main() -> None:
    results = {}
    for name, gold in sets():
        kb = KnowledgeBase(HOME, collection=f"q-{name}-ctx")
        refused = {t: [] for t in GRID}
        for item in gold.items:
            # as KnowledgeBase.ask does: the top k are quoted from, the top MATCHING_DEPTH are the
            # documents that match (for the year check)
            wide = kb.search(item.question, k=max(kb.settings.top_k, MATCHING_DEPTH))
            result = replace(wide, hits=wide.hits[:kb.settings.top_k])
            early = kb._refusal_reason(item.question, result, extractive=True, matching=[h.path for h in wide.hits])
            for t in GRID:
                late = ExtractiveGenerator(min_coverage=t).generate(item.question, result.hits).refused
                refused[t].append((item.answerable, bool(early) or late))
        results[name] = {}
        for t, rows in refused.items():
            answerable = [r for a, r in rows if a]
            unanswerable = [r for a, r in rows if not a]
            results[name][f"{t:.2f}"] = {
                "false_refusal": round(sum(answerable) / max(1, len(answerable)), 3),
                "refusal_accuracy": round(sum(unanswerable) / max(1, len(unanswerable)), 3)}
        print(name, json.dumps(results[name]), flush=True)
        kb.close()
    # keep the evidence calibration (bench/calibrate_refusal_evidence.py) that shares the file
    earlier = json.loads((RESULTS / "refusal.json").read_text()) if (RESULTS / "refusal.json").exists() else {}
    kept = {"evidence": earlier["evidence"]} if "evidence" in earlier else {}
    print(f"wrote {write_result('refusal', {'min_coverage_grid': results, **kept})}")


if __name__ == "__main__":
    main()
