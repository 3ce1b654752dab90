"""Run a gold set against a knowledge base and aggregate the metrics.

Each question is retrieved once (deep enough for ``max(ks)`` distinct documents) for the retrieval
metrics, which rank the documents (or pages, when the gold names pages) by their best chunk, and
answered once through :meth:`KnowledgeBase.ask`, exactly as a user would get it, for the answer,
citation, refusal and latency metrics.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ragkit import __version__
from ragkit.eval import metrics as m
from ragkit.eval.chart import metrics_at_k_svg
from ragkit.eval.gold import GoldItem, GoldSet
from ragkit.generators import generator_name

#: chunks retrieved per ranked document, so that ``max(ks)`` distinct documents are there to rank
CHUNKS_PER_UNIT = 3
#: the retrieval chart written beside report.md
CHART = "metrics_at_k.svg"

#: USD per million tokens (input, output), for the cost estimate only.
PRICES = {
    "gpt-4.1": (2.00, 8.00), "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00), "gpt-4o-mini": (0.15, 0.60),
}


@dataclass
class QuestionResult:
    id: str
    question: str
    answerable: bool
    retrieved: list[dict[str, Any]]
    hit: dict[str, float]
    recall: dict[str, float]
    mrr: float | None
    ndcg: float | None
    answer: str
    refused: bool
    generator: str
    exact_match: float | None
    f1: float | None
    contains: float | None
    citation_precision: float | None
    citation_recall: float | None
    citation_validity: float | None
    timings: dict[str, float]
    usage: dict[str, int]
    judge: bool | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class EvalRun:
    meta: dict[str, Any]
    summary: dict[str, Any]
    results: list[QuestionResult]
    warnings: list[str]

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "summary.json").write_text(json.dumps({"meta": self.meta, "summary": self.summary,
                                                            "warnings": self.warnings}, indent=2))
        with open(directory / "results.jsonl", "w", encoding="utf-8") as handle:
            for result in self.results:
                handle.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")
        series = _chart_series(self)
        if series:
            (directory / CHART).write_text(metrics_at_k_svg(self.meta["ks"], series, title="retrieval metrics at k"))
        (directory / "report.md").write_text(render_report(self))


def _matches(chunk_source: str, chunk_page: int | None, item: GoldItem) -> set[str]:
    units = set()
    name = chunk_source.rsplit("/", 1)[-1]
    for source in item.sources:
        if source.file in (chunk_source, name) or chunk_source.endswith("/" + source.file):
            if source.page is None or source.page == chunk_page:
                units.add(source.unit)
    return units


def _judge(kb, item: GoldItem, answer) -> bool | None:
    """LLM-judge faithfulness; None when the judge's reply cannot be parsed (counted, never NaN)."""
    from ragkit.prompts import format_sources

    generator = kb.generator("openai")
    prompt = (
        "Decide whether every claim in the ANSWER is supported by the SOURCES. Reply with JSON only: "
        '{"supported": true} or {"supported": false}.\n\n'
        f"SOURCES:\n{format_sources(answer.sources)}\n\nQUESTION: {item.question}\n\nANSWER: {answer.text}"
    )
    try:
        text = generator.complete(prompt, max_tokens=20)
        verdict = json.loads(text[text.index("{"): text.rindex("}") + 1])["supported"]
        return bool(verdict) if isinstance(verdict, bool) else None
    except Exception:  # noqa: BLE001 - any failure is a parse failure of the judge, counted below
        return None


