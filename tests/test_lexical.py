"""The BM25 index (ragkit/stores/lexical/): built from manifest rows, saved, reopened, brought up to date.

Real tantivy (and bm25s, its comparison peer) and a real manifest in a temp dir. The index is
derived state, so what matters is that it ranks the right chunk, that a saved index is trusted
only for the generation it matches, and that readers keep a usable index while a writer holds
the ingest lock. Incremental updates and crash recovery: tests/test_lexical_incremental.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragkit.models import Chunk
from ragkit.stores.lexical import BACKENDS, Bm25sIndex, LexicalIndex, build_index, current_index, load_index
from ragkit.stores.lexical.base import ChunkFilter
from ragkit.stores.lock import file_lock
from ragkit.stores.manifest import FileCommit, Manifest

ROWS = [
    ("a1", "The hotel cap in Paris is 160 euros per night.",
     {"source": "travel.md", "path": "/d/travel.md", "file_type": "md", "page": None,
      "context": "Travel policy > Hotels"}),
    ("a2", "Daily allowance covers meals and local transport.",
     {"source": "travel.md", "path": "/d/travel.md", "file_type": "md", "page": None,
      "context": "Travel policy > Allowances"}),
    ("b1", "The WS-300 pump ships with the UN3091 battery pack.",
     {"source": "manual.pdf", "path": "/d/manual.pdf", "file_type": "pdf", "page": 4, "context": ""}),
    ("b2", "The British Standards Institution certified the pump.",
     {"source": "manual.pdf", "path": "/d/manual.pdf", "file_type": "pdf", "page": 5, "context": ""}),
]


@pytest.fixture(scope="module", params=BACKENDS)
def index(request) -> LexicalIndex:
    """Every behaviour below holds for both backends."""
    return (LexicalIndex if request.param == "tantivy" else Bm25sIndex).build(ROWS, generation=7)


def test_build_keeps_each_chunks_filter_fields(index):
    assert len(index) == 4 and index.generation == 7
    assert index.ids == ["a1", "a2", "b1", "b2"]
    assert index.sources.tolist() == ["travel.md", "travel.md", "manual.pdf", "manual.pdf"]
    assert index.file_types.tolist() == ["md", "md", "pdf", "pdf"]
    assert index.pages.tolist() == [-1, -1, 4, 5]
    assert index.position("b1") == 2 and index.position("zz") is None


def test_the_chunk_with_the_query_words_scores_highest(index):
    scores = index.scores("What is the hotel cap in Paris?")
    assert scores.shape == (4,)
    assert index.ids[int(np.argmax(scores))] == "a1"
    assert scores[index.position("b1")] == 0


def test_the_context_line_is_searchable(index):
    """'Allowances' is only in a2's context line, which BM25 indexes with the text."""
    scores = index.scores("allowances")
    assert index.ids[int(np.argmax(scores))] == "a2" and scores.max() > 0


def test_queries_with_no_content_words_score_nothing(index):
    assert not index.scores("what is the").any()
    assert not index.scores("").any()


def test_document_scores_are_shared_by_a_documents_chunks(index):
    scores = index.document_scores("Paris pump")
    assert scores[0] == scores[1] and scores[2] == scores[3]
    # "allowance" is only in the travel document, so the travel chunks score above the manual's
    only_travel = index.document_scores("allowance")
    assert only_travel[0] > 0 and only_travel[2] == 0


def test_unknown_names_are_names_no_chunk_contains(index):
    assert index.unknown_names("Does the Zanzibar office pay the hotel cap?") == ["Zanzibar"]
    assert index.unknown_names("What is the hotel cap in Paris?") == []


def test_unknown_names_accept_prefixes_misspellings_and_spelled_acronyms(index):
    assert index.unknown_names("Which pack is UN rated?") == []  # "UN" starts "UN3091"
    assert index.unknown_names("Who certified it, the Brittish institution?") == []  # one edit
    assert index.unknown_names("Did BSI certify the pump?") == ["BSI"]
    passages = ["The British Standards Institution certified the pump."]
    assert index.unknown_names("Did BSI certify the pump?", passages) == []


