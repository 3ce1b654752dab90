"""How much retrieval a follow-up loses by being a follow-up.

A conversation file (JSONL, one conversation a line) holds turns written the way people write
them, each with the same question written out in full::

    {"id": "warranty", "turns": [
      {"question": "How long is the warranty on the WS-200 sensor array?",
       "standalone": "How long is the warranty on the WS-200 sensor array?",
       "answers": ["3 years"], "sources": [{"file": "warranty-and-returns.docx"}]},
      {"question": "and how do I return it?", "standalone": "How do I return the WS-200 sensor array?",
       "answers": ["RMA number"], "sources": [{"file": "warranty-and-returns.docx"}]}]}

Each conversation is played through a :class:`~ragkit.conversations.ChatSession` (so the system
rewrites every follow-up from its own earlier turns, exactly as in a chat), and for every turn
three queries are searched: the follow-up as the system rewrote it, the written-out standalone
question, and the follow-up as typed (what retrieval would see without rewriting). The headline
is the **ratio** of follow-up hit@k, rewritten over standalone: 1.0 means a follow-up retrieves as
well as the question asked in full.

    python -m ragkit.eval.conversations corpora/halvard.conversations.jsonl --home .ragkit

With ``--base-url`` (and ``--model``) the chat model condenses the follow-ups instead of the
offline rewrite; ``--generator extractive`` keeps the answers offline so only the condensing is
measured. The report counts how often the model's condense failed and the offline rewrite was used.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, Field, ValidationError

from ragkit.errors import GoldSetError
from ragkit.eval.gold import GoldSource
from ragkit.eval.metrics import hit_at_k, mrr_at_k


class ConversationTurn(BaseModel):
    question: str = Field(min_length=1)
    standalone: str = Field(min_length=1)
    answers: list[str] = []
    sources: list[GoldSource] = Field(min_length=1)


class Conversation(BaseModel):
    id: str
    turns: list[ConversationTurn] = Field(min_length=1)


def load_conversations(path: str | Path) -> list[Conversation]:
    conversations = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            conversations.append(Conversation.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise GoldSetError(f"{path}:{number}: not a conversation: {str(exc).splitlines()[0]}") from None
    if not conversations:
        raise GoldSetError(f"{path}: no conversations")
    return conversations


@dataclass
class TurnResult:
    conversation: str
    turn: int
    question: str
    standalone: str
    rewritten: str
    method: str
    #: what the session reported about the rewrite (a failed condense, answered offline instead)
    notices: list[str] = field(default_factory=list)
    #: per query variant: {"hit": hit@k, "hit1": hit@1, "mrr": reciprocal rank}
    scores: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class ConversationReport:
    k: int
    turns: list[TurnResult]

    def _mean(self, variant: str, metric: str, follow_ups: bool = True) -> float:
        rows = [t for t in self.turns if (t.turn > 1) == follow_ups]
        return sum(t.scores[variant][metric] for t in rows) / len(rows) if rows else 0.0

    @property
    def follow_ups(self) -> int:
        return sum(1 for t in self.turns if t.turn > 1)

    @property
    def ratio(self) -> float:
        """Follow-up hit@k as rewritten, over the hit@k of the questions written out in full."""
        standalone = self._mean("standalone", "hit")
        return self._mean("rewritten", "hit") / standalone if standalone else 0.0

    def summary(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"k": self.k, "conversations": len({t.conversation for t in self.turns}),
                                   "turns": len(self.turns), "follow_ups": self.follow_ups,
                                   "ratio": round(self.ratio, 4),
                                   "first_turn_hit": round(self._mean("standalone", "hit", follow_ups=False), 4)}
        for variant in ("rewritten", "standalone", "raw"):
            for metric, name in (("hit", f"hit@{self.k}"), ("hit1", "hit@1"), ("mrr", "mrr")):
                figures[f"{variant}_{name}"] = round(self._mean(variant, metric), 4)
        figures["rewritten_changed"] = sum(1 for t in self.turns if t.turn > 1 and t.method != "unchanged")
        figures["condensed_by_model"] = sum(1 for t in self.turns if t.turn > 1 and t.method == "model")
        figures["condense_fallbacks"] = sum(1 for t in self.turns if t.turn > 1 and t.notices)
        return figures

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "turns": [asdict(t) for t in self.turns]}

    def render(self) -> str:
        s = self.summary()
        k = self.k
        lines = [f"{s['conversations']} conversations, {s['turns']} turns, {s['follow_ups']} follow-ups (hit@{k})"]
        for variant, label in (("rewritten", "follow-ups as rewritten:"), ("standalone", "written out in full:"),
                               ("raw", "as typed, not rewritten:")):
            lines.append(f"  {label:<26} hit@{k} {s[f'{variant}_hit@{k}']:.3f}  hit@1 {s[f'{variant}_hit@1']:.3f}"
                         f"  mrr {s[f'{variant}_mrr']:.3f}")
        lines.append(f"  {'ratio (rewritten / full):':<26} {s['ratio']:.3f}")
        if s["condensed_by_model"] or s["condense_fallbacks"]:
            lines.append(f"  chat model: {s['condensed_by_model']} follow-ups rewritten by it, "
                         f"{s['condense_fallbacks']} fell back to the offline rewrite")
        misses = [t for t in self.turns if t.turn > 1 and t.scores["rewritten"]["hit"] < t.scores["standalone"]["hit"]]
        for miss in misses:
            lines.append(f"  miss {miss.conversation}#{miss.turn}: {miss.question!r} -> {miss.rewritten!r}")
        return "\n".join(lines)


def _units(hits: Sequence[Any], sources: Sequence[GoldSource]) -> list[set[str]]:
    """Per retrieved chunk, the gold units (file, or file and page) it matches."""
    ranked = []
    for hit in hits:
        name = hit.source.rsplit("/", 1)[-1]
        ranked.append({s.unit for s in sources
                       if s.file in (hit.source, name) and (s.page is None or s.page == hit.page)})
    return ranked


def _score(kb: Any, query: str, sources: Sequence[GoldSource], k: int) -> dict[str, float]:
    ranked = _units(kb.search(query, k=max(k, 10)).hits, sources)
    return {"hit": hit_at_k(ranked, k), "hit1": hit_at_k(ranked, 1), "mrr": mrr_at_k(ranked, 10)}


def evaluate_conversations(kb: Any, conversations: Sequence[Conversation], *, k: int = 5, store: Any = None,
                           echo: bool = False, generator: str | None = None) -> ConversationReport:
    """Play every conversation through a chat session and score each turn's retrieval.

    The session's threads go to ``store`` (a :class:`~ragkit.conversations.ThreadStore`), or to a
    temporary one, so evaluating never writes into the knowledge base. ``generator`` answers the
    turns (default: the knowledge base's own); follow-ups are rewritten as the settings say, by
    the chat model when one is configured."""
    from ragkit.conversations import ChatSession, ThreadStore

    results: list[TurnResult] = []
    with tempfile.TemporaryDirectory(prefix="ragkit-conversations-") as scratch:
        threads = store if store is not None else ThreadStore(Path(scratch) / "threads.sqlite")
        try:
            for conversation in conversations:
                session = ChatSession(kb, store=threads)
                for number, turn in enumerate(conversation.turns, start=1):
                    answered = session.ask(turn.question, **({"generator": generator} if generator else {}))
                    results.append(TurnResult(
                        conversation=conversation.id, turn=number, question=turn.question,
                        standalone=turn.standalone, rewritten=answered.standalone, method=answered.method,
                        notices=list(answered.notices),
                        scores={"rewritten": _score(kb, answered.standalone, turn.sources, k),
                                "standalone": _score(kb, turn.standalone, turn.sources, k),
                                "raw": _score(kb, turn.question, turn.sources, k)}))
        finally:
            if store is None:
                threads.close()
    report = ConversationReport(k, results)
    if echo:
        print(report.render())
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score follow-up rewriting on a conversation file.")
    parser.add_argument("conversations", type=Path)
    parser.add_argument("--home", type=Path, default=None, help="knowledge-base directory [.ragkit]")
    parser.add_argument("--collection", default=None)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--base-url", default=None,
                        help="an OpenAI-compatible server whose chat model condenses the follow-ups")
    parser.add_argument("--model", default=None, help="the chat model's name on that server")
    parser.add_argument("--generator", choices=("auto", "extractive", "openai"), default=None,
                        help="what answers the turns [the settings'; extractive measures the condensing alone]")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print the full report as JSON")
    args = parser.parse_args(argv)
    from ragkit.api import KnowledgeBase

    overrides: dict[str, Any] = {"collection": args.collection} if args.collection else {}
    if args.base_url:
        overrides.update(base_url=args.base_url, generator="openai")
    if args.model:
        overrides["model"] = args.model
    with KnowledgeBase(args.home, **overrides) as kb:
        report = evaluate_conversations(kb, load_conversations(args.conversations), k=args.k,
                                        generator=args.generator)
    print(json.dumps(report.to_dict(), indent=2) if args.as_json else report.render())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
