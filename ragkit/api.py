"""The Python API: ``KnowledgeBase`` is everything the CLI can do, without the CLI.

A knowledge base is a directory (default ``./.ragkit``) holding the Chroma data (``chroma/``),
the ingest manifest (``manifest.sqlite``) and one BM25 index per collection (``bm25/<name>/``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

from ragkit.config import Settings, load_settings
from ragkit.embedders import Embedder, make_embedder
from ragkit.errors import UsageError
from ragkit.models import IngestReport
from ragkit.store import ChromaStore


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

    def documents(self):
        return self.manifest.files()

    def close(self) -> None:
        if "manifest" in self.__dict__:
            self.manifest.close()

    def __enter__(self) -> "KnowledgeBase":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _now() -> float:
    return time.time()