@pytest.mark.parametrize("kind", [LexicalIndex, Bm25sIndex])
def test_an_empty_index_answers_without_errors(kind):
    empty = kind.build([], generation=0)
    assert len(empty) == 0
    assert empty.scores("anything").shape == (0,)
    assert empty.document_scores("anything").shape == (0,)
    assert empty.unknown_names("Does Zanzibar appear?") == [] and empty.search("anything", 5) == []
    assert empty.top("anything", 5, ChunkFilter(page_min=1)) == [] and empty.scores_for("anything", ["a"]) == {}
    assert list(empty.source_values()) == []


def test_search_returns_the_raw_bm25_scores_best_first(index):
    found = index.search("hotel cap Paris pump", 3)
    assert found[0][0] == "a1" and {chunk for chunk, _ in found} == {"a1", "b1", "b2"}  # a2 has no term
    scores = index.scores("hotel cap Paris pump")
    assert [score for _, score in found] == pytest.approx([float(scores[index.position(c)]) for c, _ in found])
    assert all(a >= b for (_, a), (_, b) in zip(found, found[1:]))


def test_top_returns_the_best_chunks_the_filter_allows(index):
    query = "hotel cap Paris pump"
    assert index.top(query, 3) == index.search(query, 3)
    assert {c for c, _ in index.top(query, 3, ChunkFilter(sources=frozenset({"manual.pdf"})))} == {"b1", "b2"}
    assert [c for c, _ in index.top(query, 3, ChunkFilter(file_types=frozenset({"md"})))] == ["a1"]
    assert [c for c, _ in index.top(query, 3, ChunkFilter(paths=frozenset({"/d/manual.pdf"}), page_min=5))] == ["b2"]
    assert [c for c, _ in index.top(query, 3, ChunkFilter(page_max=4))] == ["b1"]  # no page: not "up to 4"
    assert index.top(query, 3, ChunkFilter(sources=frozenset())) == [] and index.top("the of", 3) == []
    allowed = index.top(query, 3, ChunkFilter(page_min=-1))  # chunks without a page have page -1
    assert {c for c, _ in allowed} == {"a1", "b1", "b2"}


def test_scores_for_scores_just_the_given_chunks(index):
    scores = index.scores("hotel pump")
    found = index.scores_for("hotel pump", ["a1", "a2", "b1", "zz"])
    assert found.keys() == {"a1", "b1"}  # a2 has no query word, zz is no chunk
    assert found["a1"] == pytest.approx(float(scores[index.position("a1")]))
    assert index.scores_for("hotel pump", ["a1", "b1"], ChunkFilter(file_types=frozenset({"pdf"}))).keys() == {"b1"}
    assert index.scores_for("the of", ["a1"]) == {} and index.scores_for("hotel", []) == {}


def test_source_values_are_the_distinct_sources(index):
    assert list(index.source_values()) == ["manual.pdf", "travel.md"]


def test_filters_see_each_chunks_fields_by_position(index):
    for i, (chunk_id, _, meta) in enumerate(ROWS):
        assert index.position(chunk_id) == i and index.paths[i] == meta["path"]


# -- against a real manifest --------------------------------------------------------------------
def _store(manifest: Manifest, path: str, texts: list[str]) -> None:
    source = Path(path).name
    chunks = [Chunk(id=f"{source}-{i}", text=t, source=source, path=path, file_sha256="s", page=None,
                    section="", start=0, end=len(t), index=i, n_tokens=len(t.split()))
              for i, t in enumerate(texts)]
    manifest.commit_files([FileCommit(path, source, 1, 1, "s-" + "".join(texts), chunks)])


@pytest.fixture
def manifest(tmp_path):
    opened = Manifest(tmp_path / "manifest.sqlite", "docs")
    yield opened
    opened.close()


