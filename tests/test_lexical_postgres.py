"""The postgres lexical backend (ragkit/stores/lexical/postgres_*.py) on a real PostgreSQL server.

The behaviour every backend shares is the same tests as tests/test_lexical.py (imported below and
run against a postgres index); then what only a shared database has to show: BM25 equal to
tantivy's, updates that touch only the changed file's rows (evidence: the rows' ``xmin``, the
transaction that wrote them), readers that keep their snapshot while writers commit, writers in
two processes at once, and a writer killed inside its transaction. Ingest through the
KnowledgeBase and NFCorpus quality: tests/test_lexical_postgres_kb.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest
from test_lexical_incremental import _store
from test_lexical import (ROWS, test_build_keeps_each_chunks_filter_fields,  # noqa: F401 - shared tests
                          test_document_scores_are_shared_by_a_documents_chunks,
                          test_filters_see_each_chunks_fields_by_position, test_queries_with_no_content_words_score_nothing,
                          test_search_returns_the_raw_bm25_scores_best_first, test_the_chunk_with_the_query_words_scores_highest,
                          test_the_context_line_is_searchable, test_unknown_names_are_names_no_chunk_contains,
                          test_unknown_names_accept_prefixes_misspellings_and_spelled_acronyms,
                          test_top_returns_the_best_chunks_the_filter_allows, test_scores_for_scores_just_the_given_chunks,
                          test_source_values_are_the_distinct_sources)

from ragkit.errors import ConfigError
from ragkit.stores.lexical import (PostgresTarget, TantivyIndex, current_index, drop_index, load_index,
                                   saved_generation, sync_index)
from ragkit.stores.lexical.postgres_sync import build
from ragkit.stores.manifest import Manifest

FILES = {
    "/d/comets.txt": ["Comets grow tails near the sun.", "Halley returns every 76 years."],
    "/d/quasars.txt": ["Quasars are bright galactic nuclei.", "Their light left billions of years ago."],
    "/d/nebulae.txt": ["Nebulae are clouds of gas and dust.", "Stars form inside the Orion nebula."],
}
UNUSED = Path("/nonexistent-bm25")  # the postgres backend has no directory
QUERIES = ("comets sun", "stars form halley", "quasars light", "nebula nebula dust", "years")


@pytest.fixture(scope="module")
def index(postgres_server):
    """The shared behaviour tests' index, in PostgreSQL."""
    return build(PostgresTarget(postgres_server.database(), "shared"), ROWS, generation=7)


@pytest.fixture
def target(postgres_url) -> PostgresTarget:
    return PostgresTarget(postgres_url, "docs")


@pytest.fixture
def manifest(tmp_path):
    opened = Manifest(tmp_path / "manifest.sqlite", "docs")
    for path, texts in FILES.items():
        _store(opened, path, texts)
    yield opened
    opened.close()


def _sql(url: str, query: str, params=None) -> list[tuple]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def _written(url: str) -> dict[str, tuple]:
    """Each chunk's (row key, writing transaction) and its postings' writing transactions."""
    chunks = _sql(url, "SELECT chunk_id, id, xmin::text FROM lexical_chunks")
    terms = dict(_sql(url, "SELECT chunk, array_agg(DISTINCT xmin::text) FROM lexical_terms GROUP BY chunk"))
    return {chunk_id: (key, xmin, tuple(terms[key])) for chunk_id, key, xmin in chunks}


def _live_ids(manifest: Manifest) -> list[str]:
    return sorted(chunk_id for chunk_id, _, _ in manifest.iter_chunks())


def _statistics(url: str, collection: str) -> tuple:
    """A collection's counts and vocabulary: what the writers keep in step by differences."""
    (cid, chunks, files, tokens), = _sql(url, "SELECT id, chunks, files, tokens FROM lexical_collections "
                                              "WHERE name = %s", (collection,))
    vocabulary = _sql(url, "SELECT term, chunks, files FROM lexical_vocabulary WHERE collection_id = %s "
                           "ORDER BY term", (cid,))
    return chunks, files, tokens, vocabulary