def evaluate(
    kb,
    gold: GoldSet,
    *,
    ks: Sequence[int] = (1, 3, 5, 10),
    mode: str | None = None,
    generator: str | None = None,
    answers: bool = True,
    judge: bool = False,
    progress: Callable[[int], None] | None = None,
    concurrency: int | None = None,
) -> EvalRun:
    """Score ``gold`` against ``kb``. With a chat model, questions are answered ``concurrency``
    at a time (default: the ``concurrency`` setting; the client honours 429 Retry-After) and
    results keep the gold order; the offline answerer runs one at a time, so latencies stay clean."""
    ks = sorted(set(ks))
    depth = max(max(ks), 10)
    known_sources = {meta.get("source", "") for _, _, meta in kb.manifest.iter_chunks()}
    warnings = list(gold.problems)
    for item in gold.items:
        for source in item.sources:
            if not any(s == source.file or s.endswith("/" + source.file) for s in known_sources):
                warnings.append(f"{item.id}: gold source {source.file!r} matches no document in the collection")
    use_judge = judge and kb.settings.uses_chat_model

    def score(item: GoldItem) -> QuestionResult:
        search = kb.search(item.question, k=depth * CHUNKS_PER_UNIT, mode=mode)
        by_page = any(source.page is not None for source in item.sources)
        ranked = m.collapse([(h.source, h.page) if by_page else h.source for h in search.hits],
                            [_matches(h.source, h.page, item) for h in search.hits])[:depth]
        relevant = {s.unit for s in item.sources}
        grades = {s.unit: s.grade for s in item.sources}
        has_sources = bool(relevant) and item.answerable
        result = QuestionResult(
            id=item.id, question=item.question, answerable=item.answerable,
            retrieved=[{"source": h.source, "page": h.page, "chunk_id": h.chunk_id, "score": round(h.score, 5)}
                       for h in search.hits[:depth]],
            hit={str(k): m.hit_at_k(ranked, k) for k in ks} if has_sources else {},
            recall={str(k): m.recall_at_k(ranked, relevant, k) for k in ks} if has_sources else {},
            mrr=m.mrr_at_k(ranked, 10) if has_sources else None,
            ndcg=m.ndcg_at_k(ranked, grades, 10) if has_sources else None,
            answer="", refused=False, generator="", exact_match=None, f1=None, contains=None,
            citation_precision=None, citation_recall=None, citation_validity=None,
            timings={k: v for k, v in search.timings.items()}, usage={},
        )
        if answers:
            answer = kb.ask(item.question, mode=mode, generator=generator)
            result.answer, result.refused, result.generator = answer.text, answer.refused, answer.generator
            result.timings = answer.timings
            result.usage = answer.usage
            result.warnings = answer.warnings
            if item.answerable and item.answers:
                text = answer.body
                result.exact_match = m.exact_match(text, item.answers)
                result.f1 = m.token_f1(text, item.answers)
                result.contains = m.contains_gold(text, item.answers)
            if answer.citations:
                by_n = {n: hit for n, hit in enumerate(answer.sources, start=1)}
                result.citation_validity = m.mean([
                    1.0 if by_n[c.n].text[c.quote_start:c.quote_end] == c.quote and c.quote else 0.0
                    for c in answer.citations])
                if has_sources:
                    matched = [_matches(by_n[c.n].source, by_n[c.n].page, item) for c in answer.citations]
                    result.citation_precision = sum(1 for units in matched if units) / len(matched)
                    result.citation_recall = len(set().union(*matched) & relevant) / len(relevant)
            elif item.answerable and has_sources and not answer.refused:
                result.citation_precision = result.citation_recall = 0.0
            if use_judge and not answer.refused:
                result.judge = _judge(kb, item, answer)
        return result

    workers = concurrency or (kb.settings.concurrency if answers and generator_name(kb.settings, generator) == "openai" else 1)
    results: list[QuestionResult] = []
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ragkit-eval") as pool:
            for result in pool.map(score, gold.items):  # map keeps the gold order
                results.append(result)
                if progress:
                    progress(1)
    else:
        for item in gold.items:
            results.append(score(item))
            if progress:
                progress(1)
    summary = summarize(results, ks, kb.settings.model if kb.settings.uses_chat_model else None,
                        judged=use_judge, judge_requested=judge)
    meta = {
        "ragkit_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "gold": gold.path,
        "gold_sha256": _sha256(Path(gold.path)) if Path(gold.path).is_file() else None,
        "collection": kb.settings.collection,
        "collection_fingerprint": kb.fingerprint(),
        "mode": mode or kb.settings.mode,
        "generator": generator_name(kb.settings, generator),
        "ks": ks,
        "config": kb.settings.display(),
    }
    return EvalRun(meta, summary, results, warnings)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def summarize(results: list[QuestionResult], ks: Sequence[int], model: str | None, *, judged: bool,
              judge_requested: bool) -> dict[str, Any]:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    with_sources = [r for r in answerable if r.hit]
    summary: dict[str, Any] = {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "retrieval": {
            **{f"hit@{k}": m.mean([r.hit[str(k)] for r in with_sources]) for k in ks},
            **{f"recall@{k}": m.mean([r.recall[str(k)] for r in with_sources]) for k in ks},
            "mrr@10": m.mean([r.mrr for r in with_sources]),
            "ndcg@10": m.mean([r.ndcg for r in with_sources]),
            "judged_questions": len(with_sources),
        },
        "answer": {
            "exact_match": m.mean([r.exact_match for r in answerable]),
            "f1": m.mean([r.f1 for r in answerable]),
            "contains_gold": m.mean([r.contains for r in answerable]),
        },
        "citations": {
            "precision": m.mean([r.citation_precision for r in answerable]),
            "recall": m.mean([r.citation_recall for r in answerable]),
            "validity": m.mean([r.citation_validity for r in results]),
        },
        "refusal": {
            "accuracy": m.mean([1.0 if r.refused else 0.0 for r in unanswerable]) if unanswerable and results[0].generator else None,
            "false_refusal_rate": m.mean([1.0 if r.refused else 0.0 for r in answerable]) if results and results[0].generator else None,
        },
    }
    latency: dict[str, dict[str, float | None]] = {}
    for stage in ("retrieve", "generate", "total"):
        values = [r.timings[stage] * 1000 for r in results if stage in r.timings]
        if values:
            latency[stage] = {"p50": m.percentile(values, 50), "p95": m.percentile(values, 95)}
    summary["latency_ms"] = latency
    prompt_tokens = sum(r.usage.get("prompt_tokens", 0) for r in results)
    completion_tokens = sum(r.usage.get("completion_tokens", 0) for r in results)
    cost = None
    if model in PRICES and (prompt_tokens or completion_tokens):
        price_in, price_out = PRICES[model]
        cost = round((prompt_tokens * price_in + completion_tokens * price_out) / 1e6, 6)
    summary["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                        "estimated_cost_usd": cost}
    if judged:
        verdicts = [r.judge for r in results if r.answerable and not r.refused]
        parsed = [v for v in verdicts if v is not None]
        summary["judge"] = {"faithfulness": m.mean([1.0 if v else 0.0 for v in parsed]),
                            "judged": len(parsed), "parse_failures": len(verdicts) - len(parsed)}
    else:
        summary["judge"] = {"skipped": "no chat model configured" if judge_requested else "not requested"}
    return summary


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _chart_series(run: EvalRun) -> dict[str, list[float | None]] | None:
    """hit@k and recall@k over the run's k values, or None when no question had gold sources."""
    retrieval = run.summary.get("retrieval", {})
    series = {f"{name}@k": [retrieval.get(f"{name}@{k}") for k in run.meta["ks"]] for name in ("hit", "recall")}
    return series if any(v is not None for values in series.values() for v in values) else None


def render_report(run: EvalRun) -> str:
    s, meta = run.summary, run.meta
    lines = [f"# ragkit eval — {Path(meta['gold']).name}", "",
             f"- ragkit {meta['ragkit_version']}, {meta['created']}",
             f"- collection `{meta['collection']}` (fingerprint `{meta['collection_fingerprint']}`), "
             f"mode `{meta['mode']}`, generator `{meta['generator']}`",
             f"- {s['questions']} questions ({s['answerable']} answerable, {s['unanswerable']} unanswerable)", "",
             "## Retrieval", ""]
    if _chart_series(run):
        lines += [f"![hit@k and recall@k]({CHART})", ""]
    lines += ["| k | hit@k | recall@k |", "|---|---|---|"]
    for k in meta["ks"]:
        lines.append(f"| {k} | {_fmt(s['retrieval'][f'hit@{k}'])} | {_fmt(s['retrieval'][f'recall@{k}'])} |")
    lines += ["", f"MRR@10 {_fmt(s['retrieval']['mrr@10'])} · nDCG@10 {_fmt(s['retrieval']['ndcg@10'])}", "",
              "## Answers, citations, refusal", "", "| metric | value |", "|---|---|"]
    for group in ("answer", "citations", "refusal"):
        for key, value in s[group].items():
            lines.append(f"| {group}.{key} | {_fmt(value)} |")
    if s["latency_ms"]:
        lines += ["", "## Latency (ms)", "", "| stage | p50 | p95 |", "|---|---|---|"]
        for stage, values in s["latency_ms"].items():
            lines.append(f"| {stage} | {_fmt(values['p50'])} | {_fmt(values['p95'])} |")
    misses = [r for r in run.results if (r.answerable and r.hit and r.hit.get("5", 1) == 0)
              or (r.answerable and r.refused) or (not r.answerable and r.generator and not r.refused)]
    if misses:
        lines += ["", "## Questions to look at", ""]
        for r in misses:
            why = ("not refused" if not r.answerable else "refused" if r.refused else "no gold source in top 5")
            lines.append(f"- `{r.id}` ({why}): {r.question}")
    if run.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in run.warnings]
    return "\n".join(lines) + "\n"


