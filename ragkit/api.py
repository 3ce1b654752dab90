"""The Python API: ``KnowledgeBase`` is everything the CLI can do, without the CLI.

A knowledge base is a directory (default ``./.ragkit``) holding the Chroma data (``chroma/``),
the ingest manifest (``manifest.sqlite``) and one BM25 index per collection (``bm25/<name>/``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

from ragkit.citations import Citation, resolve
from ragkit.config import Settings, load_settings
from ragkit.embedders import Embedder, make_embedder
from ragkit.errors import RagkitError, UsageError
from ragkit.generators.base import Generation, Generator, TokenCallback
from ragkit.generators.extractive import ExtractiveGenerator
from ragkit.lexical import LexicalIndex
from ragkit.models import IngestReport
from ragkit.retrieve import Filters, Retriever, SearchHit, SearchResult
from ragkit.store import ChromaStore

REFUSAL_TEXT = "Not found in the documents."


@dataclass(frozen=True)
class Status:
    collection: str
    documents: int
    failed_documents: int
    chunks: int
    store_chunks: int
    embedder: str
    store: str
    home: str
    last_ingest: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Answer:
    """A grounded answer. ``sources`` are the numbered chunks the generator saw ([1] is sources[0])."""

    question: str
    text: str
    citations: list[Citation]
    sources: list[SearchHit]
    refused: bool
    generator: str
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    invalid_citations: list[int] = field(default_factory=list)
    best_similarity: float | None = None

    @property
    def cited_sources(self) -> list[SearchHit]:
        cited = {c.n for c in self.citations}
        return [hit for n, hit in enumerate(self.sources, start=1) if n in cited]

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "generator": self.generator,
            "model": self.model,
            "citations": [c.to_dict() for c in self.citations],
            "sources": [h.to_dict() for h in self.sources],
            "invalid_citations": self.invalid_citations,
            "warnings": self.warnings,
            "usage": self.usage,
            "timings": {k: round(v, 6) for k, v in self.timings.items()},
            "best_similarity": self.best_similarity,
        }


class KnowledgeBase:
    """A folder of documents made searchable and answerable.

    >>> kb = KnowledgeBase("./.ragkit")            # doctest: +SKIP
    >>> kb.ingest(["docs/"]).summary()              # doctest: +SKIP
    >>> print(kb.ask("What is the warranty period?").text)  # doctest: +SKIP
    """

    def __init__(self, home: str | Path | None = None, *, settings: Settings | None = None, **overrides: Any):
        if settings is None:
            settings = load_settings(home=Path(home) if home is not None else None, **overrides)
        elif home is not None or overrides:
            settings = settings.model_copy(update={"home": Path(home) if home else settings.home, **overrides})
        self.settings = settings
        self.home = Path(settings.home)

    # -- components (built on first use) ------------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:
        return make_embedder(self.settings)

    @cached_property
    def store(self) -> ChromaStore:
        return ChromaStore(self.home / "chroma", self.settings.collection, self.embedder.id, self.settings.chroma_url)

    @cached_property
    def manifest(self):
        from ingest.manifest import Manifest

        return Manifest(self.home / "manifest.sqlite", self.settings.collection)

    @property
    def bm25_dir(self) -> Path:
        return self.home / "bm25" / self.settings.collection

    def _pipeline(self):
        from ingest.loaders import LoadOptions
        from ingest.pipeline import IngestPipeline
        from ingest.split import SplitConfig

        password = self.settings.pdf_password.get_secret_value() if self.settings.pdf_password else None
        return IngestPipeline(
            store=self.store,
            manifest=self.manifest,
            embedder=self.embedder,
            bm25_dir=self.bm25_dir,
            split=SplitConfig(self.settings.chunk_size, self.settings.chunk_overlap),
            options=LoadOptions(pdf_password=password),
            parse_workers=self.settings.parse_workers,
            ignore=[self.home],
            window=self.settings.ingest_window,
        )

    # -- stage one ------------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = False,
        progress=None,
    ) -> IngestReport:
        """Bring the collection up to date with ``paths`` (files or folders). Re-runs are incremental."""
        if not paths:
            raise UsageError("no paths given to ingest")
        report = self._pipeline().run(
            [Path(p) for p in paths], include=include, exclude=exclude, prune=prune, progress=progress
        )
        self.__dict__.pop("_retriever", None)
        return report

    def ingest_records(self, records, *, progress=None) -> IngestReport:
        """Ingest in-memory documents (``ingest.pipeline.Record``: id, text, title), e.g. a BEIR corpus."""
        report = self._pipeline().run_records(records, progress=progress)
        self.__dict__.pop("_retriever", None)
        return report

    def fingerprint(self) -> str:
        """Identifies the collection's content and how it was built (for reproducible eval runs)."""
        import hashlib

        digest = hashlib.sha256(f"{self.embedder.id}|{self.settings.chunk_size}|{self.settings.chunk_overlap}".encode())
        for chunk_id, _, _ in sorted(self.manifest.iter_chunks(), key=lambda row: row[0]):
            digest.update(chunk_id.encode())
        return digest.hexdigest()[:16]

    def remove(self, paths: Sequence[str | Path]) -> list[tuple[str, int]]:
        """Forget documents (a file, or every document under a folder). Returns (path, chunks removed)."""
        pipeline = self._pipeline()
        pipeline.repair()
        removed: list[tuple[str, int]] = []
        records = self.manifest.files()
        for given in paths:
            target = str(Path(given).resolve())
            matched = [r for r in records if r.path == target or r.path.startswith(target.rstrip("/") + "/")]
            if not matched:
                raise UsageError(f"not in collection {self.settings.collection!r}: {given}")
            for record in matched:
                removed.append((record.path, pipeline.remove_file(record.path)))
        pipeline.rebuild_lexical()
        self.__dict__.pop("_retriever", None)
        return removed

    def status(self) -> Status:
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
        )

    # -- stage two ------------------------------------------------------------------------
    def lexical_index(self) -> LexicalIndex:
        """The BM25 index, rebuilt if it is missing or older than the manifest."""
        if LexicalIndex.saved_generation(self.bm25_dir) == self.manifest.generation():
            index = LexicalIndex.load(self.bm25_dir)
            if index is not None:
                return index
        return self._pipeline().rebuild_lexical()

    @property
    def retriever(self) -> Retriever:
        if "_retriever" not in self.__dict__:
            self.__dict__["_retriever"] = Retriever(
                store=self.store, lexical=self.lexical_index(), embedder=self.embedder,
                chunk_lookup=self.manifest.chunks_by_id,
            )
        return self.__dict__["_retriever"]

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        filters: Filters | None = None,
        fusion: str | None = None,
        alpha: float | None = None,
        mmr: bool | None = None,
    ) -> SearchResult:
        """Retrieve the best chunks for ``query`` (no generation)."""
        if not query or not query.strip():
            raise UsageError("the query is empty")
        s = self.settings
        return self.retriever.search(
            query, k=k or s.top_k, mode=mode or s.mode, fusion=fusion or s.fusion,
            alpha=s.alpha if alpha is None else alpha, rrf_k=s.rrf_k, filters=filters or Filters(),
            mmr=s.mmr if mmr is None else mmr, mmr_lambda=s.mmr_lambda,
        )

    def generator(self, name: str | None = None) -> Generator:
        name = name or ("openai" if self.settings.uses_chat_model else "extractive")
        if name == "auto":
            name = "openai" if self.settings.uses_chat_model else "extractive"
        if name == "extractive":
            return ExtractiveGenerator(min_coverage=self.settings.min_coverage)
        if name == "openai":
            if "_chat" not in self.__dict__:
                from ragkit.generators.openai_chat import OpenAIChatGenerator

                self.__dict__["_chat"] = OpenAIChatGenerator.from_settings(self.settings)
            return self.__dict__["_chat"]
        raise UsageError(f"unknown generator {name!r} (use extractive or openai)")

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        filters: Filters | None = None,
        generator: str | None = None,
        on_token: TokenCallback | None = None,
    ) -> Answer:
        """Answer ``question`` from the documents, with citations; refuse when the evidence is weak."""
        from ragkit.generators.openai_chat import TransientModelError

        started = time.perf_counter()
        if self.manifest.count_chunks() == 0:
            raise RagkitError(
                f"collection {self.settings.collection!r} in {self.home} is empty: ingest documents first "
                "(ragkit ingest PATH)"
            )
        result = self.search(question, k=k, mode=mode, filters=filters)
        timings = {f"retrieve.{name}": value for name, value in result.timings.items()}
        timings["retrieve"] = time.perf_counter() - started
        hits = result.hits
        warnings: list[str] = []
        weak = not hits or (
            result.best_similarity is not None and result.best_similarity < self.settings.refusal_threshold
        )
        chosen = self.generator(generator)
        if weak:
            generation = Generation(text=REFUSAL_TEXT, generator=chosen.name, refused=True)
            if on_token:
                on_token(REFUSAL_TEXT)
        else:
            t = time.perf_counter()
            try:
                generation = chosen.generate(question, hits, on_token=on_token)
            except TransientModelError as exc:
                warnings.append(f"{exc}; showing the extractive answer instead")
                generation = self.generator("extractive").generate(question, hits, on_token=on_token)
            timings["generate"] = time.perf_counter() - t
        resolved = resolve(generation.text, hits)
        if resolved.invalid:
            warnings.append(
                "removed citation(s) to source(s) that were not provided: "
                + ", ".join(f"[{n}]" for n in resolved.invalid)
            )
        timings["total"] = time.perf_counter() - started
        refused = generation.refused
        if not refused and not resolved.citations:
            warnings.append(f"the {generation.generator} answer cites no source: check it against the sources")
        return Answer(
            question=question,
            text=resolved.text,
            citations=[] if refused else resolved.citations,
            sources=hits,
            refused=refused,
            generator=generation.generator,
            model=generation.model,
            usage=generation.usage,
            timings=timings,
            warnings=warnings + generation.warnings,
            invalid_citations=resolved.invalid,
            best_similarity=result.best_similarity,
        )

    def documents(self):
        return self.manifest.files()

    def close(self) -> None:
        if "manifest" in self.__dict__:
            self.manifest.close()

    def __enter__(self) -> "KnowledgeBase":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