def _fresh_statistics(manifest: Manifest, url: str) -> tuple:
    """The same counts, from an index built afresh from the manifest."""
    sync_index(manifest, UNUSED, None, PostgresTarget(url, "fresh"))
    return _statistics(url, "fresh")


# -- the same BM25 as tantivy ---------------------------------------------------------------------
def test_an_empty_index_answers_without_errors(target):
    empty = build(target, [], generation=0)
    assert len(empty) == 0 and empty.ids == [] and empty.generation == 0
    assert empty.scores("anything").shape == (0,) and empty.document_scores("anything").shape == (0,)
    assert empty.unknown_names("Does Zanzibar appear?") == [] and empty.search("anything", 5) == []


def test_scores_are_tantivys_bm25(index):
    """Short chunks, whose lengths tantivy stores exactly: the same numbers, term by term, a
    repeated query word counting twice, and for whole documents too."""
    tantivy = TantivyIndex.build(ROWS, generation=7)
    for query in ("hotel cap Paris pump", "pump pump battery", "allowances", "British pump UN3091 travel"):
        np.testing.assert_allclose(index.scores(query), tantivy.scores(query), rtol=1e-6)
        np.testing.assert_allclose(index.document_scores(query), tantivy.document_scores(query), rtol=1e-6)
        assert [c for c, _ in index.search(query, 4)] == [c for c, _ in tantivy.search(query, 4)]


# -- against a real manifest ----------------------------------------------------------------------
def test_a_synced_index_reopens_at_its_generation_only(target, manifest):
    built = sync_index(manifest, UNUSED, None, target)
    loaded = load_index(UNUSED, target)

    assert built.generation == loaded.generation == saved_generation(UNUSED, target) == manifest.generation() == 3
    assert loaded is not built and loaded.ids == built.ids and sorted(loaded.ids) == _live_ids(manifest)
    np.testing.assert_allclose(loaded.scores("comets quasars"), built.scores("comets quasars"))
    assert loaded.unknown_names("Do Comets reach Zanzibar?") == ["Zanzibar"]
    assert load_index(UNUSED, target, generation=2) is None  # not the one asked for
    assert load_index(UNUSED, PostgresTarget(target.url, "other")) is None  # never synced


def test_current_index_reuses_reloads_or_syncs_by_generation(target, manifest):
    first = current_index(manifest, UNUSED, None, None, target)
    assert current_index(manifest, UNUSED, first, None, target) is first

    _store(manifest, "/d/pulsars.txt", ["Pulsars spin and flash like lighthouses."])
    moved = current_index(manifest, UNUSED, first, None, target)
    assert moved.generation == manifest.generation() == 4 and len(moved) == 7 and len(first) == 6
    assert moved.ids[int(np.argmax(moved.scores("lighthouses")))].startswith("pulsars.txt-0")


def test_adding_one_file_writes_only_its_rows(target, manifest):
    sync_index(manifest, UNUSED, None, target)
    before = _written(target.url)
    _store(manifest, "/d/pulsars.txt", ["Pulsars spin and flash like lighthouses."])
    index = sync_index(manifest, UNUSED, {"/d/pulsars.txt"}, target)

    after = _written(target.url)
    assert {chunk: after[chunk] for chunk in before} == before  # not one row rewritten
    assert sorted(index.ids) == _live_ids(manifest) and index.generation == manifest.generation()
    assert _statistics(target.url, "docs") == _fresh_statistics(manifest, target.url)


def test_removing_a_file_deletes_only_its_rows(target, manifest):
    sync_index(manifest, UNUSED, None, target)
    before = _written(target.url)
    manifest.forget_file("/d/nebulae.txt")
    index = sync_index(manifest, UNUSED, {"/d/nebulae.txt"}, target)

    assert _written(target.url) == {c: row for c, row in before.items() if not c.startswith("nebulae")}
    assert sorted(index.ids) == _live_ids(manifest) and len(index) == 4
    assert not index.scores("nebulae clouds").any() and not index.document_scores("nebula").any()
    assert index.unknown_names("Where is the Orion nebula?") == ["Orion"]  # its words left with it
    assert "/d/nebulae.txt" not in set(index.paths)
    assert _statistics(target.url, "docs") == _fresh_statistics(manifest, target.url)


