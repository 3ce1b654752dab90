"""The incremental batch: skip what is unchanged, parse beside the embedder, store, prune.

Order of work for one run:

1. Repair: journalled chunk ids that are not live (left by a killed run) are deleted from the store.
2. Discover files under the given paths (:mod:`ingest.discover`).
3. Classify: a file whose size and mtime match the manifest is unchanged without being read.
4. Hash, parse and split the other files in worker processes while this process embeds
   (:mod:`ingest.parse`). A file whose stat changed but whose sha256 did not comes back unchanged.
5. Embed only chunk texts that are neither stored already nor in the embedding cache, in
   length-sorted batches; store new chunks, then switch the manifest over, then delete the
   file's stale chunks (see :mod:`ragkit.stores.manifest` for why this order survives a kill).
6. ``--prune``: forget files under the given roots that no longer exist.
7. Bring the BM25 index up to date: re-index the files this run changed (or, after a run that
   was killed, every file whose manifest row differs from what the index recorded).

Files and in-memory records (:meth:`IngestPipeline.run_records`) go through the same window
loop (:meth:`IngestPipeline._consume`). One run at a time per collection, across processes
(the collection's write lock, :mod:`ragkit.stores.lock`), so neither a server with several
workers nor replicas on several hosts can interleave two ingests.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Protocol, Sequence

import numpy as np

from ingest.discover import InputFile, discover, gone
from ingest.loaders import LoadOptions, is_supported
from ingest.loaders.base import LoadedDocument, Section
from ingest.parse import MIN_WINDOW, WAITING, ParseOutcome, ParseTask, parse_stream
from ingest.split import SplitConfig, split_document
from ragkit.embedders.base import Embedder
from ragkit.models import Chunk, FileResult, IngestReport, Record
from ragkit.stores.chroma import ChromaStore
from ragkit.stores.lexical import DEFAULT_BACKEND, Backend, saved_generation, sync_index
from ragkit.stores.lock import CollectionLock
from ragkit.stores.manifest import FileCommit, FileRecord, Manifest, text_sha256

#: chunks gathered from parsed files before one embedding pass and one store commit. Larger windows
#: sort more texts by length (less padding: the model's compute is the real cost) at the price of
#: coarser commits; memory stays bounded either way.
DEFAULT_WINDOW = 512
#: new chunks embedded and upserted in one step of a window (see ``_store_window``)
STORE_SLICE = 4096
#: records whose manifest entries are fetched in one query before they are split
RECORD_LOOKUP = 500


class Progress(Protocol):
    """What the pipeline reports while it runs (the CLI draws it with Rich). The calls come
    between steps (``chunks_planned(0)`` also while a parse is still running), where a hook may
    raise to stop the run, as Ctrl-C does: the store stays consistent."""

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
class Stores:
    """The storage layer one pipeline writes: vectors, manifest, BM25 directory, the collection's
    write lock (held for a whole run)."""

    store: ChromaStore
    manifest: Manifest
    bm25_dir: Path
    lock: CollectionLock
    lexical_backend: Backend = DEFAULT_BACKEND


class IngestPipeline:
    def __init__(
        self,
        *,
        stores: Stores,
        embedder: Embedder,
        split: SplitConfig,
        options: LoadOptions = LoadOptions(),
        parse_workers: int = 1,
        ignore: Sequence[Path] = (),
        window: int = DEFAULT_WINDOW,
        store_slice: int = STORE_SLICE,
    ) -> None:
        self.store = stores.store
        self.manifest = stores.manifest
        self.bm25_dir = stores.bm25_dir
        self.lock = stores.lock
        self.lexical_backend = stores.lexical_backend
        #: paths whose chunks this run changed, and whether the saved BM25 index matched the
        #: manifest when the run started (then those paths are all it must re-index)
        self._changed_paths: set[str] = set()
        self._index_was_current = False
        self.embedder = embedder
        self.split = split
        self.options = options
        self.parse_workers = parse_workers
        self.ignore = ignore
        self.window = window
        self.store_slice = store_slice

    def repair(self) -> int:
        """Delete chunks a killed run left in the store but never made live. Returns how many."""
        live, dead = self.manifest.pending()
        if dead:
            self.store.delete(sorted(dead))
        self.manifest.journal_remove(live | dead)
        return len(dead)

    # -- entry points --------------------------------------------------------------------
    @contextmanager
    def _batch(self, progress: Progress | None) -> Iterator[tuple[IngestReport, Progress]]:
        """What every run shares: the collection's lock, repair first, then the BM25 rebuild,
        the run's stamp and its truncation count last."""
        with self.lock.hold():
            started = time.perf_counter()
            report = IngestReport(collection=self.manifest.collection)
            truncated_before = self.embedder.truncated
            self.repair()
            self._start_index_changes()
            yield report, progress or _NoProgress()
            self._finish(report, started)
            report.truncated_chunks = self.embedder.truncated - truncated_before

    def run(
        self,
        paths: Sequence[Path],
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        with self._batch(progress) as (report, progress):
            inputs, skipped = discover(paths, include, exclude, self.ignore)
            progress.start(len(inputs) + len(skipped))
            for result in skipped:
                self._record(report, progress, result)
            tasks: list[ParseTask] = []
            for item in inputs:
                result = self._classify(item, tasks)
                if result is not None:
                    self._record(report, progress, result)
            self._consume(parse_stream(tasks, self.parse_workers), report, progress)
            if prune:
                self._prune(paths, {str(i.path) for i in inputs}, report, progress)
        return report

    def run_named(self, files: Sequence[tuple[str, Path]], *, progress: Progress | None = None) -> IngestReport:
        """Ingest local files under names of the caller's choosing: each (key, file) is read from
        ``file`` and kept in the manifest, the chunks' metadata and the report as ``key``.

        The server's vector store files are keyed ``files/<file_id>/<filename>``, not by where
        one replica keeps the bytes, so every replica sharing the stores agrees on the keys."""
        with self._batch(progress) as (report, progress):
            progress.start(len(files))
            tasks: list[ParseTask] = []
            for key, file in files:
                local = Path(file).resolve()
                if not is_supported(local):
                    self._record(report, progress, FileResult(key, local.name, "skipped",
                                                              f"unsupported file type {local.suffix or '(none)'!r}"))
                    continue
                result = self._classify(InputFile(local, local.name, key), tasks)
                if result is not None:
                    self._record(report, progress, result)
            self._consume(parse_stream(tasks, self.parse_workers), report, progress)
        return report

    def run_records(self, records: Iterable[Record], *, progress: Progress | None = None) -> IngestReport:
        """Ingest in-memory records (e.g. a BEIR corpus) with the same incremental guarantees as files.

        Each record is a document whose path is ``record:<id>``; a record shorter than the chunk
        size is one chunk (title and text), longer ones are split like any text.
        """
        with self._batch(progress) as (report, progress):
            records = list(records)
            progress.start(len(records))
            self._consume(self._record_outcomes(records), report, progress)
        return report

    def remove_paths(self, paths: Sequence[str]) -> list[tuple[str, int]]:
        """Forget these manifest paths and their chunks; update BM25. Returns (path, chunks removed)."""
        with self.lock.hold():
            self.repair()
            self._start_index_changes()
            removed = [(path, self._remove_file(path)) for path in paths]
            self._update_index()
            return removed

    # -- the one window loop -------------------------------------------------------------
    def _consume(self, outcomes: Iterator[ParseOutcome | None], report: IngestReport, progress: Progress) -> None:
        with closing(outcomes):  # parse workers stop here, even when interrupted
            self._consume_open(outcomes, report, progress)

    def _consume_open(self, outcomes: Iterator[ParseOutcome | None], report: IngestReport, progress: Progress) -> None:
        window: list[ParseOutcome] = []
        window_chunks = 0
        for outcome in outcomes:
            if outcome is WAITING:
                progress.chunks_planned(0)  # a heartbeat: a progress hook may stop the run here
                # The parser is behind: embed what is ready rather than leave the model idle.
                if window_chunks >= MIN_WINDOW:
                    self._store_window(window, report, progress)
                    window, window_chunks = [], 0
                continue
            task = outcome.task
            if outcome.unchanged:
                self.manifest.touch(task.path, task.size, task.mtime_ns)
                record = self.manifest.file(task.path)
                self._record(report, progress, FileResult(task.path, task.source, "unchanged",
                                                          chunks=record.n_chunks if record else 0))
                continue
            if outcome.error is not None:
                self.manifest.record_failure(task.path, task.source, outcome.error)
                self._record(report, progress, FileResult(task.path, task.source, "failed", outcome.error,
                                                          warnings=outcome.warnings))
                continue
            window.append(outcome)
            window_chunks += len(outcome.chunks)
            progress.chunks_planned(len(outcome.chunks))
            if window_chunks >= self.window:
                self._store_window(window, report, progress)
                window, window_chunks = [], 0
        if window:
            self._store_window(window, report, progress)

    def _record_outcomes(self, records: list[Record]) -> Iterator[ParseOutcome]:
        known: dict[str, FileRecord] = {}
        for at, record in enumerate(records):
            if at % RECORD_LOOKUP == 0:  # what the manifest knows, a block of records at a time
                known = self.manifest.files_at([f"record:{r.id}" for r in records[at:at + RECORD_LOOKUP]])
            path = f"record:{record.id}"
            # With context lines the title reaches every chunk through its context; without
            # them it is kept at the head of the text, so at least the first chunk has it.
            titled = record.title and not self.split.context
            text = f"{record.title}\n\n{record.text}" if titled else record.text
            sha = text_sha256(f"{record.title}\n\n{record.text}")
            task = ParseTask(path, record.id, sha, len(text), 0, self.split, self.options)
            previous = known.get(path)
            if previous is not None and previous.status == "ok" and previous.sha256 == sha:
                yield ParseOutcome(task, unchanged=True)
                continue
            document = LoadedDocument(sections=[Section(text=text)], texts={None: text}, title=record.title or None)
            yield ParseOutcome(task, chunks=split_document(document, source=record.id, path=path,
                                                           file_sha256=sha, config=self.split, name=""))

    @staticmethod
    def _record(report: IngestReport, progress: Progress, result: FileResult) -> None:
        report.files.append(result)
        progress.file_done(result)

    def _finish(self, report: IngestReport, started: float) -> None:
        """Update BM25 unless the saved index matches the manifest, stamp the run, record its duration."""
        self._update_index()
        self.manifest.set_state("last_ingest", str(time.time()))
        report.seconds = time.perf_counter() - started

    def _start_index_changes(self) -> None:
        self._changed_paths = set()
        self._index_was_current = (saved_generation(self.bm25_dir, self.lexical_backend)
                                   == self.manifest.generation())

    def _update_index(self) -> None:
        """Re-index the files this run changed, when the index matched the manifest as the run
        began; otherwise (a run killed earlier, a first run) compare every file. Comparing with
        the saved index's own generation is what repairs an index a killed run left stale."""
        if saved_generation(self.bm25_dir, self.lexical_backend) == self.manifest.generation():
            return
        changed = self._changed_paths if self._index_was_current else None
        sync_index(self.manifest, self.bm25_dir, changed, self.lexical_backend)

    def _classify(self, item: InputFile, tasks: list[ParseTask]) -> FileResult | None:
        path = item.manifest_path
        try:
            stat = item.path.stat()
        except OSError as exc:
            return FileResult(path, item.source, "failed", f"cannot read file: {exc.strerror}")
        record = self.manifest.file(path)
        known = record.sha256 if record and record.status == "ok" else None
        if known and record.size == stat.st_size and record.mtime_ns == stat.st_mtime_ns:
            return FileResult(path, item.source, "unchanged", chunks=record.n_chunks)
        tasks.append(ParseTask(path, item.source, "", stat.st_size, stat.st_mtime_ns, self.split, self.options,
                               known_sha256=known, read_from=str(item.path) if item.key else None))
        return None

    # -- storing -------------------------------------------------------------------------
    def _store_window(self, window: list[ParseOutcome], report: IngestReport, progress: Progress) -> None:
        """Store a window of parsed files with one journal write, one upsert, one manifest
        transaction and one delete: per-file round trips to the store were the main overhead."""
        all_chunks = [c for o in window for c in o.chunks]
        live = self.manifest.live_ids(c.id for c in all_chunks)
        fresh = [c for c in all_chunks if c.id not in live]
        progress.chunks_embedded(len(all_chunks) - len(fresh))
        had_chunks = self.manifest.paths_with_chunks([o.task.path for o in window])
        self._changed_paths.update(o.task.path for o in window)
        embedded_ids: set[str] = set()
        # A window is one file at least, and one file can hold 150,000 chunks (a 50 MB text): its
        # vectors, metadata and upsert go a slice at a time (each journalled first, as always) so
        # they are never all in memory at once; the file still goes live in one commit below.
        for begin in range(0, len(fresh), self.store_slice):
            part = fresh[begin:begin + self.store_slice]
            vectors, embedded = self._vectors_for(part, report, progress)
            embedded_ids |= embedded
            self.manifest.journal_add(c.id for c in part)
            self.store.upsert([c.id for c in part], np.stack([vectors[c.id] for c in part]),
                              [c.text for c in part], [c.metadata() for c in part])
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
            self._record(report, progress, FileResult(
                task.path, task.source, "updated" if task.path in had_chunks else "added",
                chunks=len(outcome.chunks),
                embedded=sum(1 for c in outcome.chunks if c.id in embedded_ids), warnings=outcome.warnings,
                stats=outcome.stats,
            ))

    def _vectors_for(
        self, chunks: list[Chunk], report: IngestReport, progress: Progress
    ) -> tuple[dict[str, np.ndarray], set[str]]:
        """Vectors for ``chunks``, embedding only texts this embedder has never seen.

        Returns the vectors by chunk id and the ids whose text was embedded in this call.
        """
        shas = {c.id: text_sha256(c.embed_text) for c in chunks}
        cached = self.manifest.cached_vectors(self.embedder.id, list(shas.values()))
        missing: dict[str, str] = {}  # sha -> text, each distinct text once
        for c in chunks:
            if shas[c.id] not in cached:
                missing.setdefault(shas[c.id], c.embed_text)
        hits = sum(1 for c in chunks if shas[c.id] in cached)
        report.embed_cache_hits += hits
        progress.chunks_embedded(hits)
        if missing:
            started = time.perf_counter()
            per_text = Counter(shas.values())  # chunks per distinct text, for the progress counts
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
                # Counted per text, not by a pass over every chunk per step: that pass made one
                # file of 158,000 chunks (a 50 MB text) spend over a minute on progress counts alone.
                progress.chunks_embedded(sum(per_text[sha] for sha, _ in part))
            report.embed_seconds += time.perf_counter() - started
            report.embedded += len(items)
        embedded_ids = {c.id for c in chunks if shas[c.id] in missing}
        return {c.id: cached[shas[c.id]] for c in chunks}, embedded_ids

    # -- forgetting ----------------------------------------------------------------------
    def _prune(self, paths: Sequence[Path], seen: set[str], report: IngestReport, progress: Progress) -> None:
        roots = [str(p.resolve()) for p in paths]
        for record in self.manifest.files():
            if record.path in seen or not gone(record.path):
                continue
            if not any(record.path == r or record.path.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
                continue
            report.chunks_removed += self._remove_file(record.path)
            self._record(report, progress, FileResult(record.path, record.source, "removed", "file no longer exists"))

    def _remove_file(self, path: str) -> int:
        self._changed_paths.add(path)
        ids = self.manifest.forget_file(path)
        if ids:
            self.store.delete(sorted(ids))
            self.manifest.journal_remove(ids)
        return len(ids)

