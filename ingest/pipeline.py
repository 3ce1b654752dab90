"""The incremental batch: discover files, skip what is unchanged, parse beside the embedder, store.

Order of work for one run:

1. Repair: journalled chunk ids that are not live (left by a killed run) are deleted from the store.
2. Discover files under the given paths (include/exclude globs; hidden files and unsupported types
   are reported as skipped).
3. Classify: a file whose size and mtime match the manifest is unchanged without being read.
4. Hash, parse and split the other files in worker processes while the main process embeds, so
   the embedder (the real bottleneck) is not left waiting on file I/O or PDF parsing. A file
   whose stat changed but whose sha256 did not comes back unchanged (its stat is refreshed).
5. Embed only chunk texts that are neither stored already nor in the embedding cache, in
   length-sorted batches; store new chunks, then switch the manifest over, then delete the
   file's stale chunks (see :mod:`ingest.manifest` for why this order survives a kill).
6. ``--prune``: forget files under the given roots that no longer exist.
7. Rebuild the BM25 index if anything changed.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Protocol, Sequence

import numpy as np

from ingest.loaders import LoadError, LoadOptions, is_supported, load_file
from ingest.manifest import FileCommit, Manifest, file_sha256, text_sha256
from ingest.split import SplitConfig, split_document
from ragkit.embedders.base import Embedder
from ragkit.errors import UsageError
from ragkit.lexical import LexicalIndex
from ragkit.models import Chunk, FileResult, IngestReport, source_matches
from ragkit.store import ChromaStore

#: chunks gathered from parsed files before one embedding pass and one store commit. Larger windows
#: sort more texts by length (less padding: the model's compute is the real cost) at the price of
#: coarser commits; memory stays bounded either way.
DEFAULT_WINDOW = 512


class Progress(Protocol):
    """What the pipeline reports while it runs (the CLI draws it with Rich)."""

    def start(self, files: int) -> None: ...
    def file_done(self, result: FileResult) -> None: ...
    def chunks_planned(self, n: int) -> None: ...
    def chunks_embedded(self, n: int) -> None: ...


class _NoProgress:
    def start(self, files: int) -> None: ...
    def file_done(self, result: FileResult) -> None: ...
    def chunks_planned(self, n: int) -> None: ...
    def chunks_embedded(self, n: int) -> None: ...


@dataclass(frozen=True)
class InputFile:
    path: Path  # absolute
    source: str  # relative to the root it was found under


@dataclass(frozen=True)
class Record:
    """A document given as text rather than as a file."""

    id: str
    text: str
    title: str = ""


@dataclass(frozen=True)
class ParseTask:
    """One file to parse. ``sha256`` is empty until the worker hashes the file (hashing is file
    I/O plus CPU, so it runs beside the embedder too); ``known_sha256`` is the manifest's hash for
    a file whose stat changed, so the worker can report it unchanged without parsing it."""

    path: str
    source: str
    sha256: str
    size: int
    mtime_ns: int
    split: SplitConfig
    options: LoadOptions
    known_sha256: str | None = None


@dataclass
class ParseOutcome:
    task: ParseTask
    chunks: list[Chunk] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    #: the content hash equals ``task.known_sha256``: nothing to parse or store
    unchanged: bool = False


# -- discovery -------------------------------------------------------------------------------
def discover(
    paths: Sequence[Path], include: Sequence[str] = (), exclude: Sequence[str] = (), ignore: Sequence[Path] = ()
) -> tuple[list[InputFile], list[FileResult]]:
    """Files to ingest, and files skipped with a reason. A missing path is a usage error."""
    found: dict[Path, InputFile] = {}
    skipped: list[FileResult] = []
    ignored = [p.resolve() for p in ignore]
    for given in paths:
        if not given.exists():
            raise UsageError(f"path not found: {given}")
        root = given.resolve()
        if root.is_file():
            candidates: Iterable[tuple[Path, str]] = [(root, root.name)]
        else:
            candidates = _walk(root, ignored)
        for path, source in candidates:
            if include and not source_matches(source, include):
                continue
            if exclude and source_matches(source, exclude):
                continue
            if not is_supported(path):
                skipped.append(FileResult(str(path), source, "skipped",
                                          f"unsupported file type {path.suffix or '(none)'!r}"))
                continue
            found.setdefault(path, InputFile(path, source))
    return list(found.values()), skipped


def _walk(root: Path, ignored: list[Path]) -> Iterator[tuple[Path, str]]:
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in ignored)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = here / name
            if path.is_symlink() and not path.exists():
                continue
            yield path.resolve() if path.is_symlink() else path, path.relative_to(root).as_posix()


# -- parsing (runs in worker processes) ------------------------------------------------------
def parse(task: ParseTask) -> ParseOutcome:
    """Hash, load and split one file. Never raises for a bad file: the error is in the outcome."""
    if not task.sha256:
        try:
            task = replace(task, sha256=file_sha256(Path(task.path)))
        except OSError as exc:
            return ParseOutcome(task, error=f"cannot read file: {exc.strerror}")
        if task.sha256 == task.known_sha256:
            return ParseOutcome(task, unchanged=True)
    try:
        document = load_file(Path(task.path), task.options)
        chunks = split_document(document, source=task.source, path=task.path, file_sha256=task.sha256,
                                config=task.split)
    except LoadError as exc:
        return ParseOutcome(task, error=exc.reason)
    except RecursionError:
        return ParseOutcome(task, error="corrupt: structure nested too deeply to parse")
    except Exception as exc:  # noqa: BLE001 - a parser bug on one hostile file must not stop the batch
        return ParseOutcome(task, error=f"parser failed: {type(exc).__name__}: {exc}")
    if not chunks:
        return ParseOutcome(task, error="no text after splitting", warnings=document.warnings)
    return ParseOutcome(task, chunks=chunks, warnings=document.warnings)


def _worker_init() -> None:
    from ragkit.tiktoken_offline import ensure_tiktoken_offline

    ensure_tiktoken_offline()


def _ping() -> bool:
    return True


def _new_pool(workers: int) -> ProcessPoolExecutor | None:
    """A started worker pool, or None when workers cannot start here (e.g. a ``python -`` script,
    whose main module a spawned worker cannot re-import)."""
    import multiprocessing
    import sys

    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file is not None and not os.path.exists(main_file):
        return None
    context = multiprocessing.get_context("spawn")  # no fork: onnxruntime threads live in this process
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init)
    try:
        pool.submit(_ping).result(timeout=120)
    except Exception:  # noqa: BLE001 - any failure means: parse inline instead
        pool.shutdown(wait=False, cancel_futures=True)
        return None
    return pool


def _parse_isolated(task: ParseTask) -> ParseOutcome:
    """Parse one file in a worker of its own, so a crash (a segfault in a parser) fails this file only."""
    pool = _new_pool(1)
    if pool is None:
        return ParseOutcome(task, error="parser process could not start")
    try:
        return pool.submit(parse, task).result()
    except BrokenProcessPool:
        return ParseOutcome(task, error="parser crashed on this file (the worker process died)")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


#: How far parsing may run ahead of the embedder. A whole window must be able to parse while the
#: previous one embeds, or the embedder waits on the parser every window (a 4-file look-ahead
#: cost 10% of a first ingest); the byte budget bounds the memory held by parsed-but-unstored files.
AHEAD_MAX_FILES = 1024
AHEAD_MAX_BYTES = 64 << 20


def _may_submit(queued: int, queued_bytes: int, task: ParseTask, workers: int) -> bool:
    if queued < workers * 2:
        return True
    return queued < AHEAD_MAX_FILES and queued_bytes + task.size <= AHEAD_MAX_BYTES


#: Yielded by :func:`parse_stream` when the next outcome is not ready yet.
WAITING = None
#: The smallest window stored early because the parser fell behind (see ``WAITING``).
MIN_WINDOW = 64


def parse_stream(tasks: list[ParseTask], workers: int) -> Iterator[ParseOutcome | None]:
    """Yield outcomes in task order; with workers, parsing runs ahead of the consumer (bounded).

    Before blocking on an outcome that is not ready, it yields :data:`WAITING` once, so the
    consumer can put what it holds to use (the embedder is the bottleneck; it should not idle).

    A worker that dies takes down its pool: the file it was parsing is retried alone, failed if it
    kills that worker too, and the remaining files go to a fresh pool. The batch always completes.
    """
    pool = _new_pool(workers) if workers > 0 and len(tasks) >= 2 else None
    if pool is None:
        for task in tasks:
            yield parse(task)
        return
    remaining = deque(tasks)
    queue: deque = deque()
    queued_bytes = 0
    try:
        while remaining or queue:
            while remaining and _may_submit(len(queue), queued_bytes, remaining[0], workers):
                task = remaining.popleft()
                queue.append((task, pool.submit(parse, task)))
                queued_bytes += task.size
            task, future = queue[0]
            if not future.done():
                yield WAITING
            queue.popleft()
            queued_bytes -= task.size
            try:
                outcome = future.result()
            except BrokenProcessPool:
                pool.shutdown(wait=False, cancel_futures=True)
                outcome = _parse_isolated(task)
                remaining.extendleft(reversed([t for t, _ in queue]))
                queue.clear()
                queued_bytes = 0
                pool = _new_pool(workers)
                if pool is None:  # workers no longer start: finish inline
                    yield outcome
                    for rest in remaining:
                        yield parse(rest)
                    return
            yield outcome
    finally:
        if pool is not None:
            for _, future in queue:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)


# -- the run ---------------------------------------------------------------------------------
class IngestPipeline:
    def __init__(
        self,
        *,
        store: ChromaStore,
        manifest: Manifest,
        embedder: Embedder,
        bm25_dir: Path,
        split: SplitConfig,
        options: LoadOptions = LoadOptions(),
        parse_workers: int = 1,
        ignore: Sequence[Path] = (),
        window: int = DEFAULT_WINDOW,
    ) -> None:
        self.store = store
        self.manifest = manifest
        self.embedder = embedder
        self.bm25_dir = bm25_dir
        self.split = split
        self.options = options
        self.parse_workers = parse_workers
        self.ignore = ignore
        self.window = window

    def repair(self) -> int:
        """Delete chunks a killed run left in the store but never made live. Returns how many."""
        live, dead = self.manifest.pending()
        if dead:
            self.store.delete(sorted(dead))
        self.manifest.journal_remove(live | dead)
        return len(dead)

    def run(
        self,
        paths: Sequence[Path],
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        progress = progress or _NoProgress()
        report = IngestReport(collection=self.manifest.collection)
        truncated_before = getattr(self.embedder, "truncated", 0)
        self.repair()

        inputs, skipped = discover(paths, include, exclude, self.ignore)
        progress.start(len(inputs) + len(skipped))
        for result in skipped:
            report.files.append(result)
            progress.file_done(result)

        tasks: list[ParseTask] = []
        for item in inputs:
            result = self._classify(item, tasks)
            if result is not None:
                report.files.append(result)
                progress.file_done(result)

        self._ingest(tasks, report, progress)
        if prune:
            self._prune(paths, {str(i.path) for i in inputs}, report, progress)

        self._finish(report, started)
        report.truncated_chunks = getattr(self.embedder, "truncated", 0) - truncated_before
        return report

    def _finish(self, report: IngestReport, started: float) -> None:
        """Rebuild BM25 unless the saved index matches the manifest, stamp the run, record its duration.

        Comparing with the saved index's own generation (not just this run's changes) also repairs
        an index left stale by a run that was killed after storing chunks."""
        if LexicalIndex.saved_generation(self.bm25_dir) != self.manifest.generation():
            self.rebuild_lexical()
        self.manifest.set_state("last_ingest", str(time.time()))
        report.seconds = time.perf_counter() - started

    def run_records(self, records: Iterable["Record"], *, progress: Progress | None = None) -> IngestReport:
        """Ingest in-memory records (e.g. a BEIR corpus) with the same incremental guarantees as files.

        Each record is a document whose path is ``record:<id>``; a record shorter than the chunk
        size is one chunk (title and text), longer ones are split like any text.
        """
        from ingest.loaders.base import LoadedDocument, Section

        started = time.perf_counter()
        progress = progress or _NoProgress()
        report = IngestReport(collection=self.manifest.collection)
        self.repair()
        records = list(records)
        progress.start(len(records))
        window: list[ParseOutcome] = []
        window_chunks = 0
        for record in records:
            path = f"record:{record.id}"
            text = f"{record.title}\n\n{record.text}" if record.title else record.text
            sha = text_sha256(text)
            previous = self.manifest.file(path)
            if previous is not None and previous.status == "ok" and previous.sha256 == sha:
                result = FileResult(path, record.id, "unchanged", chunks=previous.n_chunks)
                report.files.append(result)
                progress.file_done(result)
                continue
            task = ParseTask(path, record.id, sha, len(text), 0, self.split, self.options)
            document = LoadedDocument(sections=[Section(text=text)], texts={None: text})
            chunks = split_document(document, source=record.id, path=path, file_sha256=sha, config=self.split)
            window.append(ParseOutcome(task, chunks=chunks))
            window_chunks += len(chunks)
            progress.chunks_planned(len(chunks))
            if window_chunks >= self.window:
                self._store_window(window, report, progress)
                window, window_chunks = [], 0
        if window:
            self._store_window(window, report, progress)
        self._finish(report, started)
        return report

    def _classify(self, item: InputFile, tasks: list[ParseTask]) -> FileResult | None:
        path = str(item.path)
        try:
            stat = item.path.stat()
        except OSError as exc:
            return FileResult(path, item.source, "failed", f"cannot read file: {exc.strerror}")
        record = self.manifest.file(path)
        known = record.sha256 if record and record.status == "ok" else None
        if known and record.size == stat.st_size and record.mtime_ns == stat.st_mtime_ns:
            return FileResult(path, item.source, "unchanged", chunks=record.n_chunks)
        tasks.append(ParseTask(path, item.source, "", stat.st_size, stat.st_mtime_ns, self.split, self.options,
                               known_sha256=known))
        return None

    def _ingest(self, tasks: list[ParseTask], report: IngestReport, progress: Progress) -> None:
        window: list[ParseOutcome] = []
        window_chunks = 0
        for outcome in parse_stream(tasks, self.parse_workers):
            if outcome is WAITING:
                # The parser is behind: embed what is ready rather than leave the model idle.
                if window_chunks >= MIN_WINDOW:
                    self._store_window(window, report, progress)
                    window, window_chunks = [], 0
                continue
            if outcome.unchanged:
                task = outcome.task
                self.manifest.touch(task.path, task.size, task.mtime_ns)
                record = self.manifest.file(task.path)
                result = FileResult(task.path, task.source, "unchanged", chunks=record.n_chunks if record else 0)
                report.files.append(result)
                progress.file_done(result)
                continue
            if outcome.error is not None:
                self.manifest.record_failure(outcome.task.path, outcome.task.source, outcome.error)
                result = FileResult(outcome.task.path, outcome.task.source, "failed", outcome.error,
                                    warnings=outcome.warnings)
                report.files.append(result)
                progress.file_done(result)
                continue
            window.append(outcome)
            window_chunks += len(outcome.chunks)
            progress.chunks_planned(len(outcome.chunks))
            if window_chunks >= self.window:
                self._store_window(window, report, progress)
                window, window_chunks = [], 0
        if window:
            self._store_window(window, report, progress)

    def _store_window(self, window: list[ParseOutcome], report: IngestReport, progress: Progress) -> None:
        """Store a window of parsed files with one journal write, one upsert, one manifest
        transaction and one delete: per-file round trips to the store were the main overhead."""
        all_chunks = [c for o in window for c in o.chunks]
        live = self.manifest.live_ids(c.id for c in all_chunks)
        fresh = [c for c in all_chunks if c.id not in live]
        progress.chunks_embedded(len(all_chunks) - len(fresh))
        vectors, embedded_ids = self._vectors_for(fresh, report, progress)
        had_chunks = {o.task.path for o in window if self.manifest.file(o.task.path) is not None
                      and self.manifest.chunk_ids(o.task.path)}
        if fresh:
            self.manifest.journal_add(c.id for c in fresh)
            self.store.upsert([c.id for c in fresh], np.stack([vectors[c.id] for c in fresh]),
                              [c.text for c in fresh], [c.metadata() for c in fresh])
        stale = self.manifest.commit_files([
            FileCommit(o.task.path, o.task.source, o.task.size, o.task.mtime_ns, o.task.sha256, o.chunks, o.warnings)
            for o in window
        ])
        if stale:
            self.store.delete(sorted(stale))
            self.manifest.journal_remove(stale)
        report.chunks_added += len(fresh)
        report.chunks_removed += len(stale)
        for outcome in window:
            task = outcome.task
            result = FileResult(
                task.path, task.source, "updated" if task.path in had_chunks else "added",
                chunks=len(outcome.chunks),
                embedded=sum(1 for c in outcome.chunks if c.id in embedded_ids), warnings=outcome.warnings,
            )
            report.files.append(result)
            progress.file_done(result)

    def _vectors_for(
        self, chunks: list[Chunk], report: IngestReport, progress: Progress
    ) -> tuple[dict[str, np.ndarray], set[str]]:
        """Vectors for ``chunks``, embedding only texts this embedder has never seen.

        Returns the vectors by chunk id and the ids whose text was embedded in this call.
        """
        shas = {c.id: text_sha256(c.text) for c in chunks}
        cached = self.manifest.cached_vectors(self.embedder.id, list(shas.values()))
        missing: dict[str, str] = {}  # sha -> text, each distinct text once
        for c in chunks:
            if shas[c.id] not in cached:
                missing.setdefault(shas[c.id], c.text)
        hits = sum(1 for c in chunks if shas[c.id] in cached)
        report.embed_cache_hits += hits
        progress.chunks_embedded(hits)
        if missing:
            started = time.perf_counter()
            # Longest first, so each embedding call gets texts of similar length (little padding)
            # and the progress bar's remaining time errs on the safe side.
            items = sorted(missing.items(), key=lambda item: -len(item[1]))
            step = 64  # progress granularity; the embedder batches internally
            for begin in range(0, len(items), step):
                part = items[begin : begin + step]
                vectors = self.embedder.embed([text for _, text in part])
                computed = list(zip((sha for sha, _ in part), vectors))
                self.manifest.cache_vectors(self.embedder.id, computed)
                cached.update(computed)
                part_shas = {sha for sha, _ in part}
                progress.chunks_embedded(sum(1 for c in chunks if shas[c.id] in part_shas))
            report.embed_seconds += time.perf_counter() - started
            report.embedded += len(items)
        embedded_ids = {c.id for c in chunks if shas[c.id] in missing}
        return {c.id: cached[shas[c.id]] for c in chunks}, embedded_ids

    def _prune(self, paths: Sequence[Path], seen: set[str], report: IngestReport, progress: Progress) -> None:
        roots = [str(p.resolve()) for p in paths]
        for record in self.manifest.files():
            if record.path in seen or Path(record.path).exists():
                continue
            if not any(record.path == r or record.path.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
                continue
            removed = self.remove_file(record.path)
            report.chunks_removed += removed
            result = FileResult(record.path, record.source, "removed", "file no longer exists")
            report.files.append(result)
            progress.file_done(result)

    def remove_file(self, path: str) -> int:
        ids = self.manifest.forget_file(path)
        if ids:
            self.store.delete(sorted(ids))
            self.manifest.journal_remove(ids)
        return len(ids)

    def rebuild_lexical(self) -> LexicalIndex:
        generation = self.manifest.generation()
        index = LexicalIndex.build(self.manifest.iter_chunks(), generation)
        index.save(self.bm25_dir)
        return index
