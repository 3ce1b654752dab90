"""The ``ragkit`` command: a thin shell over :class:`ragkit.api.KnowledgeBase`.

Expected failures (:class:`ragkit.errors.RagkitError`) print one line on stderr and exit with
their code (1, or 2 for usage/config errors); they never print a stack trace.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from ragkit import __version__
from ragkit.errors import RagkitError

def _flags_take_no_value() -> None:
    """Typer 0.2x prints a flag's type in help (``--prune <bool>``) as if it took a value; a flag
    takes none, so show no type for flags (``--help`` included)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_ragkit", False):
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag else shown(self, ctx)

    display_type_rich._ragkit = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()

app = typer.Typer(
    name="ragkit",
    help="Answer questions from your documents, with citations you can check.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)

HomeOpt = Annotated[Optional[Path], typer.Option("--home", help="Knowledge-base directory [default: .ragkit]", show_default=False)]
CollectionOpt = Annotated[Optional[str], typer.Option("--collection", "-c", help="Collection name [default: default]", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON report.")]


def _kb(home: Path | None, collection: str | None, **overrides: Any):
    from ragkit.api import KnowledgeBase

    return KnowledgeBase(home, collection=collection, **overrides)


def _fail(exc: RagkitError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code=exc.exit_code)


def _version(value: bool) -> None:
    if value:
        console.print(f"ragkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    warnings.simplefilter("default")


# -- ingest -------------------------------------------------------------------------------------
class _RichProgress:
    def __init__(self, progress) -> None:
        self.progress = progress
        self.files = progress.add_task("files", total=None)
        self.chunks = progress.add_task("chunks", total=0)

    def start(self, files: int) -> None:
        self.progress.update(self.files, total=files)

    def file_done(self, result) -> None:
        self.progress.advance(self.files)

    def chunks_planned(self, n: int) -> None:
        task = self.progress.tasks[self.chunks]
        self.progress.update(self.chunks, total=(task.total or 0) + n)

    def chunks_embedded(self, n: int) -> None:
        self.progress.advance(self.chunks, n)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.", show_default=False)],
    home: HomeOpt = None,
    collection: CollectionOpt = None,
    include: Annotated[list[str], typer.Option("--include", help="Only files matching this glob (repeatable).")] = [],
    exclude: Annotated[list[str], typer.Option("--exclude", help="Skip files matching this glob (repeatable).")] = [],
    prune: Annotated[bool, typer.Option("--prune", help="Remove documents whose files no longer exist.")] = False,
    pdf_password: Annotated[Optional[str], typer.Option("--pdf-password", help="Password for encrypted PDFs.")] = None,
    chunk_size: Annotated[Optional[int], typer.Option(help="Chunk size in tokens.", show_default=False)] = None,
    chunk_overlap: Annotated[Optional[int], typer.Option(help="Chunk overlap in tokens.", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest files and folders (PDF, DOCX, TXT, MD, HTML). Re-runs only redo what changed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    try:
        kb = _kb(home, collection, pdf_password=pdf_password, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        show_bar = console.is_terminal and not as_json
        if show_bar:
            columns = [TextColumn("{task.description:>6}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
            with Progress(*columns, console=console, transient=True) as bar:
                report = kb.ingest(paths, include=include, exclude=exclude, prune=prune, progress=_RichProgress(bar))
        else:
            report = kb.ingest(paths, include=include, exclude=exclude, prune=prune)
    except RagkitError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        err.print("interrupted: the store is consistent; re-run the same command to finish")
        raise typer.Exit(130) from None

    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_ingest(report)
    raise typer.Exit(0 if report.ok else 1)


def _print_ingest(report) -> None:
    problems = [f for f in report.files if f.status in ("failed", "skipped") or f.warnings]
    if problems:
        table = Table(title="Files needing attention", show_lines=False)
        table.add_column("file", overflow="fold")
        table.add_column("status")
        table.add_column("reason", overflow="fold")
        for f in problems:
            style = {"failed": "red", "skipped": "yellow"}.get(f.status, "")
            table.add_row(f.source, f"[{style}]{f.status}[/]" if style else f.status, f.reason or "; ".join(f.warnings))
        console.print(table)
    s = report.summary()
    table = Table(title=f"Ingest summary — collection {report.collection!r}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, key in [("files added", "added"), ("files updated", "updated"), ("files unchanged", "unchanged"),
                       ("files removed", "removed"), ("files failed", "failed"), ("files skipped", "skipped"),
                       ("chunks added", "chunks_added"), ("chunks removed", "chunks_removed"),
                       ("texts embedded", "embedded"), ("embedding cache hits", "embed_cache_hits")]:
        style = "red" if key == "failed" and s[key] else ""
        table.add_row(label, f"[{style}]{s[key]}[/]" if style else str(s[key]))
    table.add_row("seconds", f"{s['seconds']:.1f}")
    console.print(table)
    if report.truncated_chunks:
        console.print(f"[yellow]warning:[/] {report.truncated_chunks} chunk(s) were longer than the embedder reads "
                      "and were truncated for embedding; lower --chunk-size")


# -- status / remove / config -------------------------------------------------------------------
@app.command()
def status(
    home: HomeOpt = None,
    collection: CollectionOpt = None,
    files: Annotated[bool, typer.Option("--files", help="Also list every document with its status.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Documents, chunks, embedder, store location and last ingest of a collection."""
    import dataclasses
    import datetime as dt

    try:
        with _kb(home, collection) as kb:
            st = kb.status()
            docs = kb.documents() if files else []
    except RagkitError as exc:
        raise _fail(exc) from None
    if as_json:
        shown = st.to_dict() | ({"files": [dataclasses.asdict(d) for d in docs]} if files else {})
        print(json.dumps(shown, indent=2))
        return
    when = dt.datetime.fromtimestamp(st.last_ingest).isoformat(timespec="seconds") if st.last_ingest else "never"
    table = Table(show_header=False, title=f"ragkit — collection {st.collection!r}")
    for key, value in [("documents", st.documents), ("failed documents", st.failed_documents),
                       ("chunks", st.chunks), ("chunks in store", st.store_chunks), ("embedder", st.embedder),
                       ("store", st.store), ("knowledge base", st.home), ("last ingest", when)]:
        table.add_row(key, str(value))
    console.print(table)
    if files:
        listing = Table("document", "status", "chunks", "note", title="documents")
        for d in docs:
            listing.add_row(d.source, d.status, str(d.n_chunks), d.error or "; ".join(d.warnings))
        console.print(listing)


@app.command()
def remove(
    paths: Annotated[list[Path], typer.Argument(help="Documents (or folders of documents) to forget.")],
    home: HomeOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Remove documents and their chunks from a collection (the files themselves are not touched)."""
    try:
        with _kb(home, collection) as kb:
            removed = kb.remove(paths)
    except RagkitError as exc:
        raise _fail(exc) from None
    for path, chunks in removed:
        console.print(f"removed {path} ({chunks} chunks)", highlight=False)


@app.command("config")
def show_config(home: HomeOpt = None, collection: CollectionOpt = None, as_json: JsonOpt = False) -> None:
    """Print the effective settings (environment, ragkit.toml, defaults); secrets are masked."""
    from ragkit.config import load_settings

    try:
        settings = load_settings(home=home, collection=collection)
    except RagkitError as exc:
        raise _fail(exc) from None
    shown = settings.display()
    if as_json:
        print(json.dumps(shown, indent=2))
        return
    table = Table("setting", "value", title="ragkit configuration")
    for key, value in shown.items():
        table.add_row(key, "" if value is None else str(value))
    console.print(table)


# -- search / ask -------------------------------------------------------------------------------
KOpt = Annotated[Optional[int], typer.Option("--k", "-k", help="Chunks to retrieve [default: top_k setting]", show_default=False)]
ModeOpt = Annotated[Optional[str], typer.Option("--mode", help="hybrid, dense or bm25", show_default=False)]
FilterOpt = Annotated[list[str], typer.Option("--filter", "-f", help="source=GLOB, type=pdf, page=2-5 (repeatable)")]


def _check_mode(mode: str | None) -> None:
    from ragkit.errors import UsageError

    if mode is not None and mode not in ("hybrid", "dense", "bm25"):
        raise UsageError(f"--mode must be hybrid, dense or bm25, not {mode!r}")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    home: HomeOpt = None,
    collection: CollectionOpt = None,
    k: KOpt = None,
    mode: ModeOpt = None,
    filters: FilterOpt = [],
    mmr: Annotated[bool, typer.Option("--mmr", help="Diversify results (maximal marginal relevance).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Retrieve the best chunks for a query (no answer generation)."""
    from ragkit.models import Filters

    try:
        _check_mode(mode)
        with _kb(home, collection) as kb:
            result = kb.search(query, k=k, mode=mode, filters=Filters.parse(filters), mmr=mmr or None)
    except RagkitError as exc:
        raise _fail(exc) from None
    if as_json:
        print(json.dumps({"query": query, "mode": result.mode, "hits": [h.to_dict() for h in result.hits],
                          "timings": result.timings}, indent=2))
        return
    if not result.hits:
        console.print("no matching chunks")
        return
    table = Table("#", "score", "source", "page", "text", title=f"{result.mode} search: {query}")
    for hit in result.hits:
        snippet = " ".join(hit.text.split())
        table.add_row(str(hit.rank), f"{hit.score:.3f}", hit.source, "" if hit.page is None else str(hit.page),
                      snippet[:160] + ("…" if len(snippet) > 160 else ""))
    console.print(table)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    home: HomeOpt = None,
    collection: CollectionOpt = None,
    k: KOpt = None,
    mode: ModeOpt = None,
    filters: FilterOpt = [],
    generator: Annotated[Optional[str], typer.Option("--generator", help="extractive or openai [default: auto]", show_default=False)] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Chat model name.", show_default=False)] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="OpenAI-compatible server URL.", show_default=False)] = None,
    stream: Annotated[Optional[bool], typer.Option("--stream/--no-stream", help="Stream tokens [default: on a terminal]", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the documents, citing file, page and quote for every claim."""
    from ragkit.models import Filters

    try:
        _check_mode(mode)
        overrides = {"model": model, "base_url": base_url}
        if generator:
            overrides["generator"] = generator
        with _kb(home, collection, **overrides) as kb:
            streaming = (console.is_terminal if stream is None else stream) and not as_json
            on_token = (lambda token: console.print(token, end="", markup=False, highlight=False)) if streaming else None
            answer = kb.ask(question, k=k, mode=mode, filters=Filters.parse(filters), on_token=on_token)
    except RagkitError as exc:
        raise _fail(exc) from None
    if as_json:
        print(json.dumps(answer.to_dict(), indent=2))
        return
    if streaming:
        console.print()
        if answer.text and answer.invalid_citations:
            console.print(f"[dim](corrected)[/] {answer.text}", highlight=False)
    else:
        console.print(answer.text, highlight=False, markup=False)
    for warning in answer.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    shown = answer.sources[:3] if answer.refused else answer.cited_sources
    if shown:
        console.print()
        console.print("[bold]Nearest sources[/]" if answer.refused else "[bold]Sources[/]")
        quotes = {c.n: c.quote for c in answer.citations}
        for hit in shown:
            n = answer.sources.index(hit) + 1
            where = hit.source + (f", page {hit.page}" if hit.page is not None else "")
            quote = quotes.get(n) or " ".join(hit.text.split())[:160]
            console.print(f"  [{n}] {where}: “{' '.join(quote.split())[:200]}”", highlight=False, markup=False)


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
    generator: Annotated[Optional[str], typer.Option("--generator", help="extractive or openai [default: auto]", show_default=False)] = None,
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
                kb.ingest([ingest_dir])
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
    out: Annotated[Optional[Path], typer.Option("--out", show_default=False)] = None,
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


def _register_plugins() -> None:
    from ragkit.server.commands import register

    register(app)


_register_plugins()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except RagkitError as exc:  # pragma: no cover - commands catch their own
        err.print(f"error: {exc}")
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