def test_replacing_a_file_swaps_its_chunks_and_scores_like_a_fresh_index(target, manifest):
    sync_index(manifest, UNUSED, None, target)
    _store(manifest, "/d/comets.txt", ["Comets are icy bodies.", "Halley returns every 76 years."])
    told = sync_index(manifest, UNUSED, {"/d/comets.txt"}, target)
    fresh = sync_index(manifest, UNUSED, None, PostgresTarget(target.url, "fresh"))

    assert sorted(told.ids) == _live_ids(manifest) and len(told) == 6
    assert not told.scores("tails").any() and told.scores("icy").max() > 0
    for query in QUERIES:  # exact statistics: no deleted documents linger until a merge
        assert dict(told.search(query, 10)) == pytest.approx(dict(fresh.search(query, 10)), rel=1e-6)
        np.testing.assert_allclose(told.document_scores(query)[np.argsort(told.ids)],
                                   fresh.document_scores(query)[np.argsort(fresh.ids)], rtol=1e-6)


def test_dropping_the_index_forgets_the_collection(target, manifest):
    sync_index(manifest, UNUSED, None, target)
    sync_index(manifest, UNUSED, None, PostgresTarget(target.url, "kept"))
    drop_index(UNUSED, target)

    assert saved_generation(UNUSED, target) is None and load_index(UNUSED, target) is None
    assert _sql(target.url, "SELECT count(*) FROM lexical_chunks c JOIN lexical_collections k "
                            "ON k.id = c.collection_id WHERE k.name = 'docs'") == [(0,)]
    assert len(load_index(UNUSED, PostgresTarget(target.url, "kept"))) == 6


def test_an_unreachable_database_is_a_config_error_naming_lexical_url(manifest):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once it is closed
    with pytest.raises(ConfigError, match="lexical_url: cannot use the PostgreSQL database .*Connection refused"):
        sync_index(manifest, UNUSED, None, PostgresTarget(f"postgresql://ragkit@127.0.0.1:{port}/ragkit", "docs"))


# -- snapshots --------------------------------------------------------------------------------------
def test_a_reader_keeps_its_snapshot_while_a_writer_commits(target, manifest):
    reader = sync_index(manifest, UNUSED, None, target)  # nothing read yet: positions load later
    expected = {query: reader.search(query, 10) for query in QUERIES}
    _store(manifest, "/d/pulsars.txt", ["Pulsars are dead stars that spin."])
    manifest.forget_file("/d/comets.txt")
    newer = sync_index(manifest, UNUSED, None, target)

    assert newer.generation == 5 and reader.generation == 3
    assert len(reader) == len(reader.ids) == 6 and any(i.startswith("comets") for i in reader.ids)
    assert reader.scores("comets").max() > 0 and reader.document_scores("halley").max() > 0
    assert {query: reader.search(query, 10) for query in QUERIES} == expected
    assert reader.unknown_names("Do Pulsars spin?") == ["Pulsars"] and newer.unknown_names("Do Pulsars spin?") == []
    assert not newer.scores("comets").any()


def test_threads_share_one_reader_while_a_writer_commits(target, manifest):
    from concurrent.futures import ThreadPoolExecutor

    reader = sync_index(manifest, UNUSED, None, target)
    expected = {query: (reader.search(query, 10), reader.scores(query).tolist()) for query in QUERIES}

    def ask(n: int) -> bool:
        query = QUERIES[n % len(QUERIES)]
        return (reader.search(query, 10), reader.scores(query).tolist()) == expected[query]

    with ThreadPoolExecutor(8) as pool:
        answers = pool.map(ask, range(200))
        for n in range(5):  # meanwhile, in this thread
            _store(manifest, f"/d/extra-{n}.txt", [f"Comets and stars, note {n}."])
            sync_index(manifest, UNUSED, None, target)
        assert all(answers)
    assert len(load_index(UNUSED, target)) == 11


def _end_anchors(url: str) -> int:
    """Terminate the sessions holding readers' snapshots (what their idle timeout does)."""
    database = url.rsplit("/", 1)[1]
    return len(_sql(url, "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = %s "
                         "AND state = 'idle in transaction' AND pid <> pg_backend_pid()", (database,)))


