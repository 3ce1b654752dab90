"""Follow-up questions: hit@5 of the follow-up as the system made it standalone, over the hit@5 of
the question written out in full (the sets of bench/followups_build.py: ``--set hotpotqa``, the
default, over HotpotQA-100's paragraphs, or ``--set musique`` over MuSiQue-100's).

Three columns, on one split (``test`` by default; rules were developed on HotpotQA's ``dev``, and
MuSiQue, on which nothing was developed, is all ``test``):

* ``offline``: chat sessions on a knowledge base, follow-ups rewritten by the offline rules
  (ragkit.conversations.rewrite), answers extractive;
* ``model``: the same with the chat model at RAGKIT_BASE_URL condensing (skipped with a note when
  it is not set or does not answer);
* ``chat_completions``: a real ``ragkit serve`` and the stock ``openai`` SDK. Each conversation is
  sent as messages (turn 1, its answer, turn 2); the searched query is the response's
  ``ragkit.search_query``, scored with the server's vector-store search, as is the full question.

Per kind (entity-fragment, verb-ellipsis, other-one, time-shift, standalone) and overall; the goal
is a ratio of at least 0.9. The knowledge base and the server's home are kept next to the set
(~/.cache/ragkit/followups/, ~/.cache/ragkit/followups-musique/) so a second run does not ingest
again. Writes bench/results/followups.json (HotpotQA test), followups-dev.json (HotpotQA dev) or
followups-musique.json.

Run with:  .venv/bin/python bench/eval_followups.py [--set hotpotqa|musique] [--split test]
           [--surfaces offline,model,chat_completions]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from collections import defaultdict
from pathlib import Path

from common import ROOT, write_result
from followups_build import build
from followups_sets import SETS

from ragkit import KnowledgeBase  # noqa: E402
from ragkit.eval.conversations import Conversation, evaluate_conversations  # noqa: E402

K = 5


def load(split: str, qa_set: str = "hotpotqa") -> list[dict]:
    out = SETS[qa_set].out
    path = out / f"{split}.jsonl"
    if not path.exists() or not (out / "docs").is_dir():
        build(out, qa_set)
    if not path.exists():
        raise SystemExit(f"the {qa_set} follow-up set has no {split} split")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def ensure_kb(qa_set: str = "hotpotqa", **settings) -> KnowledgeBase:
    out = SETS[qa_set].out
    kb = KnowledgeBase(out / "kb", collection=f"followups-{qa_set}", **settings)
    kb.ingest([out / "docs"])  # incremental: files already ingested are skipped, an interrupted run resumes
    return kb


def summarise(rows: list[tuple[str, float, float, float]]) -> dict:
    """rows: (kind, follow-up hit, standalone hit, as-typed hit) -> per kind and overall."""
    by_kind: dict[str, list] = defaultdict(list)
    for row in rows:
        by_kind[row[0]].append(row)
        by_kind["all"].append(row)
    out = {}
    for kind, group in sorted(by_kind.items()):
        n = len(group)
        followup, standalone, raw = (sum(r[i] for r in group) / n for i in (1, 2, 3))
        out[kind] = {"n": n, "followup_hit@5": round(followup, 4), "standalone_hit@5": round(standalone, 4),
                     "as_typed_hit@5": round(raw, 4), "ratio": round(followup / standalone, 4) if standalone else None}
    return out


def session_column(kb: KnowledgeBase, items: list[dict]) -> tuple[dict, list[dict]]:
    conversations = [Conversation.model_validate(item) for item in items]
    kinds = {item["id"]: item["kind"] for item in items}
    report = evaluate_conversations(kb, conversations, k=K, generator="extractive")
    rows, misses = [], []
    for t in report.turns:
        if t.turn == 1:
            continue
        rows.append((kinds[t.conversation], t.scores["rewritten"]["hit"], t.scores["standalone"]["hit"],
                     t.scores["raw"]["hit"]))
        if t.scores["rewritten"]["hit"] < t.scores["standalone"]["hit"]:
            misses.append({"id": t.conversation, "question": t.question, "rewritten": t.rewritten, "method": t.method})
    return summarise(rows), misses


def model_reachable(base_url: str) -> str | None:
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=5) as response:
            return None if response.status == 200 else f"status {response.status}"
    except OSError as exc:
        return str(exc)


def chat_completions_column(items: list[dict], qa_set: str = "hotpotqa") -> tuple[dict, list[dict]]:
    """A real server, the stock SDK, each conversation sent as messages."""
    sys.path.insert(0, str(ROOT / "tests"))
    from server_helpers import Server, upload_batch

    out = SETS[qa_set].out
    home = out / "serve-home"
    server = Server(home, "--no-auth", env={"RAGKIT_BASE_URL": "", "OPENAI_API_KEY": ""}).start(timeout=300)
    try:
        client = server.client().with_options(max_retries=8)  # the server limits keys to 600 requests a minute
        marker = home / "followups-store.json"
        store = json.loads(marker.read_text())["id"] if marker.exists() else None
        if store is None:
            store = client.vector_stores.create(name=f"{qa_set}-followups").id
            files = sorted((out / "docs").iterdir())
            for start in range(0, len(files), 100):
                upload_batch(client, store, files[start:start + 100])
            marker.write_text(json.dumps({"id": store}))

        def hit(query: str, gold: set[str]) -> float:
            found = client.vector_stores.search(store, query=query, max_num_results=K)
            return float(any(r.filename in gold for r in found.data))

        rows, misses = [], []
        for item in items:
            first, second = item["turns"]
            ask = {"model": "ragkit-extractive", "extra_body": {"vector_store_ids": [store]}}
            messages = [{"role": "user", "content": first["question"]}]
            answer = client.chat.completions.create(messages=messages, **ask).choices[0].message.content or ""
            messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": second["question"]}]
            reply = client.chat.completions.create(messages=messages, **ask)
            query = reply.model_extra["ragkit"]["search_query"]
            gold = {s["file"] for s in second["sources"]}
            row = (item["kind"], hit(query, gold), hit(second["standalone"], gold), hit(second["question"], gold))
            rows.append(row)
            if row[1] < row[2]:
                misses.append({"id": item["id"], "question": second["question"], "searched": query})
        return summarise(rows), misses
    finally:
        server.stop()


def offline_figures(split: str = "test", qa_set: str = "hotpotqa") -> dict:
    """The offline column alone, per kind (bench/eval_public.py's follow-up row)."""
    with ensure_kb(qa_set, generator="extractive") as kb:
        return session_column(kb, load(split, qa_set))[0]


def result_name(qa_set: str, split: str) -> str:
    if qa_set == "hotpotqa":
        return "followups" if split == "test" else "followups-dev"
    return f"followups-{qa_set}" if split == "test" else f"followups-{qa_set}-{split}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", dest="qa_set", choices=sorted(SETS), default="hotpotqa")
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--surfaces", default="offline,model,chat_completions")
    args = parser.parse_args()
    surfaces = args.surfaces.split(",")
    items = load(args.split, args.qa_set)
    results: dict = {"set": args.qa_set, "split": args.split, "k": K, "conversations": len(items),
                     "columns": {}, "notes": []}
    misses: dict = {}
    if "offline" in surfaces:
        with ensure_kb(args.qa_set, generator="extractive") as kb:
            results["columns"]["offline"], misses["offline"] = session_column(kb, items)
        print("offline", json.dumps(results["columns"]["offline"]["all"]), flush=True)
    base_url = os.environ.get("RAGKIT_BASE_URL")
    if "model" in surfaces:
        problem = "RAGKIT_BASE_URL is not set" if not base_url else model_reachable(base_url)
        if problem:
            results["notes"].append(f"model column skipped: {problem}")
        else:
            with ensure_kb(args.qa_set, generator="openai", base_url=base_url) as kb:
                results["columns"]["model"], misses["model"] = session_column(kb, items)
            results["model"] = os.environ.get("RAGKIT_MODEL", "")
    if "chat_completions" in surfaces:
        results["columns"]["chat_completions"], misses["chat_completions"] = chat_completions_column(items, args.qa_set)
        print("chat completions", json.dumps(results["columns"]["chat_completions"]["all"]), flush=True)
    results["misses"] = misses
    name = result_name(args.qa_set, args.split)
    earlier = ROOT / "bench" / "results" / f"{name}.json"
    if earlier.exists():  # a run of some surfaces keeps the figures of the others
        kept = json.loads(earlier.read_text())
        for column, figures in kept.get("columns", {}).items():
            if column not in results["columns"]:
                results["columns"][column] = figures
                misses.setdefault(column, kept.get("misses", {}).get(column, []))
    path = write_result(name, results)
    print(table(results))
    print(f"wrote {path}")


def table(results: dict) -> str:
    columns = list(results["columns"])
    lines = ["| kind | n | " + " | ".join(f"{c}: follow-up / full hit@5 (ratio)" for c in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    kinds = next(iter(results["columns"].values()), {})
    for kind, first in kinds.items():
        cells = []
        for column in columns:
            r = results["columns"][column].get(kind, {})
            cells.append(f"{r.get('followup_hit@5', 0):.3f} / {r.get('standalone_hit@5', 0):.3f} ({r.get('ratio') or 0:.3f})")
        lines.append(f"| {kind} | {first['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines + [f"note: {n}" for n in results["notes"]])


if __name__ == "__main__":
    main()
