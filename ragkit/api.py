"""The Python API: ``KnowledgeBase`` is everything the CLI can do, without the CLI.

A knowledge base is a directory (default ``./.ragkit``) holding the Chroma data (``chroma/``),
the state database with the manifest (``ragkit.sqlite``, :mod:`ragkit.state`) and one BM25 index
per collection (``bm25/<name>/``, or rows in a shared PostgreSQL database with
``lexical_backend = "postgres"``).

It is a surface: with the CLI (and the server) it is the only part of ``ragkit`` that starts
stage one (``ingest``). One instance may be shared by many threads: components are built once
under a lock, the manifest takes a pooled connection per call (never one shared by two threads),
and the BM25 index is swapped by generation, so searches running while another thread ingests
see either the old or the new collection, never half of one.
"""

from __future__ import annotations

import hashlib
import threading
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from ragkit.citations import resolve
from ragkit.config import ChunkTruncationWarning, Settings, load_settings, wordpieces_for
from ragkit.embedders import Embedder, make_embedder
from ragkit.errors import ConfigError, RagkitError, TransientModelError, UsageError
from ragkit.generators import Generator, TokenCallback, generator_name, make_generator
from ragkit.models import (
    Answer, Filters, Generation, IngestReport, Record, SearchRequest, SearchResult, Status,
)
from ragkit.rerankers import Reranker, make_reranker
from ragkit.query.retrieve import Retriever
from ragkit.state import open_home
from ragkit.stores import ChromaStore, LexicalIndex, Manifest, current_index
from ragkit.stores.lexical import Backend, backend_for, drop_index
from ragkit.stores.lock import CollectionLock, collection_lock
from ragkit.text import named_years

__all__ = ["Answer", "KnowledgeBase", "REFUSAL_TEXT", "Status"]

REFUSAL_TEXT = "Not found in the documents."
#: chunks whose documents are "the documents that match" a question for the year check: twice the
#: five quoted from, so the bridge article of a two-hop question counts (HotpotQA false refusals
#: 5% -> 3% against the top five alone; MMLongBench refusals unchanged; bench/calibrate_refusal.py)
MATCHING_DEPTH = 10
T = TypeVar("T")


def _refuse_while_a_worker_imports_main() -> None:
    """Parser processes start by importing the caller's script again; without a main guard that copy
    opened the knowledge base and waited for the parent's ingest lock until the parent gave up on it
    (120 s). Ending the copy here (one line, no traceback) lets the parent parse inline at once."""
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise SystemExit(
            "ragkit: a parser process re-imported your script and reached KnowledgeBase(...); put the "
            "script's code under `if __name__ == \"__main__\":` so that ingest can use parser processes "
            "(this run parses in the main process instead)")


def check_k(k: int | None) -> None:
    """``k`` is how many chunks to retrieve: None for the ``top_k`` setting, else at least 1 (0 used
    to return nothing and a negative k all chunks but the last few)."""
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise UsageError(f"k must be a whole number of at least 1, not {k!r}")


def empty_collection(kb: "KnowledgeBase") -> RagkitError:
    """The error for a question to a collection that holds no chunks (never ingested, or a typo)."""
    return RagkitError(f"collection {kb.settings.collection!r} in {kb.home} is empty: ingest documents first "
                       "(ragkit ingest PATH)")