def test_a_reader_whose_snapshot_ended_answers_alike_while_the_index_is_unchanged(target, manifest):
    """A generation's content never changes, so its snapshot is needed only once the index moves."""
    reader = sync_index(manifest, UNUSED, None, target)
    before = reader.search("comets stars", 10)
    assert _end_anchors(target.url) == 1
    assert reader.search("comets stars", 10) == before and sorted(reader.ids) == _live_ids(manifest)
    assert reader.unknown_names("Do Comets reach Zanzibar?") == ["Zanzibar"]


def test_a_reader_whose_snapshot_ended_after_a_write_answers_over_its_own_positions(target, manifest):
    reader = sync_index(manifest, UNUSED, None, target)
    ids = list(reader.ids)
    _store(manifest, "/d/pulsars.txt", ["Pulsars spin."])
    manifest.forget_file("/d/comets.txt")
    sync_index(manifest, UNUSED, None, target)
    _end_anchors(target.url)

    scores = reader.scores("comets pulsars quasars")
    assert scores.shape == (6,) and list(reader.ids) == ids  # its positions, the newer postings
    assert not scores[[i for i, c in enumerate(ids) if c.startswith("comets")]].any()
    assert scores.max() > 0 and _end_anchors(target.url) == 0  # no new anchor on a moved index


# -- writers ----------------------------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from test_lexical import _store
    from ragkit.stores.lexical import PostgresTarget, sync_index
    from ragkit.stores.manifest import Manifest

    database, url, name, go, files = sys.argv[1:6]
    manifest = Manifest(Path(database), "docs")
    target = PostgresTarget(url, "docs")
    while not Path(go).exists():
        time.sleep(0.005)
    for i in range(int(files)):
        _store(manifest, f"/d/{name}-{i}.txt", [f"{name} note {i} about meteors", f"{name} second part {i}"])
        sync_index(manifest, Path("/nonexistent"), None, target)
    print("done", flush=True)
""")


def _writer(manifest: Manifest, target: PostgresTarget, name: str, go: Path, files: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ["PYTHONPATH"]])}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(manifest.db_path), target.url, name, str(go),
                             str(files)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_writing_different_files_at_once(tmp_path, target, manifest):
    sync_index(manifest, UNUSED, None, target)
    go = tmp_path / "go"
    writers = [_writer(manifest, target, name, go, 6) for name in ("alpha", "beta")]
    go.touch()
    for writer in writers:
        out, err = writer.communicate(timeout=240)
        assert writer.returncode == 0 and out.strip() == "done", err

    index = load_index(UNUSED, target)
    assert index.generation == manifest.generation() == 3 + 12
    assert sorted(index.ids) == _live_ids(manifest) and len(index) == 6 + 24
    assert int(np.count_nonzero(index.scores("meteors"))) == 12
    assert _statistics(target.url, "docs") == _fresh_statistics(manifest, target.url)


def test_a_writer_killed_inside_its_transaction_leaves_nothing_and_releases_its_lock(tmp_path, target, manifest):
    sync_index(manifest, UNUSED, None, target)
    before = _written(target.url)
    url = target.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as blocker:
        # The writer deletes and copies rows, then waits here, at its vocabulary update.
        blocker.execute("LOCK TABLE lexical_vocabulary IN SHARE MODE")
        writer = _writer(manifest, target, "gamma", tmp_path / "go", 1)
        (tmp_path / "go").touch()
        deadline = time.time() + 60
        while not _sql(target.url, "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                   "AND query LIKE 'INSERT INTO lexical_vocabulary%%'"):
            assert writer.poll() is None and time.time() < deadline, writer.stderr.read()
            time.sleep(0.02)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        blocker.rollback()

    assert _written(target.url) == before  # nothing of the killed transaction
    assert saved_generation(UNUSED, target) == 3 < manifest.generation()
    index = sync_index(manifest, UNUSED, None, target)  # the lock is free again
    assert sorted(index.ids) == _live_ids(manifest) and index.generation == manifest.generation() == 4
    assert _statistics(target.url, "docs") == _fresh_statistics(manifest, target.url)
