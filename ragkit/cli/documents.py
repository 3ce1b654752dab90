"""Stage one and what is stored: ``ingest``, ``status``, ``remove``, ``config``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ragkit.cli.app import CollectionOpt, HomeOpt, JsonOpt, _fail, _kb, app, console, err
from ragkit.errors import RagkitError


# -- ingest -------------------------------------------------------------------------------------
class _RichProgress:
    def __init__(self, progress) -> None:
        self.progress = progress
        self.files = progress.add_task("files", total=None, rate="")
        self.chunks = progress.add_task("chunks", total=0, rate="")

    def start(self, files: int) -> None:
        self.progress.update(self.files, total=files)

    def file_done(self, result) -> None:
        self.progress.advance(self.files)

    def chunks_planned(self, n: int) -> None:
        if not n:
            return  # the pipeline's heartbeat while a parse runs
        task = self.progress.tasks[self.chunks]
        self.progress.update(self.chunks, total=(task.total or 0) + n)

    def chunks_embedded(self, n: int) -> None:
        self.progress.advance(self.chunks, n)
        self._rate(self.chunks, "chunks")

    def _rate(self, task_id, unit: str) -> None:
        """Embedding throughput beside the chunks bar (rich's estimate over the last updates);
        files finish in bursts (a batch is committed at once), so theirs would mislead."""
        speed = self.progress.tasks[task_id].speed
        self.progress.update(task_id, rate=f"{speed:,.1f} {unit}/s" if speed else "")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.", show_default=False)],
    home: HomeOpt = None,
    collection: CollectionOpt = None,
    include: Annotated[list[str], typer.Option("--include", help="Only files matching this glob (repeatable).")] = [],
    exclude: Annotated[list[str], typer.Option("--exclude", help="Skip files matching this glob (repeatable).")] = [],
    prune: Annotated[bool, typer.Option("--prune", help="Remove documents whose files no longer exist.")] = False,
    pdf_password: Annotated[Optional[str], typer.Option("--pdf-password", help="Password for encrypted PDFs.")] = None,
    ocr: Annotated[Optional[bool], typer.Option("--ocr/--no-ocr", help="Read scanned PDF pages with offline OCR (default: on).", show_default=False)] = None,
    keep_furniture: Annotated[Optional[bool], typer.Option("--keep-furniture", help="Keep running headers, footers and page numbers of PDFs.", show_default=False)] = None,
    chunk_size: Annotated[Optional[int], typer.Option(help="Chunk size in cl100k tokens (default: 200).", show_default=False)] = None,
    chunk_overlap: Annotated[Optional[int], typer.Option(help="Chunk overlap in cl100k tokens (default: 40).", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest files and folders (PDF, DOCX, PPTX, XLSX, CSV, TXT, Markdown, HTML); a re-run redoes only what changed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    try:
        kb = _kb(home, collection, pdf_password=pdf_password, chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                 ocr=ocr, keep_furniture=keep_furniture)
        show_bar = console.is_terminal and not as_json
        if show_bar:
            columns = [TextColumn("{task.description:>6}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"),
                       TimeRemainingColumn()]
            with Progress(*columns, console=console, transient=True) as bar:
                report = kb.ingest(paths, include=include, exclude=exclude, prune=prune, progress=_RichProgress(bar))
        else:
            report = kb.ingest(paths, include=include, exclude=exclude, prune=prune)
        gone = [] if prune else _gone(kb.documents(), paths)
    except RagkitError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        err.print("interrupted: the store is consistent; re-run the same command to finish")
        raise typer.Exit(130) from None

    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_ingest(report)
    _notes(report, paths, gone)
    raise typer.Exit(0 if report.ok else 1)


def _gone(documents, paths: list[Path]) -> list:
    """Documents under the folders just ingested whose files no longer exist: their chunks are kept
    (and answered from) until --prune. A failed file's record holds no chunks and is left out."""
    folders = [str(p.resolve()).rstrip("/") + "/" for p in paths if p.is_dir()]
    return [d for d in documents if d.status == "ok" and any(d.path.startswith(f) for f in folders)
            and not Path(d.path).exists()]


def _one_line(name: str) -> str:
    """A file name as one table cell: a newline or tab in it shown escaped ("bad\\nname.txt"), not
    as a line break that reads as two files."""
    return "".join(ch.encode("unicode_escape").decode() if not ch.isprintable() else ch for ch in name)


def _unsupported(report) -> list:
    return [f for f in report.files if f.status == "skipped" and (f.reason or "").startswith("unsupported file type")]


def _notes(report, paths: list[Path], gone: list) -> None:
    """What the summary table cannot say: nothing to ingest, and documents whose files are gone."""
    if not any(f.status in ("added", "updated", "unchanged", "failed") for f in report.files):
        where = ", ".join(str(p) for p in paths)
        found = "only files of unsupported types" if report.files else "no files"
        err.print(f"[yellow]warning:[/] nothing to ingest: {found} in {where} (ragkit reads PDF, DOCX, PPTX, "
                  "XLSX, CSV, TSV, TXT, Markdown and HTML)", highlight=False)
    if gone:
        names = ", ".join(d.source for d in gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        err.print(f"[yellow]note:[/] {len(gone)} document(s) whose files are gone are still in the collection "
                  f"({names}); --prune forgets them", highlight=False)


def _print_ingest(report) -> None:
    unsupported = _unsupported(report)
    if len(unsupported) > 3:  # a folder of images and build files: one line, not a row each
        kinds: dict[str, int] = {}
        for f in unsupported:
            kind = f.reason.removeprefix("unsupported file type ").strip("'")
            kinds[kind] = kinds.get(kind, 0) + 1
        shown = ", ".join(f"{kind} ({n})" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        console.print(f"[yellow]skipped[/] {len(unsupported)} files of unsupported types: {shown} "
                      "(--json lists each)", highlight=False)
        listed = [f for f in report.files if f not in unsupported]
    else:
        listed = report.files
    problems = [f for f in listed if f.status in ("failed", "skipped") or f.warnings]
    if problems:
        table = Table(title="Files needing attention", show_lines=False)
        table.add_column("file", overflow="fold")
        table.add_column("status")
        table.add_column("reason", overflow="fold")
        for f in problems:
            style = {"failed": "red", "skipped": "yellow"}.get(f.status, "")
            table.add_row(_one_line(f.source), f"[{style}]{f.status}[/]" if style else f.status,
                          f.reason or "; ".join(f.warnings))
        console.print(table)
    s = report.summary()
    table = Table(title=f"Ingest summary — collection {report.collection!r}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, key in [("files added", "added"), ("files updated", "updated"), ("files unchanged", "unchanged"),
                       ("files removed", "removed"), ("files failed", "failed"), ("files skipped", "skipped"),
                       ("chunks added", "chunks_added"), ("chunks removed", "chunks_removed"),
                       ("texts embedded", "embedded"), ("embedding cache hits", "embed_cache_hits"),
                       ("pages read by OCR", "ocr_pages"), ("repeated page lines removed", "furniture_lines")]:
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
        with _kb(home, collection, existing=True) as kb:
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
    for group in st.duplicates:
        console.print(f"[yellow]same content:[/] {', '.join(group)}", highlight=False)
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
        with _kb(home, collection, existing=True) as kb:
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
