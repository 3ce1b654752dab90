"""Does narrowing the unknown-name check to the documents that match make refusal better?

Today a question is refused when it names something (a capitalised word, a code) that *no*
chunk of the collection mentions, and when it names a year that none of the documents matching
it mention. The question here: should names be checked the way years are, against the matching
documents only? On MMLongBench-Doc the unanswerable questions change one detail of a real
document ("the survey of Chinese adults" for "U.S. adults"), and the changed word is often
somewhere else in the collection, just not in the document the question is about.

For every question of the four collections of bench/refusal_evidence_data.py this records the
names (years left to their own check) that none of the top ``MATCHING_DEPTH`` hits' documents
mention, then prints, per set, how many answerable and unanswerable questions the extra check
would refuse beyond today's rules. Results under ``name_scope`` in bench/results/refusal.json.

Run with:  .venv/bin/python bench/refusal_name_scope.py   (after refusal_evidence_data.py)
"""

from __future__ import annotations

import sys

from common import ROOT, update_result
from refusal_evidence_data import HOME, collect, qa_sets

sys.path.insert(0, str(ROOT))

from ragkit import KnowledgeBase  # noqa: E402
from ragkit.api import MATCHING_DEPTH  # noqa: E402
from ragkit.text import name_like_words, named_years  # noqa: E402

SETS = ("halvard", "hotpotqa", "xquad", "mmlb")


def absent_names(kb: KnowledgeBase, question: str) -> list[str]:
    """Names of ``question`` that none of the documents matching it mention, in any case."""
    wide = kb.search(question, k=max(kb.settings.top_k, MATCHING_DEPTH))
    paths = list(dict.fromkeys(hit.path for hit in wide.hits))
    years = set(named_years(question))
    return [word for word in name_like_words(question) if word not in years
            and not kb.manifest.mentions(paths, word) and not kb.manifest.mentions(paths, word.lower())]


def main() -> None:
    today = {(row["set"], row["id"]): bool(row["early"]) or row["late"] for row in collect(SETS)}
    figures: dict[str, dict] = {}
    for name, (_, items) in qa_sets().items():
        kb = KnowledgeBase(HOME, collection=f"r-{name}")
        counts = {"answerable": 0, "unanswerable": 0, "false_refusals_today": 0, "false_refusals_with": 0,
                  "refused_today": 0, "refused_with": 0}
        for item in items:
            fires = bool(absent_names(kb, item.question))
            before = today[(name, item.id)]
            if item.answerable:
                counts["answerable"] += 1
                counts["false_refusals_today"] += before
                counts["false_refusals_with"] += before or fires
            else:
                counts["unanswerable"] += 1
                counts["refused_today"] += before
                counts["refused_with"] += before or fires
        kb.close()
        figures[name] = counts
        print(f"{name}: false refusals {counts['false_refusals_today']} -> {counts['false_refusals_with']} "
              f"of {counts['answerable']}; unanswerable refused {counts['refused_today']} -> "
              f"{counts['refused_with']} of {counts['unanswerable']}", flush=True)
    update_result("refusal", "name_scope", figures)


if __name__ == "__main__":
    main()
