"""Stage two: ``search`` and ``ask``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ragkit.cli.batch import _ask_batch
from ragkit.cli.app import CollectionOpt, HomeOpt, JsonOpt, _fail, _kb, app, console, err
from ragkit.errors import RagkitError


# -- search / ask -------------------------------------------------------------------------------
KOpt = Annotated[Optional[int], typer.Option("--k", "-k", min=1, help="Chunks to retrieve (default: the top_k setting).", show_default=False)]
ModeOpt = Annotated[Optional[str], typer.Option("--mode", help="Retrieval mode: hybrid, dense or bm25 (default: hybrid).", show_default=False)]
FilterOpt = Annotated[list[str], typer.Option("--filter", "-f", help="Restrict retrieval: source=GLOB, type=pdf, page=2-5 (repeatable).")]


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
    from ragkit.api import check_k, empty_collection
    from ragkit.models import Filters

    try:
        _check_mode(mode)
        check_k(k)  # what the command line says is checked before the knowledge base is opened
        with _kb(home, collection, existing=True) as kb:
            result = kb.search(query, k=k, mode=mode, filters=Filters.parse(filters), mmr=mmr or None)
            if not result.hits and kb.manifest.count_chunks() == 0:
                raise empty_collection(kb)  # as ask says, not "no matching chunks"
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
    question: Annotated[Optional[str], typer.Argument(help="Your question.", show_default=False)] = None,
    home: HomeOpt = None,
    collection: CollectionOpt = None,
    k: KOpt = None,
    mode: ModeOpt = None,
    filters: FilterOpt = [],
    generator: Annotated[Optional[str], typer.Option("--generator", help="Who answers: extractive or openai (default: the chat model when a key or base URL is set).", show_default=False)] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Chat model name.", show_default=False)] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="OpenAI-compatible server URL.", show_default=False)] = None,
    stream: Annotated[Optional[bool], typer.Option("--stream/--no-stream", help="Stream the answer as it is written (default: on a terminal).", show_default=False)] = None,
    batch: Annotated[Optional[Path], typer.Option("--batch", help="Answer every question of a JSONL file ({id, question}) or text file (one per line); JSON lines out, in order.", show_default=False)] = None,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", min=1, max=64, help="Questions answered at once with --batch (default: the concurrency setting).", show_default=False)] = None,
    agent: Annotated[bool, typer.Option("--agent", help="Let a chat model search the documents itself with tools (falls back to a normal answer).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the documents, citing file, page and quote for every claim."""
    from ragkit.errors import UsageError
    from ragkit.models import Filters

    from ragkit.api import check_k

    try:
        _check_mode(mode)
        check_k(k)  # what the command line says is checked before the knowledge base is opened
        overrides = {"model": model, "base_url": base_url}
        if generator:
            overrides["generator"] = generator
        if batch is not None:
            _ask_batch(batch, _kb(home, collection, existing=True, **overrides), concurrency,
                       k=k, mode=mode, filters=Filters.parse(filters))
            return
        if not question:
            raise UsageError("give a question, or --batch FILE")
        with _kb(home, collection, existing=True, **overrides) as kb:
            streaming = (console.is_terminal if stream is None else stream) and not as_json
            on_token = (lambda token: console.print(token, end="", markup=False, highlight=False)) if streaming else None
            if agent:
                from ragkit.conversations.tools import run_agent

                result = run_agent(kb, question, on_token=on_token)
                answer = result.answer
                # a fallback's notice is already the answer's first warning: show it once
                answer.warnings.extend(n for n in result.notices if n not in answer.warnings)
            else:
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
