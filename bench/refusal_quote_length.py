"""Does judging coverage over more quoted sentences cut false refusals on multi-hop questions?

The extractive answerer quotes at most two sentences (500 characters) and refuses when they cover
less than ``min_coverage`` of the question's idf-weighted terms. A 3-hop MuSiQue question is
answered by a chain of passages, so two sentences rarely cover it: 16 of its 100 answerable
questions are refused that way. This sweeps how many sentences (and characters) the answerer
may quote and the coverage it needs, with today's other rules unchanged, on the refusal
collections of bench/refusal_evidence_data.py plus MuSiQue-100 as ``make eval-public`` builds it
(30 XQuAD questions as unanswerable). Results under ``quote_length`` in bench/results/refusal.json.

Run with:  .venv/bin/python bench/refusal_quote_length.py   (after refusal_evidence_data.py and
make eval-public, whose MuSiQue collection it reads; minutes)
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace

from common import ROOT, WORK, update_result
from refusal_evidence_data import HOME, qa_sets

sys.path.insert(0, str(ROOT))

from ragkit import KnowledgeBase  # noqa: E402
from ragkit.api import MATCHING_DEPTH  # noqa: E402
from ragkit.eval.gold import load_jsonl  # noqa: E402
from ragkit.generators.extractive import ExtractiveGenerator  # noqa: E402

#: (sentences, characters, min_coverage); the first is the shipped answerer
SETTINGS = [(2, 500, 0.35), (3, 500, 0.35), (3, 800, 0.35), (4, 800, 0.35), (3, 800, 0.40), (4, 1000, 0.40),
            (4, 1000, 0.45)]
SETS = ("halvard", "hotpotqa", "xquad", "mmlb", "musique")


def collections() -> list[tuple[str, KnowledgeBase, list]]:
    sets = qa_sets()
    plan = [(name, KnowledgeBase(HOME, collection=f"r-{name}"), sets[name][1]) for name in SETS[:4]]
    musique = load_jsonl(WORK / "eval-data" / "musique" / "gold.jsonl").items
    return plan + [("musique", KnowledgeBase(WORK / "quality-kb", collection="q-musique-ctx"), musique)]


def main() -> None:
    answerers = {setting: ExtractiveGenerator(max_sentences=setting[0], max_chars=setting[1], min_coverage=setting[2])
                 for setting in SETTINGS}
    refused: dict[tuple, dict[str, list[tuple[bool, bool]]]] = {s: {name: [] for name in SETS} for s in SETTINGS}
    for name, kb, items in collections():
        for item in items:
            wide = kb.search(item.question, k=max(kb.settings.top_k, MATCHING_DEPTH))
            result = replace(wide, hits=wide.hits[:kb.settings.top_k])
            early = kb._refusal_reason(item.question, result, extractive=True, matching=[h.path for h in wide.hits])
            for setting, answerer in answerers.items():
                late = early is None and answerer.generate(item.question, result.hits).refused
                refused[setting][name].append((item.answerable, early is not None or late))
        kb.close()
        print(name, "done", flush=True)
    figures = {}
    for setting in SETTINGS:
        label = f"{setting[0]} sentences, {setting[1]} chars, min_coverage {setting[2]}"
        figures[label] = {}
        for name, rows in refused[setting].items():
            answerable = [r for a, r in rows if a]
            unanswerable = [r for a, r in rows if not a]
            figures[label][name] = {"false_refusal": round(sum(answerable) / len(answerable), 3),
                                    "refused_unanswerable": round(sum(unanswerable) / max(1, len(unanswerable)), 3)}
        print(label, json.dumps(figures[label]), flush=True)
    update_result("refusal", "quote_length", figures)


if __name__ == "__main__":
    main()
