"""``ragkit eval``: gold sets, BEIR folders, run comparison, public-set preparation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ragkit.cli.app import CollectionOpt, HomeOpt, JsonOpt, _fail, _kb, app, console, err
from ragkit.cli.query import ModeOpt, _check_mode
from ragkit.errors import RagkitError


# -- eval ---------------------------------------------------------------------------------------
from typer.core import TyperGroup  # noqa: E402


class _EvalGroup(TyperGroup):
    """``ragkit eval GOLD.jsonl ...`` runs a gold set; ``beir``, ``compare`` and ``prepare`` are subcommands."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(cls=_EvalGroup, no_args_is_help=True, add_completion=False,
                       help="Evaluate retrieval, answers, citations and refusal against gold questions.")
app.add_typer(eval_app, name="eval")


def _parse_ks(value: str) -> list[int]:
    from ragkit.errors import UsageError

    try:
        ks = sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError:
        raise UsageError(f"--k must be a comma-separated list of integers, not {value!r}") from None
    if not ks or ks[0] < 1:
        raise UsageError("--k values must be positive")
    return ks


def _eval_progress(total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("questions", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err,
                   transient=True, disable=not err.is_terminal)
    task = bar.add_task("eval", total=total)
    return bar, (lambda n: bar.advance(task, n))


def _print_eval(run, out: Path | None) -> None:
    s = run.summary
    table = Table("metric", "value", title=f"eval: {s['questions']} questions ({s['unanswerable']} unanswerable)")
    rows = [(f"retrieval.{k}", v) for k, v in s["retrieval"].items() if k != "judged_questions"]
    rows += [(f"{g}.{k}", v) for g in ("answer", "citations", "refusal") for k, v in s[g].items()]
    rows += [(f"latency.{stage}.p50 ms", v["p50"]) for stage, v in s["latency_ms"].items()]
    for key, value in rows:
        table.add_row(key, "–" if value is None else f"{value:.3f}")
    console.print(table)
    for warning in run.warnings[:20]:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if len(run.warnings) > 20:
        err.print(f"[yellow]warning:[/] … and {len(run.warnings) - 20} more (see report.md)")
    if out:
        console.print(f"wrote {out}/summary.json, results.jsonl, report.md", highlight=False)


@eval_app.command("run")
def eval_run(
    gold: Annotated[Path, typer.Argument(help="Gold questions (JSONL).")],
    home: HomeOpt = None,
    collection: CollectionOpt = None,
    ks: Annotated[str, typer.Option("--k", help="Cut-offs for hit@k / recall@k.")] = "1,3,5,10",
    mode: ModeOpt = None,
    generator: Annotated[Optional[str], typer.Option("--generator", help="Who answers: extractive or openai (default: the chat model when a key or base URL is set).", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the run to this folder (e.g. runs/NAME).", show_default=False)] = None,
    ingest_dir: Annotated[Optional[Path], typer.Option("--ingest", help="Ingest this folder first (incremental).", show_default=False)] = None,
    answers: Annotated[bool, typer.Option("--answers/--retrieval-only", help="Also generate and score answers.")] = True,
    judge: Annotated[bool, typer.Option("--judge", help="LLM-judge faithfulness (needs a chat model).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a gold set (JSONL) against a collection and report the metrics."""
    from ragkit.eval.gold import load_jsonl
    from ragkit.eval.runner import evaluate

    try:
        _check_mode(mode)
        k_values = _parse_ks(ks)
        gold_set = load_jsonl(gold)
        with _kb(home, collection, **({"generator": generator} if generator else {})) as kb:
            if ingest_dir is not None:
                for f in kb.ingest([ingest_dir]).files:  # a document missing from the run skews it: say so
                    if f.status == "failed":
                        err.print(f"[yellow]warning:[/] not ingested: {f.source}: {f.reason}", highlight=False)
            bar, advance = _eval_progress(len(gold_set.items))
            with bar:
                run = evaluate(kb, gold_set, ks=k_values, mode=mode, generator=generator, answers=answers,
                               judge=judge, progress=advance)
    except RagkitError as exc:
        raise _fail(exc) from None
    if out:
        run.write(out)
    if as_json:
        print(json.dumps({"meta": run.meta, "summary": run.summary, "warnings": run.warnings}, indent=2))
    else:
        _print_eval(run, out)


@eval_app.command("beir")
def eval_beir(
    directory: Annotated[Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")],
    home: HomeOpt = None,
    collection: CollectionOpt = None,
    split: Annotated[str, typer.Option(help="qrels split")] = "test",
    ks: Annotated[str, typer.Option("--k", help="Cut-offs for hit@k / recall@k.")] = "1,3,5,10",
    mode: ModeOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the run to this folder (e.g. runs/NAME).", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest a BEIR corpus into its own collection (one chunk per document when it fits) and score retrieval."""
    from ragkit.models import Record
    from ragkit.eval.gold import load_beir
    from ragkit.eval.runner import evaluate

    try:
        _check_mode(mode)
        k_values = _parse_ks(ks)
        beir = load_beir(directory, split)
        name = collection or ("beir-" + "".join(c if c.isalnum() else "-" for c in directory.resolve().name)).strip("-")
        with _kb(home, name) as kb:
            kb.ingest_records(Record(doc_id, text, title) for doc_id, title, text in beir.corpus)
            bar, advance = _eval_progress(len(beir.gold.items))
            with bar:
                run = evaluate(kb, beir.gold, ks=k_values, mode=mode, answers=False, progress=advance)
    except RagkitError as exc:
        raise _fail(exc) from None
    if out:
        run.write(out)
    if as_json:
        print(json.dumps({"meta": run.meta, "summary": run.summary}, indent=2))
    else:
        _print_eval(run, out)


@eval_app.command("compare")
def eval_compare(
    run_a: Annotated[Path, typer.Argument(help="Baseline run folder.")],
    run_b: Annotated[Path, typer.Argument(help="Candidate run folder.")],
    as_json: JsonOpt = False,
) -> None:
    """Per-metric deltas between two runs, and the questions that flipped."""
    from ragkit.eval.runner import compare_runs

    try:
        comparison = compare_runs(run_a, run_b)
    except RagkitError as exc:
        raise _fail(exc) from None
    if as_json:
        print(json.dumps({"deltas": comparison.deltas, "flipped": comparison.flipped}, indent=2))
        return
    table = Table("metric", run_a.name, run_b.name, "delta", title="eval compare")
    for key, a, b, delta in comparison.deltas:
        if key.endswith(("questions", "answerable", "unanswerable")):
            continue
        colour = "" if not delta else ("green" if (delta > 0) != key.startswith(("latency", "refusal.false")) else "red")
        shown = "–" if delta is None else f"{delta:+.3f}"
        table.add_row(key, "–" if a is None else f"{a:.3f}", "–" if b is None else f"{b:.3f}",
                      f"[{colour}]{shown}[/]" if colour else shown)
    console.print(table)
    if comparison.flipped:
        console.print(f"{len(comparison.flipped)} question(s) flipped:")
        for qid, direction, question in comparison.flipped:
            console.print(f"  {'[green]fixed[/] ' if direction == 'fixed' else '[red]broken[/]'} {qid}: {question}",
                          highlight=False)
    else:
        console.print("no question flipped")


@eval_app.command("prepare")
def eval_prepare(
    kind: Annotated[str, typer.Argument(help="hotpotqa, musique, squad or xquad")],
    source: Annotated[Path, typer.Argument(help="The dataset folder (or SQuAD JSON file).")],
    out: Annotated[Path, typer.Argument(help="Output folder: docs/ and gold.jsonl are written here.")],
    unanswerable_from: Annotated[Optional[str], typer.Option("--unanswerable-from", help="KIND:PATH of another set whose questions are added as unanswerable.", show_default=False)] = None,
    unanswerable: Annotated[int, typer.Option("--unanswerable", help="How many such questions.")] = 20,
) -> None:
    """Turn a public QA set into a folder of documents and a gold JSONL."""
    from ragkit.errors import UsageError
    from ragkit.eval.datasets import load_dataset, with_unanswerable, write_corpus

    try:
        documents, items = load_dataset(kind, source)
        if unanswerable_from:
            other_kind, sep, other_path = unanswerable_from.partition(":")
            if not sep:
                raise UsageError("--unanswerable-from must look like KIND:PATH, e.g. xquad:../shared/datasets/qa/xquad-en")
            items = with_unanswerable(items, load_dataset(other_kind, Path(other_path))[1], unanswerable)
        docs, gold = write_corpus(documents, items, out)
    except RagkitError as exc:
        raise _fail(exc) from None
    console.print(f"wrote {len(documents)} documents to {docs} and {len(items)} questions to {gold}", highlight=False)
