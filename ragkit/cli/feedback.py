"""``ragkit feedback export``: the web page's ratings as gold questions for ``ragkit eval``.

A rating is a question someone cared about, with what they said was right; exported in the gold
format, it becomes a regression test: ``ragkit feedback export --out gold.jsonl`` and then
``ragkit eval gold.jsonl`` measures whether a change answers those questions better or worse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ragkit.errors import RagkitError
from ragkit.cli.serve import HomeOpt, _fail, _home

feedback_app = typer.Typer(no_args_is_help=True, add_completion=False,
                           help="Ratings given on the web page, exported as gold questions.")


@feedback_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Gold questions to write (JSONL, the format ragkit eval reads).")],
    home: HomeOpt = None,
    vector_store: Annotated[Optional[str], typer.Option(
        "--vector-store", help="Only ratings of answers from this vector store.", show_default=False)] = None,
) -> None:
    """Write the rated questions as gold questions (JSONL) that ragkit eval runs as they are.

    Each question once, by its latest rating: a thumbs up keeps the answer and its cited
    sources (a refusal: answerable false); a thumbs down keeps the correction and/or the right
    source, or answerable false when the documents do not answer it."""
    from ragkit.eval.gold import write_jsonl
    from ragkit.server.config import ServerConfig
    from ragkit.feedback import FeedbackStore
    from ragkit.feedback import export as gold_items

    try:
        store = FeedbackStore(ServerConfig(home=_home(home)).server_dir)
        items, skipped = gold_items(store, vector_store)
        if not items:
            where = f" for vector store {vector_store}" if vector_store else ""
            raise RagkitError(f"no rated questions to export{where} in {store.state.name} "
                             f"({skipped} thumbs down without a correction or source)")
        write_jsonl(items, out)
    except RagkitError as exc:
        raise _fail(exc) from None
    unanswerable = sum(not item.answerable for item in items)
    typer.echo(f"wrote {len(items)} gold question(s) to {out} ({unanswerable} unanswerable)")
    if skipped:
        typer.echo(f"skipped {skipped} thumbs down without a correction, a source or 'not answerable': "
                   "they say an answer was wrong but not what is right", err=True)
