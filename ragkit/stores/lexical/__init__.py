"""BM25 over the same chunks as the vector store, behind one reader interface, three backends.

Local Chroma has no lexical search, so ragkit keeps its own index: English Snowball stemming
(PyStemmer) and stopwords, which measurably help BM25 on English text. The index is derived
state, kept in step with the manifest's generation (:mod:`ragkit.stores.manifest`):

* ``tantivy`` (default, :mod:`.tantivy_index`, :mod:`.tantivy_sync`, :mod:`.tantivy_layout`):
  segments on disk, updated file by file, so an ingest costs what it changes, and queried with
  the filter pushed down, so a query costs what it finds;
* ``bm25s`` (:mod:`.bm25s_index`): rebuilt whole on every change; the comparison peer;
* ``postgres`` (:mod:`.postgres_index`, :mod:`.postgres_sync`): postings in a PostgreSQL database
  shared by every replica of a deployment, scored by PostgreSQL, updated file by file.

Readers see :class:`~ragkit.stores.lexical.base.LexicalReader` snapshots. The first two live in a
directory whose writers hold its lock (``<dir>.lock``; the bm25s peer in ``<dir>/bm25s``); the
postgres backend is named by a :class:`PostgresTarget` (database URL and collection) instead of a
name, and its writers hold an advisory lock of the collection. :func:`backend_for` makes the one
the settings name; the functions below take either.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Literal, Union

from ragkit.stores.lexical import bm25s_index, tantivy_index, tantivy_sync
from ragkit.stores.lexical.base import ChunkFilter, LexicalReader
from ragkit.stores.lexical.bm25s_index import Bm25sIndex
from ragkit.stores.lexical.postgres_schema import PostgresTarget
from ragkit.stores.lexical.tantivy_index import TantivyIndex
from ragkit.stores.lexical.tantivy_layout import lock_path
from ragkit.stores.lock import CollectionLock, FileLock, file_lock, remove_held_lock

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.stores.manifest import Manifest

#: the backends kept in a directory beside the store, by name
FileBackend = Literal["tantivy", "bm25s"]
BACKENDS: tuple[FileBackend, ...] = ("tantivy", "bm25s")
#: what the functions below take: a directory backend's name, or where a postgres index lives
Backend = Union[FileBackend, PostgresTarget]
DEFAULT_BACKEND: FileBackend = "tantivy"
#: the default backend's snapshot class (what ``ragkit.stores`` has always exported by this name)
LexicalIndex = TantivyIndex


def backend_for(name: str, url: str | None = None, collection: str | None = None) -> Backend:
    """The backend the settings name: ``tantivy`` or ``bm25s`` as they are, ``postgres`` as the
    collection's place in the database at ``url`` (the ``lexical_url`` setting, resolved)."""
    if name == "postgres":
        if not url or not collection:
            raise ValueError("the postgres lexical backend needs a database URL and a collection")
        return PostgresTarget(url, collection)
    if name not in BACKENDS:
        raise ValueError(f"unknown lexical backend {name!r}; expected one of tantivy, bm25s, postgres")
    return name  # type: ignore[return-value]


def _bm25s_dir(directory: Path) -> Path:
    return directory / "bm25s"


def saved_generation(directory: Path, backend: Backend = DEFAULT_BACKEND) -> int | None:
    """The manifest generation the saved index matches, without opening it."""
    if isinstance(backend, PostgresTarget):
        from ragkit.stores.lexical import postgres_sync

        return postgres_sync.saved_generation(backend)
    if backend == "bm25s":
        return Bm25sIndex.saved_generation(_bm25s_dir(directory))
    return TantivyIndex.saved_generation(directory)


def sync_index(manifest: "Manifest", directory: Path, changed: Collection[str] | None = None,
               backend: Backend = DEFAULT_BACKEND) -> LexicalReader:
    """Bring the saved index to the manifest's generation; return a snapshot of it.

    ``changed``: the paths written since the saved index last matched the manifest, if known
    (tantivy and postgres then re-index only those; bm25s always rebuilds)."""
    if isinstance(backend, PostgresTarget):
        from ragkit.stores.lexical import postgres_sync

        return postgres_sync.sync(manifest, backend, changed)
    if backend == "bm25s":
        with file_lock(lock_path(directory)):
            index = Bm25sIndex.build(manifest.iter_chunks(), manifest.generation())
            index.save(_bm25s_dir(directory))
            return index
    return tantivy_sync.sync(manifest, directory, changed)


def build_index(manifest: "Manifest", directory: Path, backend: Backend = DEFAULT_BACKEND) -> LexicalReader:
    """The index for the manifest's live chunks, saved: everything compared, nothing assumed."""
    return sync_index(manifest, directory, None, backend)


def load_index(directory: Path, backend: Backend = DEFAULT_BACKEND, generation: int | None = None) -> LexicalReader | None:
    """The saved index (of ``generation``, when given), or None; never builds."""
    if isinstance(backend, PostgresTarget):
        from ragkit.stores.lexical import postgres_index

        return postgres_index.open_reader(backend, generation)
    try:
        if backend == "bm25s":
            index = Bm25sIndex.load(_bm25s_dir(directory))
            return index if index is not None and generation in (None, index.generation) else None
        return tantivy_index.open_saved(directory, generation)
    except (OSError, ValueError):
        return None  # swapped out under us by another writer


def current_index(manifest: "Manifest", directory: Path, loaded: LexicalReader | None = None,
                  writer_lock: CollectionLock | Path | None = None, backend: Backend = DEFAULT_BACKEND) -> LexicalReader:
    """The index for the manifest's current generation: ``loaded`` if it is current, else the
    saved one if that is current, else a synced one. Several processes may share a knowledge base
    (``ragkit serve --workers``), so "current" is always checked against the manifest itself.

    While an ingest holds ``writer_lock`` the generation moves with every stored window and the
    ingest updates the index when it finishes, so readers keep the index they have (or the saved
    one) instead of updating after every window: for those minutes BM25 lags the vectors, and
    chunks deleted meanwhile are dropped at lookup, never cited."""
    generation = manifest.generation()
    if loaded is not None and loaded.generation == generation:
        return loaded
    if isinstance(writer_lock, Path):
        writer_lock = FileLock(writer_lock)
    if writer_lock is not None and writer_lock.is_held():
        if loaded is not None:
            return loaded
        saved = load_index(directory, backend)
        if saved is not None:
            return saved
    if saved_generation(directory, backend) == generation:
        index = load_index(directory, backend, generation)
        if index is not None:
            return index
    return sync_index(manifest, directory, None, backend)


def drop_index(directory: Path, backend: Backend = DEFAULT_BACKEND) -> None:
    """Delete the collection's index (its directory, or its rows in the database)."""
    if isinstance(backend, PostgresTarget):
        from ragkit.stores.lexical import postgres_sync

        postgres_sync.drop(backend)
        return
    with file_lock(lock_path(directory)):
        shutil.rmtree(directory, ignore_errors=True)
        remove_held_lock(lock_path(directory))


__all__ = [
    "BACKENDS", "Backend", "Bm25sIndex", "ChunkFilter", "DEFAULT_BACKEND", "FileBackend", "LexicalIndex",
    "LexicalReader", "PostgresTarget", "TantivyIndex", "backend_for", "bm25s_index", "build_index", "current_index",
    "drop_index", "load_index", "saved_generation", "sync_index",
]
