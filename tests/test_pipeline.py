"""The pipeline's storing step on a file with more chunks than one store slice: vectors and
upserts go a slice at a time, the file still goes live in one commit, and a run stopped between
two slices leaves nothing a re-run does not repair."""

from __future__ import annotations

import pytest

from ingest.pipeline import IngestPipeline, Stores
from ingest.split import SplitConfig

TEXT = "\n\n".join(f"Log entry {i}: valve {i % 17} at pumping station {i % 5} reported pressure {i * 3} kPa."
                   for i in range(120))


class _Stop(BaseException):
    pass


class _Counting:
    """Counts what the pipeline reports; stops the run after ``stop_after`` embedded chunks."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.embedded = 0
        self.stop_after = stop_after

    def start(self, files: int) -> None: ...
    def file_done(self, result) -> None: ...
    def chunks_planned(self, n: int) -> None: ...

    def chunks_embedded(self, n: int) -> None:
        self.embedded += n
        if self.stop_after is not None and self.embedded >= self.stop_after:
            raise _Stop


def _pipeline(kb, store_slice: int) -> IngestPipeline:
    return IngestPipeline(stores=Stores(kb.store, kb.manifest, kb.bm25_dir, kb.ingest_lock, kb.lexical_backend),
                          embedder=kb.embedder, split=SplitConfig(40, 0), parse_workers=0, store_slice=store_slice)


def _consistent(kb) -> set[str]:
    live = {chunk_id for chunk_id, _, _ in kb.manifest.iter_chunks()}
    assert kb.store.all_ids() == live
    return live


def test_a_file_larger_than_a_store_slice_is_stored_whole_and_counted_once(kb_factory, tmp_path):
    path = tmp_path / "log.txt"
    path.write_text(TEXT)
    kb = kb_factory()
    progress = _Counting()
    report = _pipeline(kb, store_slice=8).run([path], progress=progress)
    chunks = report.files[0].chunks
    assert report.ok and chunks > 3 * 8
    assert report.chunks_added == report.embedded == report.files[0].embedded == chunks
    assert progress.embedded == chunks  # every chunk counted once, whatever the slices
    assert len(_consistent(kb)) == chunks
    assert kb.search("pressure at valve 11", k=1, mode="bm25").hits[0].source == "log.txt"


def test_a_run_stopped_between_two_slices_is_repaired_by_the_next(kb_factory, tmp_path):
    path = tmp_path / "log.txt"
    path.write_text(TEXT)
    kb = kb_factory()
    with pytest.raises(_Stop):
        _pipeline(kb, store_slice=8).run([path], progress=_Counting(stop_after=16))
    assert kb.manifest.count_chunks() == 0  # the file never went live
    assert kb.store.count() > 0  # but slices were upserted (journalled: the next run deletes them)
    report = _pipeline(kb, store_slice=8).run([path])
    assert report.ok and report.files[0].status == "added"
    assert len(_consistent(kb)) == report.files[0].chunks
