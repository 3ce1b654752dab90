"""The Typer app, its consoles and the options every command shares."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from ragkit import __version__
from ragkit.cli.feedback import feedback_app
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
app.add_typer(feedback_app, name="feedback")
console = Console()
err = Console(stderr=True)

HomeOpt = Annotated[Optional[Path], typer.Option("--home", help="Knowledge-base directory (default: .ragkit).", show_default=False)]
CollectionOpt = Annotated[Optional[str], typer.Option("--collection", "-c", help="Collection name (default: default).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON report.")]


def _kb(home: Path | None, collection: str | None, *, existing: bool = False, **overrides: Any):
    """The knowledge base a command works on. ``existing`` (commands that only read: status,
    search, ask, chat) refuses a home or collection that holds nothing, naming what there is,
    instead of creating an empty one where a typo pointed."""
    from ragkit.api import KnowledgeBase

    kb = KnowledgeBase(home, collection=collection, **overrides)
    if existing and not kb.settings.database_url and not (kb.home / "ragkit.sqlite").exists():
        kb.close()
        raise RagkitError(f"no knowledge base at {kb.home}: ingest documents first (ragkit ingest PATH --home "
                          f"{kb.home}), or check --home / RAGKIT_HOME")
    if existing and not kb.manifest.files():
        others = [c for c in kb.manifest.collections() if c != kb.settings.collection]
        kb.close()
        raise RagkitError(f"collection {kb.settings.collection!r} in {kb.home} holds no documents: ingest some "
                          f"first (ragkit ingest PATH -c {kb.settings.collection})"
                          + (f"; collections here: {', '.join(others)}" if others else ""))
    return kb


def _fail(exc: RagkitError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code=exc.exit_code)


def _version(value: bool) -> None:
    if value:
        console.print(f"ragkit {__version__}")
        raise typer.Exit()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning is one line, ``warning: ...``, like every other notice of the CLI (not Python's
    file:line and source line)."""
    err.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    # Python's default filters: ragkit's own warnings (a chunk size the embedder truncates) are
    # shown, libraries' DeprecationWarnings (Chroma's on every open) are not a user's business.
    warnings.showwarning = _show_warning