class KnowledgeBase:
    """A folder of documents made searchable and answerable.

    >>> kb = KnowledgeBase("./.ragkit")            # doctest: +SKIP
    >>> kb.ingest(["docs/"]).summary()              # doctest: +SKIP
    >>> print(kb.ask("What is the warranty period?").text)  # doctest: +SKIP
    """

    def __init__(self, home: str | Path | None = None, *, settings: Settings | None = None,
                 embedder: Embedder | str | None = None, **overrides: Any):
        """``embedder`` is either the name of a backend (the ``embedder`` setting) or a ready
        embedder instance, e.g. one loaded model shared by several knowledge bases."""
        _refuse_while_a_worker_imports_main()
        if isinstance(embedder, str):
            overrides["embedder"], embedder = embedder, None
        if settings is None:
            settings = load_settings(home=Path(home) if home is not None else None, **overrides)
        elif home is not None or overrides:
            settings = settings.model_copy(update={"home": Path(home) if home else settings.home, **overrides})
        self.settings = settings
        self.home = Path(settings.home)
        if self.home.exists() and not self.home.is_dir():
            raise ConfigError(f"home {self.home} is a file, not a directory: give --home (RAGKIT_HOME) the "
                              "knowledge-base directory, or a path where ragkit may create one")
        self._lock = threading.RLock()
        self._components: dict[str, Any] = {}
        if embedder is not None:
            self._components["embedder"] = embedder
        self._lexical: LexicalIndex | None = None
        self._borrowed = False

    def view(self, **updates: Any) -> "KnowledgeBase":
        """The same collection with other query-time settings (mode, fusion, top_k, generator, model…),
        sharing this one's embedder, store and manifest. Settings that change what is stored
        (collection, chunk size, embedder) need a new KnowledgeBase instead."""
        for key in ("home", "collection", "chroma_url", "embedder", "chunk_size", "chunk_overlap"):
            if key in updates:
                raise UsageError(f"view() cannot change {key!r}: open another KnowledgeBase")
        other = KnowledgeBase(settings=self.settings.model_copy(update=updates))
        other._borrowed = True  # closing a view leaves the shared manifest open
        with self._lock:
            for name in ("embedder", "store", "manifest"):
                if name in self._components:
                    other._components[name] = self._components[name]
        other._components.setdefault("embedder", self.embedder)
        other._components.setdefault("store", self.store)
        other._components.setdefault("manifest", self.manifest)
        return other

    # -- components (built once, on first use, under a lock) ------------------------------
    def _component(self, name: str, build: Callable[[], T]) -> T:
        found = self._components.get(name)
        if found is None:
            with self._lock:
                found = self._components.get(name)
                if found is None:
                    found = self._components[name] = build()
        return found

    @property
    def embedder(self) -> Embedder:
        """The embedding model of this collection, loaded on first use and shared by every thread."""
        return self._component("embedder", lambda: make_embedder(self.settings))

    @property
    def store(self) -> ChromaStore:
        """The collection's vectors in Chroma (local ``<home>/chroma`` or the ``chroma_url`` server)."""
        return self._component("store", lambda: ChromaStore(
            self.home / "chroma", self.settings.collection, self.embedder.id, self.settings.chroma_url))

    @property
    def manifest(self) -> Manifest:
        """The collection's rows in the state database: files, chunks, the ingest journal, the cache."""
        return self._component("manifest", lambda: Manifest(
            open_home(self.home, self.settings.database_url), self.settings.collection))

    @property
    def reranker(self) -> Reranker:
        """The second-stage scorer the ``reranker`` setting names (a no-op for ``none``)."""
        return self._component("reranker", lambda: make_reranker(self.settings, self.embedder))

    @property
    def bm25_dir(self) -> Path:
        """Where the collection's lexical (BM25) index lives: ``<home>/bm25/<collection>``."""
        return self.home / "bm25" / self.settings.collection

    @property
    def lexical_backend(self) -> Backend:
        """The collection's lexical index backend: a directory backend's name, or its place in the
        PostgreSQL database of ``lexical_url`` (``lexical_backend = "postgres"``)."""
        s = self.settings
        return backend_for(s.lexical_backend, s.lexical_database_url, s.collection)

    @property
    def ingest_lock(self) -> CollectionLock:
        """The collection's write lock, which every process writing the collection holds: a file
        lock in the home, or an advisory lock in the state database when that is PostgreSQL
        (replicas on several hosts write the same collection)."""
        return self._component("ingest_lock", lambda: collection_lock(
            self.manifest.state, self.home, self.settings.collection))

    @property
    def retriever(self) -> Retriever:
        """The retrieval chain (dense, BM25, fusion, reranking) over this collection's stores."""
        return self._component("retriever", lambda: Retriever(
            store=self.store, lexical=self.lexical_index, embedder=self.embedder,
            chunk_lookup=self.manifest.chunks_by_id, reranker=self.reranker,
            document_labels=self.manifest.document_labels))

    def lexical_index(self) -> LexicalIndex:
        """The BM25 index of the manifest's current generation (reloaded or rebuilt if it moved)."""
        loaded = self._lexical
        if loaded is not None and loaded.generation == self.manifest.generation():
            return loaded
        with self._lock:
            self._lexical = current_index(self.manifest, self.bm25_dir, self._lexical, self.ingest_lock,
                                          self.lexical_backend)
            return self._lexical

    # -- stage one ------------------------------------------------------------------------
    def _pipeline(self):
        from ingest.pipeline import IngestPipeline, Stores  # stage one's entry point
        from ragkit.ingest_options import LoadOptions, SplitConfig

        s = self.settings
        if s.chunk_size and wordpieces_for(s.chunk_size) > self.embedder.max_tokens:
            warnings.warn(
                f"chunk_size={s.chunk_size} tokens is about {wordpieces_for(s.chunk_size)} model tokens, but "
                f"the embedder reads at most {self.embedder.max_tokens}: the end of long chunks will not be "
                f"embedded (BM25 still sees it). Lower chunk_size.", ChunkTruncationWarning, stacklevel=3)
        self._check_build_settings()
        password = s.pdf_password.get_secret_value() if s.pdf_password else None
        return IngestPipeline(
            stores=Stores(self.store, self.manifest, self.bm25_dir, self.ingest_lock, self.lexical_backend),
            embedder=self.embedder,
            split=SplitConfig(s.chunk_size, s.chunk_overlap, s.chunk_context, s.max_file_tokens),
            options=LoadOptions(pdf_password=password, ocr=s.ocr, ocr_max_pages=s.ocr_max_pages,
                                ocr_seconds=s.ocr_seconds, keep_furniture=s.keep_furniture,
                                docx_comments=s.docx_comments, docx_headers_footers=s.docx_headers_footers),
            parse_workers=s.parse_workers,
            ignore=[self.home],
            window=s.ingest_window,
        )

    def _check_build_settings(self) -> None:
        """Chunks embedded with and without context lines must not mix in one collection."""
        wanted = "1" if self.settings.chunk_context else "0"
        built = self.manifest.get_state("chunk_context")
        if built is None:
            built = "0" if self.manifest.count_chunks() else wanted  # older collections had none
            self.manifest.set_state("chunk_context", built)
        if built != wanted:
            raise ConfigError(
                f"collection {self.settings.collection!r} was built with chunk_context={built == '1'}; "
                "use the same setting, or ingest into another collection (--collection)")

    def ingest(self, paths: Sequence[str | Path], *, include: Sequence[str] = (), exclude: Sequence[str] = (),
               prune: bool = False, progress=None) -> IngestReport:
        """Bring the collection up to date with ``paths`` (files or folders). Re-runs are incremental."""
        if not paths:
            raise UsageError("no paths given to ingest")
        return self._pipeline().run([Path(p) for p in paths], include=include, exclude=exclude, prune=prune,
                                    progress=progress)

    def ingest_named(self, files: Sequence[tuple[str, str | Path]], *, progress=None) -> IngestReport:
        """Ingest local files under names of the caller's choosing: each ``(key, file)`` is read
        from ``file`` and known to the manifest, the chunks and the report as ``key`` (the server
        keys a vector store's files by file id, the same on every replica)."""
        return self._pipeline().run_named([(key, Path(file)) for key, file in files], progress=progress)

    def ingest_records(self, records: Sequence[Record], *, progress=None) -> IngestReport:
        """Ingest in-memory documents (:class:`ragkit.models.Record`: id, text, title), e.g. a BEIR corpus."""
        return self._pipeline().run_records(records, progress=progress)

    def remove(self, paths: Sequence[str | Path]) -> list[tuple[str, int]]:
        """Forget documents (a file, or every document under a folder). Returns (path, chunks removed)."""
        records = self.manifest.files()
        targets: list[str] = []
        known = {r.path for r in records}
        for given in paths:
            # a name given to ingest_named is matched as it is; a file or folder by where it is
            target = str(given) if str(given) in known else str(Path(given).resolve())
            matched = [r.path for r in records if r.path == target or r.path.startswith(target.rstrip("/") + "/")]
            if not matched:
                raise UsageError(f"not in collection {self.settings.collection!r}: {given}")
            targets.extend(matched)
        return self._pipeline().remove_paths(list(dict.fromkeys(targets)))

    # -- what is stored -------------------------------------------------------------------
    def fingerprint(self) -> str:
        """Identifies the collection's content and how it was built (for reproducible eval runs)."""
        digest = hashlib.sha256(f"{self.embedder.id}|{self.settings.chunk_size}|{self.settings.chunk_overlap}".encode())
        for chunk_id, _, _ in sorted(self.manifest.iter_chunks(), key=lambda row: row[0]):
            digest.update(chunk_id.encode())
        return digest.hexdigest()[:16]

    def status(self) -> Status:
        """What the collection holds: documents (ok and failed), chunks in the manifest and in the
        store, the embedder, where it lives, the last ingest and documents stored twice."""
        files = self.manifest.files()
        last = self.manifest.get_state("last_ingest")
        return Status(
            collection=self.settings.collection,
            documents=sum(1 for f in files if f.status == "ok"),
            failed_documents=sum(1 for f in files if f.status == "failed"),
            chunks=self.manifest.count_chunks(),
            store_chunks=self.store.count(),
            embedder=self.embedder.id,
            store=self.store.location,
            home=str(self.home.resolve()),
            last_ingest=float(last) if last else None,
            duplicates=self.manifest.duplicates(),
        )

    def documents(self):
        """Every file the manifest knows, with its path, status, hash and chunk count."""
        return self.manifest.files()

    def drop(self) -> None:
        """Delete the whole collection: its vectors, its manifest rows and its BM25 index."""
        with self.ingest_lock.hold():
            self.store.drop()
            self.manifest.drop_collection()
            drop_index(self.bm25_dir, self.lexical_backend)
            self._lexical = None
            for name in ("store", "retriever"):
                self._components.pop(name, None)
            self.ingest_lock.retire()

    # -- stage two ------------------------------------------------------------------------
    def search(self, query: str | SearchRequest, *, k: int | None = None, mode: str | None = None,
               filters: Filters | None = None, fusion: str | None = None, alpha: float | None = None,
               mmr: bool | None = None, rerank: bool | None = None) -> SearchResult:
        """Retrieve the best chunks for ``query`` (no generation). Keyword arguments override the
        settings for this call; a ready :class:`SearchRequest` is used as it is."""
        check_k(k)
        request = query if isinstance(query, SearchRequest) else SearchRequest.from_settings(
            self.settings, query, k=k, mode=mode, filters=filters, fusion=fusion, alpha=alpha, mmr=mmr,
            rerank=rerank)
        if not request.query or not request.query.strip():
            raise UsageError("the query is empty")
        return self.retriever.search(request)

    def generator(self, name: str | None = None) -> Generator:
        """The generator that answers (``name`` or the settings' choice); chat clients are reused."""
        resolved = generator_name(self.settings, name)
        if resolved == "extractive":
            return make_generator(self.settings, resolved)
        return self._component(f"generator:{resolved}", lambda: make_generator(self.settings, resolved))

    def chat(self, thread: str | None = None, *, store=None, owner: str | None = None, agent: bool = False):
        """A conversation (:class:`ragkit.conversations.ChatSession`): follow-up questions are
        rewritten into standalone ones and every turn is kept; ``thread`` resumes one. Pass
        ``store=`` to keep threads outside a read-only knowledge base."""
        from ragkit.conversations import ChatSession

        return ChatSession(self, thread, store=store, owner=owner, agent=agent)

    def ask(self, question: str, *, k: int | None = None, mode: str | None = None, filters: Filters | None = None,
            generator: str | None = None, on_token: TokenCallback | None = None, thread: str | None = None) -> Answer:
        """Answer ``question`` from the documents, with citations; refuse when the evidence is weak.
        With ``thread``, the question continues that conversation (start one with :meth:`chat`)."""
        if thread is not None:
            with self.chat(thread) as session:
                return session.ask(question, on_token=on_token, k=k, mode=mode, filters=filters,
                                   generator=generator).answer
        check_k(k)
        started = time.perf_counter()
        if self.manifest.count_chunks() == 0:
            raise empty_collection(self)
        k = k or self.settings.top_k
        wide = self.search(question, k=max(k, MATCHING_DEPTH), mode=mode, filters=filters)
        from ragkit.answer.passages import distinct

        # the same top k (the candidate pool does not change), each passage once
        result = replace(wide, hits=distinct(wide.hits, lambda hit: hit.text)[:k])
        timings = {f"retrieve.{name}": value for name, value in result.timings.items()}
        timings["retrieve"] = time.perf_counter() - started
        return self.answer(question, result, generator=generator, on_token=on_token, timings=timings,
                           started=started, matching=[hit.path for hit in wide.hits])

    def answer(self, question: str, result: SearchResult, *, generator: str | Generator | None = None,
               on_token: TokenCallback | None = None, timings: dict[str, float] | None = None,
               started: float | None = None, instructions: str | None = None,
               check_names: bool = True, matching: Sequence[str] = ()) -> Answer:
        """Answer ``question`` from retrieval results already in hand (e.g. a server's own
        filtered search over several stores): refusal checks, generation with fallback to the
        extractive answer, citation checks. ``generator`` is a name or a ready generator;
        ``instructions`` are an operator's extra rules for a chat model (never a document's);
        ``check_names=False`` when the hits come from beyond this collection; ``matching`` are the
        paths of the documents that match the question beyond the hits quoted from (the top
        :data:`MATCHING_DEPTH` chunks), for the year check."""
        from ragkit.answer.grounded import grounded_answer

        return grounded_answer(self, question, result, generator=generator, on_token=on_token, timings=timings,
                               started=started, instructions=instructions, check_names=check_names,
                               matching=matching)

    def ask_many(self, questions: Sequence[str], *, concurrency: int | None = None,
                 **options: Any) -> list[Answer | RagkitError]:
        """Answer many questions, ``concurrency`` at a time (default: the ``concurrency`` setting),
        in input order. A chat model's 429s are retried by the client, honouring Retry-After; a
        question that still fails gets its error in its place and the batch goes on."""
        from concurrent.futures import ThreadPoolExecutor

        def one(question: str) -> Answer | RagkitError:
            try:
                return self.ask(question, **options)
            except RagkitError as exc:
                return exc

        workers = max(1, concurrency or self.settings.concurrency)
        if workers == 1 or len(questions) < 2:
            return [one(q) for q in questions]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ragkit-ask") as pool:
            return list(pool.map(one, questions))

    def _refusal_reason(self, question: str, result: SearchResult, *, extractive: bool,
                        matching: Sequence[str] = ()) -> str | None:
        """Why the documents cannot answer, decided before any generation; None to go on
        (:func:`ragkit.answer.grounded.refusal_reason`)."""
        from ragkit.answer.grounded import refusal_reason

        return refusal_reason(self, question, result, extractive=extractive, matching=matching)

    def close(self) -> None:
        """Close the state database connection of the calling thread (a view leaves it open).
        ``with KnowledgeBase(...) as kb:`` calls it on exit."""
        manifest = self._components.get("manifest")
        if manifest is not None and not self._borrowed:
            manifest.close()

    def __enter__(self) -> "KnowledgeBase":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
