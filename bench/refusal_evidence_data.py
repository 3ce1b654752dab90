"""Collections and per-question signals for bench/calibrate_refusal_evidence.py.

Builds the four collections bench/calibrate_refusal.py reads (the sample corpus, HotpotQA-100 and
XQuAD-en with the other set's questions as unanswerable, MMLongBench-Doc dev with its 250
answerable and 76 unanswerable questions) in ``$RAGKIT_BENCH_DIR/refusal-evidence`` (reused when
present), then records, for every question, what the refusal rules look at:

* ``early``: today's pre-generation reason (similarity, unknown names, absent years), or None;
* ``late``: the extractive answerer's refusal (coverage under ``min_coverage``, or the asked-for
  kind missing from the quoted sentence); ``kind_only``: the same without the coverage rule;
* ``coverage`` and ``best_similarity``: the two numbers behind those rules;
* ``logits``: the cross-encoder's logit for each of the top ``PASSAGES`` hits, in rank order.

Run alone with set names (``halvard hotpotqa xquad mmlb``) to record those sets' signals only;
``--build`` builds the collections.

XQuAD is subsampled (every fourth answerable question, all 60 unanswerable) to keep the run
within the time a shared 2-core machine allows; every other set is used whole.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

from common import ROOT, SHARED, WORK

sys.path.insert(0, str(ROOT))

from ragkit import KnowledgeBase  # noqa: E402
from ragkit.api import MATCHING_DEPTH  # noqa: E402
from ragkit.eval.datasets import load_dataset, with_unanswerable, write_corpus  # noqa: E402
from ragkit.eval.gold import GoldItem, load_jsonl  # noqa: E402
from ragkit.generators.extractive import ExtractiveGenerator  # noqa: E402
from ragkit.rerankers.base import Candidate  # noqa: E402
from ragkit.rerankers.cross_encoder import CrossEncoderReranker  # noqa: E402

HOME = WORK / "refusal-evidence"
SIGNALS = WORK / "refusal-evidence-signals"
QA = SHARED / "qa"
MMLB = SHARED / "pdf-qa" / "mmlongbench-doc-dev"
#: cross-encoder logits are recorded for this many top hits (the rule may read fewer)
PASSAGES = 5
XQUAD_EVERY = 4


def qa_sets() -> dict[str, tuple]:
    """(documents folder, gold items) per set, the same way bench/eval_public.py builds them."""
    sets = {"halvard": (ROOT / "corpora" / "halvard", load_jsonl(ROOT / "corpora" / "halvard.gold.jsonl").items)}
    plans = {"hotpotqa": ("hotpotqa", QA / "hotpotqa-100", "xquad", QA / "xquad-en", 30),
             "xquad": ("xquad", QA / "xquad-en", "hotpotqa", QA / "hotpotqa-100", 60)}
    for name, (kind, source, other_kind, other, n) in plans.items():
        documents, items = load_dataset(kind, source)
        items = with_unanswerable(items, load_dataset(other_kind, other)[1], n)
        docs, gold = write_corpus(documents, items, WORK / "eval-data" / name)
        items = load_jsonl(gold).items
        if name == "xquad":
            answerable = [i for i in items if i.answerable][::XQUAD_EVERY]
            items = answerable + [i for i in items if not i.answerable]
        sets[name] = (docs, items)
    sets["mmlb"] = (MMLB / "docs", mmlb_items())
    return sets


def mmlb_items() -> list[GoldItem]:
    items = load_jsonl(MMLB / "questions.jsonl").items + load_jsonl(MMLB / "questions_unanswerable.jsonl").items
    return items


def build() -> None:
    for name, (docs, _) in qa_sets().items():
        started = time.perf_counter()
        kb = KnowledgeBase(HOME, collection=f"r-{name}")
        kb.ingest([docs])
        print(f"built {name} in {time.perf_counter() - started:.0f}s", flush=True)
        kb.close()


def collect(names: tuple[str, ...] = ("halvard", "hotpotqa", "xquad", "mmlb")) -> list[dict]:
    """One row of signals per question of every set; cached per set in :data:`SIGNALS`."""
    rows: list[dict] = []
    SIGNALS.mkdir(parents=True, exist_ok=True)
    for name in names:
        cached = SIGNALS / f"{name}.json"
        if not cached.exists():
            cached.write_text(json.dumps(signals(name)))
        rows += json.loads(cached.read_text())
    return rows


def signals(only: str) -> list[dict]:
    scorer = CrossEncoderReranker()
    extractive = ExtractiveGenerator()
    lenient = ExtractiveGenerator(min_coverage=0.0)  # what is left of ``late`` without the coverage rule
    documents = {}
    for line in open(MMLB / "questions.jsonl", encoding="utf-8"):
        row = json.loads(line)
        documents[row["id"]] = row["sources"][0]["file"]
    for line in open(MMLB / "questions_unanswerable.jsonl", encoding="utf-8"):
        row = json.loads(line)
        documents[row["id"]] = row["file"]
    rows: list[dict] = []
    for name, (_, items) in qa_sets().items():
        if name != only:
            continue
        kb = KnowledgeBase(HOME, collection=f"r-{name}")
        started = time.perf_counter()
        for item in items:
            # as KnowledgeBase.ask does: the top k are quoted from, the top MATCHING_DEPTH match
            wide = kb.search(item.question, k=max(kb.settings.top_k, MATCHING_DEPTH))
            result = replace(wide, hits=wide.hits[:kb.settings.top_k])
            early = kb._refusal_reason(item.question, result, extractive=True,
                                       matching=[h.path for h in wide.hits])
            selection = extractive.choose(item.question, result.hits)
            late = extractive.generate(item.question, result.hits).refused
            kind_only = lenient.generate(item.question, result.hits).refused
            head = [Candidate(h.chunk_id, h.text, h.score) for h in result.hits[:PASSAGES]]
            logits = scorer.score(item.question, head) if head else []
            rows.append({"set": name, "id": item.id, "answerable": item.answerable,
                         "document": documents.get(item.id, ""), "early": early, "late": late, "kind_only": kind_only,
                         "coverage": selection.coverage, "best_similarity": result.best_similarity,
                         "logits": [round(v, 4) for v in logits]})
        print(f"{name}: {len(items)} questions in {time.perf_counter() - started:.0f}s", flush=True)
        kb.close()
    return rows


if __name__ == "__main__":
    build() if "--build" in sys.argv else collect(tuple(sys.argv[1:]) or ("halvard", "hotpotqa", "xquad", "mmlb"))
