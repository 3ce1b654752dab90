"""The tantivy index follows the manifest file by file, and converges after a crash.

Evidence is read from the index's own files, never from timings: adding or removing one file
writes a new small segment (or a deletion file) and leaves the existing segments' files as they
were; a writer killed between its commits leaves an index that the next update repairs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ragkit.models import Chunk
from ragkit.stores.lexical import current_index, load_index, saved_generation, sync_index
from ragkit.stores.lexical.tantivy_layout import CHUNKS, DOCUMENTS, chunk_documents, indexes
from ragkit.stores.lexical.tantivy_sync import stamp
from ragkit.stores.manifest import FileCommit, Manifest
from ragkit.text import tokenize

FILES = {
    "/d/comets.txt": ["Comets grow tails near the sun.", "Halley returns every 76 years."],
    "/d/quasars.txt": ["Quasars are bright galactic nuclei.", "Their light left billions of years ago."],
    "/d/nebulae.txt": ["Nebulae are clouds of gas and dust.", "Stars form inside the Orion nebula."],
}


def _store(manifest: Manifest, path: str, texts: list[str]) -> None:
    source = Path(path).name
    chunks = [Chunk(id=f"{source}-{i}-{abs(hash(t)) % 10**6}", text=t, source=source, path=path, file_sha256="s",
                    page=None, section="", start=0, end=len(t), index=i, n_tokens=len(t.split()))
              for i, t in enumerate(texts)]
    manifest.commit_files([FileCommit(path, source, 1, 1, "s-" + "".join(texts), chunks)])


def _segment_files(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Each segment file of the chunk index with its (inode, size, mtime): what a rewrite changes."""
    found = {}
    for path in (directory / CHUNKS).iterdir():
        if not path.name.startswith(".") and path.name != "meta.json":
            stat = path.stat()
            found[path.name] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    return found


def _segments(files: dict) -> set[str]:
    return {name.split(".")[0] for name in files}


def _live_ids(manifest: Manifest) -> list[str]:
    return sorted(chunk_id for chunk_id, _, _ in manifest.iter_chunks())


@pytest.fixture
def manifest(tmp_path):
    opened = Manifest(tmp_path / "manifest.sqlite", "docs")
    for path, texts in FILES.items():
        _store(opened, path, texts)
    yield opened
    opened.close()


@pytest.fixture
def directory(tmp_path, manifest) -> Path:
    directory = tmp_path / "bm25"
    sync_index(manifest, directory)
    return directory


def test_adding_one_file_writes_one_small_segment_and_leaves_the_others(manifest, directory):
    before = _segment_files(directory)
    _store(manifest, "/d/pulsars.txt", ["Pulsars spin and flash like lighthouses."])
    index = sync_index(manifest, directory, changed={"/d/pulsars.txt"})

    after = _segment_files(directory)
    assert {name: after.get(name) for name in before} == before  # not one byte rewritten
    assert len(_segments(after) - _segments(before)) == 1
    assert sorted(index.ids) == _live_ids(manifest) and index.generation == manifest.generation()
    assert index.ids[int(np.argmax(index.scores("pulsars lighthouses")))].startswith("pulsars.txt-0")


def test_removing_a_file_deletes_its_chunks_by_path_without_rewriting_segments(manifest, directory):
    before = _segment_files(directory)
    manifest.forget_file("/d/nebulae.txt")
    index = sync_index(manifest, directory, changed={"/d/nebulae.txt"})

    after = _segment_files(directory)
    assert all(after[name] == before[name] for name in before if not name.endswith(".del"))
    assert sorted(index.ids) == _live_ids(manifest) and len(index) == 4
    assert not index.scores("nebulae clouds").any() and not index.document_scores("nebula").any()
    assert index.unknown_names("Where is the Orion nebula?") == ["Orion"]  # its words left with it
    assert "/d/nebulae.txt" not in set(index.paths)


def test_replacing_a_file_swaps_its_chunks(manifest, directory):
    _store(manifest, "/d/comets.txt", ["Comets are icy bodies.", "Halley returns every 76 years."])
    index = sync_index(manifest, directory, changed={"/d/comets.txt"})

    assert sorted(index.ids) == _live_ids(manifest) and len(index) == 6
    assert not index.scores("tails").any() and index.scores("icy").max() > 0


def test_the_changed_paths_and_a_full_comparison_agree(tmp_path, manifest, directory):
    _store(manifest, "/d/pulsars.txt", ["Pulsars spin fast."])
    manifest.forget_file("/d/quasars.txt")
    told = sync_index(manifest, directory, changed={"/d/pulsars.txt", "/d/quasars.txt"})
    compared = sync_index(manifest, tmp_path / "fresh")  # no hint: every file's stamp compared

    assert sorted(told.ids) == sorted(compared.ids) == _live_ids(manifest)
    # The same chunks match, in the same order. The scores themselves differ a little until a merge
    # drops the deleted chunks from the statistics (document count, lengths): Lucene's behaviour too.
    for query in ("pulsars spin", "comets sun", "stars form halley"):
        assert [chunk for chunk, _ in told.search(query, 10)] == [chunk for chunk, _ in compared.search(query, 10)]