def test_build_index_reads_the_manifests_live_chunks(tmp_path, manifest):
    _store(manifest, "/d/a.txt", ["comets have tails", "quasars are bright"])
    built = build_index(manifest, tmp_path / "bm25")

    assert built.generation == manifest.generation() == 1
    assert set(built.ids) == {"a.txt-0", "a.txt-1"}
    assert LexicalIndex.saved_generation(tmp_path / "bm25") == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_saved_index_reopens_with_the_same_scores(tmp_path, manifest, backend):
    _store(manifest, "/d/a.txt", ["comets have tails", "quasars are bright"])
    _store(manifest, "/d/b.txt", ["comets and quasars", "nebulae glow faintly"])
    built = build_index(manifest, tmp_path / "bm25", backend)
    loaded = load_index(tmp_path / "bm25", backend)

    assert loaded is not None and loaded is not built and loaded.generation == built.generation == 2
    assert list(loaded.ids) == list(built.ids)
    np.testing.assert_allclose(loaded.scores("comets quasars"), built.scores("comets quasars"))
    np.testing.assert_allclose(loaded.document_scores("nebulae"), built.document_scores("nebulae"))
    assert loaded.unknown_names("Do Comets reach Zanzibar?") == ["Zanzibar"]
    assert load_index(tmp_path / "bm25", backend, generation=1) is None  # not the one asked for


def test_current_index_reuses_reloads_or_rebuilds_by_generation(tmp_path, manifest):
    directory = tmp_path / "bm25"
    _store(manifest, "/d/a.txt", ["comets have tails"])
    first = current_index(manifest, directory)
    assert current_index(manifest, directory, first) is first  # current: kept as is

    from_disk = current_index(manifest, directory, None)  # another process: loads the saved one
    assert from_disk is not first and from_disk.ids == first.ids

    _store(manifest, "/d/b.txt", ["nebulae glow"])  # the generation moves
    rebuilt = current_index(manifest, directory, first)
    assert rebuilt is not first and len(first) == 1  # a snapshot never changes under its reader
    assert rebuilt.generation == manifest.generation() == 2
    assert rebuilt.ids[int(np.argmax(rebuilt.scores("nebulae")))] == "b.txt-0"
    assert LexicalIndex.saved_generation(directory) == 2


def test_readers_keep_their_index_while_an_ingest_holds_the_lock(tmp_path, manifest):
    directory, writer_lock = tmp_path / "bm25", tmp_path / "ingest.lock"
    _store(manifest, "/d/a.txt", ["comets have tails"])
    loaded = current_index(manifest, directory)
    _store(manifest, "/d/b.txt", ["nebulae glow"])

    with file_lock(writer_lock):
        assert current_index(manifest, directory, loaded, writer_lock) is loaded
        saved = current_index(manifest, directory, None, writer_lock)
        assert saved.generation == 1  # the saved index, not a rebuild per window

    after = current_index(manifest, directory, loaded, writer_lock)
    assert after.generation == 2 and len(after) == 2


@pytest.mark.parametrize("where", [
    ChunkFilter(), ChunkFilter(sources=frozenset({"travel.md"})), ChunkFilter(paths=frozenset({"/d/manual.pdf"})),
    ChunkFilter(file_types=frozenset({"pdf", "md"})), ChunkFilter(page_min=5), ChunkFilter(page_max=4),
    ChunkFilter(page_min=-1), ChunkFilter(page_min=4, page_max=4, file_types=frozenset({"pdf"})),
])
def test_a_filter_allows_one_chunk_as_its_mask_does(where):
    from ragkit.stores.lexical.base import chunk_fields

    fields = [chunk_fields(meta) for _, _, meta in ROWS]
    columns = [np.asarray(column, dtype=object) for column in zip(*fields)]
    mask = where.mask(*columns[:3], np.asarray(columns[3], dtype=np.int64))
    assert [where.allows(*row) for row in fields] == mask.tolist()