# -- comparison -----------------------------------------------------------------------------
def _flatten(summary: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def _correct(row: dict[str, Any]) -> bool | None:
    if not row["answerable"]:
        return row["refused"] if row["generator"] else None
    if row.get("contains") is not None:
        return bool(row["contains"]) and not row["refused"]
    return bool(row["hit"].get("5")) if row["hit"] else None


@dataclass
class Comparison:
    deltas: list[tuple[str, float | None, float | None, float | None]]
    flipped: list[tuple[str, str, str]]  # (id, "fixed"|"broken", question)


def _metric_order(key: str) -> list:
    """``retrieval.hit@3`` before ``retrieval.hit@10``: numbers in a metric's name sort as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def compare_runs(run_a: Path, run_b: Path) -> Comparison:
    from ragkit.errors import UsageError

    loaded = []
    for run in (run_a, run_b):
        if not (run / "summary.json").exists():
            raise UsageError(f"not an eval run folder (no summary.json): {run}")
        summary = json.loads((run / "summary.json").read_text())["summary"]
        rows = {json.loads(line)["id"]: json.loads(line) for line in (run / "results.jsonl").read_text().splitlines() if line}
        loaded.append((_flatten(summary), rows))
    (flat_a, rows_a), (flat_b, rows_b) = loaded
    deltas = []
    for key in sorted(set(flat_a) | set(flat_b), key=_metric_order):
        a, b = flat_a.get(key), flat_b.get(key)
        deltas.append((key, a, b, None if a is None or b is None else b - a))
    flipped = []
    for qid in rows_a.keys() & rows_b.keys():
        before, after = _correct(rows_a[qid]), _correct(rows_b[qid])
        if before is not None and after is not None and before != after:
            flipped.append((qid, "fixed" if after else "broken", rows_b[qid]["question"]))
    flipped.sort()
    return Comparison(deltas, flipped)