def test_a_writer_killed_between_its_commits_is_repaired_by_the_next_update(manifest, directory):
    """Chunks committed, the file's stamp and the generation not: the state a kill -9 leaves."""
    _store(manifest, "/d/pulsars.txt", ["Pulsars spin and flash."])
    chunks, _ = indexes(directory, create=False)
    writer = chunks.writer(50_000_000, 1)
    rows = [(i, t, m) for i, t, m in manifest.iter_chunks() if m["path"] == "/d/pulsars.txt"]
    for kind, document in chunk_documents("/d/pulsars.txt", stamp(manifest.file("/d/pulsars.txt")), rows,
                                          tokenize([text for _, text, _ in rows])):
        if kind == CHUNKS:
            writer.add_document(document)
    writer.commit()
    del writer  # the process died here: documents and the generation file were never written
    assert saved_generation(directory) != manifest.generation()

    reader = current_index(manifest, directory)  # a reader finds it stale and brings it up to date
    assert reader.generation == manifest.generation()
    assert sorted(reader.ids) == _live_ids(manifest)  # no duplicate of the half-written file
    assert reader.document_scores("pulsars").max() > 0


def test_a_reader_without_the_lock_reopens_the_saved_index(manifest, directory):
    (directory / DOCUMENTS / ".tantivy-writer.lock").touch()  # a lock file a killed writer left
    reopened = load_index(directory)
    assert reopened is not None and sorted(reopened.ids) == _live_ids(manifest)
    _store(manifest, "/d/pulsars.txt", ["Pulsars spin."])
    assert len(sync_index(manifest, directory, changed={"/d/pulsars.txt"})) == 7
    assert len(reopened) == 6  # an open snapshot keeps answering for its own generation
    assert reopened.scores("comets").max() > 0


def test_many_small_updates_are_merged_and_stay_correct(manifest, directory):
    for n in range(12):
        _store(manifest, f"/d/extra-{n}.txt", [f"Extra note number {n} about meteors."])
        sync_index(manifest, directory, changed={f"/d/extra-{n}.txt"})
    index = load_index(directory)
    assert sorted(index.ids) == _live_ids(manifest)
    assert len(_segments(_segment_files(directory))) < 13  # small segments were merged
    assert int(np.count_nonzero(index.scores("meteors"))) == 12
    assert os.path.exists(directory / "tantivy-generation")


def test_an_ingest_of_one_more_file_leaves_the_existing_segments(tmp_path, kb_factory):
    """Through the pipeline: the run re-indexes only the file it changed."""
    import shutil

    from conftest import CORPUS

    docs = tmp_path / "docs"
    docs.mkdir()
    files = sorted(CORPUS.iterdir())
    for path in files[:3]:
        shutil.copy(path, docs / path.name)
    kb = kb_factory("incremental")
    assert kb.ingest([docs]).ok
    before = _segment_files(kb.bm25_dir)

    shutil.copy(files[3], docs / files[3].name)
    assert kb.ingest([docs]).ok
    after = _segment_files(kb.bm25_dir)
    assert {name: after.get(name) for name in before} == before
    assert sorted(kb.lexical_index().ids) == _live_ids(kb.manifest)
    assert {h.source for h in kb.search(files[3].stem.replace("-", " "), k=20, mode="bm25").hits} >= {files[3].name}


def test_an_index_written_with_an_older_schema_is_rebuilt_not_read(manifest, directory):
    """Before chunks carried their source and file type: no schema file, fewer fields, and a
    generation file that matches the manifest. The next reader rebuilds it from the manifest."""
    import shutil

    import tantivy

    from ragkit.stores.lexical.base import ChunkFilter
    from ragkit.stores.lexical.tantivy_layout import SCHEMA_FILE

    for name in (CHUNKS, DOCUMENTS, SCHEMA_FILE):
        shutil.rmtree(directory / name) if (directory / name).is_dir() else (directory / name).unlink()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
    schema = builder.build()
    for name in (CHUNKS, DOCUMENTS):
        (directory / name).mkdir()
        old = tantivy.Index(schema, path=str(directory / name))
        writer = old.writer(15_000_000, 1)
        writer.add_document(tantivy.Document(id="stale", body="comet"))
        writer.commit()
        writer.wait_merging_threads()
    assert (directory / "tantivy-generation").read_text() == str(manifest.generation())

    assert saved_generation(directory) is None and load_index(directory) is None
    reader = current_index(manifest, directory)
    assert reader.generation == manifest.generation() and sorted(reader.ids) == _live_ids(manifest)
    found = reader.top("comets quasars", 10, ChunkFilter(sources=frozenset({"comets.txt"}), file_types=frozenset({"txt"})))
    assert found and all(chunk.startswith("comets.txt") for chunk, _ in found)
    assert load_index(directory) is not None  # saved with the current schema
