"""The postgres lexical backend behind a KnowledgeBase, and its ranking quality on NFCorpus.

A real PostgreSQL server (tests/conftest.py) and real ingests: hybrid search reads BM25 from the
database (no ``<home>/bm25`` directory is made), an ingest of one more file writes only that
file's rows, a killed ingest re-run converges like the tantivy one (tests/test_interrupt.py), and
on NFCorpus the postgres backend ranks as tantivy does (the same terms, the same BM25).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import psycopg
import pytest
from conftest import CORPUS, shared_dir

from ragkit.models import Filters
from ragkit.stores.lexical import PostgresTarget, TantivyIndex, saved_generation
from ragkit.stores.lexical.postgres_sync import build


def _chunk_rows(url: str) -> dict[str, tuple]:
    """Each indexed chunk with the transaction that wrote it."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        return {chunk: (key, xmin) for chunk, key, xmin in
                conn.execute("SELECT chunk_id, id, xmin::text FROM lexical_chunks").fetchall()}


def _live_ids(kb) -> list[str]:
    return sorted(chunk_id for chunk_id, _, _ in kb.manifest.iter_chunks())


def test_hybrid_search_reads_bm25_from_the_database(kb_factory, corpus_copy, postgres_url):
    kb = kb_factory("pg", lexical_backend="postgres", lexical_url=postgres_url)
    assert kb.ingest([corpus_copy]).ok
    assert not kb.bm25_dir.exists() and len(_chunk_rows(postgres_url)) == kb.manifest.count_chunks()

    assert kb.search("requests per minute token limit", k=1).hits[0].source == "cloud-api-guide.md"
    lexical = kb.search("requests per minute token limit", k=3, mode="bm25").hits
    assert lexical[0].source == "cloud-api-guide.md" and lexical[0].score > 0
    only_faq = kb.search("warranty returns", k=5, filters=Filters(sources=("support-faq.txt",))).hits
    assert only_faq and {h.source for h in only_faq} == {"support-faq.txt"}
    assert sorted(kb.lexical_index().ids) == _live_ids(kb)

    kb.remove([corpus_copy / "cloud-api-guide.md"])
    assert all(h.source != "cloud-api-guide.md" for h in kb.search("API token rate limit", k=10, mode="bm25").hits)
    assert kb.lexical_index().generation == kb.manifest.generation()

    kb.drop()
    assert saved_generation(kb.bm25_dir, kb.lexical_backend) is None and not _chunk_rows(postgres_url)


def test_an_ingest_of_one_more_file_writes_only_its_rows(tmp_path, kb_factory, postgres_url):
    docs = tmp_path / "docs"
    docs.mkdir()
    files = sorted(CORPUS.iterdir())
    for path in files[:3]:
        shutil.copy(path, docs / path.name)
    kb = kb_factory("incremental", lexical_backend="postgres", lexical_url=postgres_url)
    assert kb.ingest([docs]).ok
    before = _chunk_rows(postgres_url)

    shutil.copy(files[3], docs / files[3].name)
    assert kb.ingest([docs]).ok
    after = _chunk_rows(postgres_url)
    assert {chunk: after[chunk] for chunk in before} == before and len(after) > len(before)
    assert sorted(kb.lexical_index().ids) == _live_ids(kb)
    assert {h.source for h in kb.search(files[3].stem.replace("-", " "), k=20, mode="bm25").hits} >= {files[3].name}


@pytest.mark.slow
def test_a_killed_ingest_rerun_converges(tmp_path, kb_factory, postgres_server, monkeypatch):
    """kill -9 midway through a CLI ingest, then a re-run: the index equals a clean run's."""
    from test_interrupt import FILES, _committed_files, _interrupt_midway, _write_corpus

    url = postgres_server.database()
    monkeypatch.setenv("RAGKIT_LEXICAL_BACKEND", "postgres")
    monkeypatch.setenv("RAGKIT_LEXICAL_URL", url)
    folder, home = tmp_path / "corpus", tmp_path / "interrupted"
    _write_corpus(folder)
    assert _interrupt_midway(folder, home, signal.SIGKILL).returncode == -signal.SIGKILL
    assert 3 <= _committed_files(home) < FILES
    finish = subprocess.run([sys.executable, "-m", "ragkit.cli", "ingest", str(folder), "--home", str(home), "--json"],
                            capture_output=True, text=True, timeout=600)
    assert finish.returncode == 0, finish.stderr

    resumed = kb_factory("interrupted")
    clean = kb_factory("clean", lexical_url=postgres_server.database())
    clean.ingest([folder])
    assert _live_ids(resumed) == _live_ids(clean) and resumed.status().documents == FILES
    index = resumed.lexical_index()
    assert index.generation == resumed.manifest.generation() and sorted(index.ids) == _live_ids(clean)
    query = "comet observed near the telescope at station 4203"
    assert resumed.search(query, k=5, mode="bm25").hits[0].chunk_id == clean.search(query, k=5, mode="bm25").hits[0].chunk_id


# -- quality -------------------------------------------------------------------------------------------
def nfcorpus_rows(corpus) -> list[tuple[str, str, dict]]:
    """NFCorpus split as ``ingest_records`` splits it (records, context lines), without embedding."""
    from ingest.loaders.base import LoadedDocument, Section
    from ingest.split import SplitConfig, split_document

    rows = []
    for doc_id, title, text in corpus:
        document = LoadedDocument(sections=[Section(text=text)], texts={None: text}, title=title or None)
        for chunk in split_document(document, source=doc_id, path=f"record:{doc_id}", file_sha256=doc_id,
                                    config=SplitConfig(), name=""):
            rows.append((chunk.id, chunk.text, chunk.metadata()))
    return rows


def ndcg_at_10(index, gold, source_of: dict[str, str]) -> float:
    """Mean nDCG@10 over the gold questions, documents ranked by their best chunk."""
    from ragkit.eval.metrics import collapse, ndcg_at_k

    total = 0.0
    for item in gold.items:
        sources = [source_of[chunk] for chunk, _ in index.search(item.question, 100)]
        ranked = collapse(sources, [{s} for s in sources])
        total += ndcg_at_k(ranked, {g.file: g.grade for g in item.sources}, 10)
    return total / len(gold.items)


@pytest.mark.slow
def test_nfcorpus_ranking_equals_tantivys(postgres_url):
    from ragkit.eval.gold import load_beir

    beir = load_beir(shared_dir("beir", "nfcorpus"), "dev")
    rows = nfcorpus_rows(beir.corpus)
    source_of = {chunk_id: meta["source"] for chunk_id, _, meta in rows}
    postgres = build(PostgresTarget(postgres_url, "nfcorpus"), rows, generation=1)
    tantivy = TantivyIndex.build(rows, generation=1)

    assert len(postgres) == len(tantivy) == len(rows)
    ours, theirs = ndcg_at_10(postgres, beir.gold, source_of), ndcg_at_10(tantivy, beir.gold, source_of)
    print(f"NFCorpus dev nDCG@10 over {len(rows)} chunks: postgres {ours:.4f}, tantivy {theirs:.4f}")
    assert ours == pytest.approx(theirs, abs=0.005) and ours > 0.25
