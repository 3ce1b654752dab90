"""The Chroma vector store: local ``PersistentClient`` or a ``chroma run`` server, one code path.

Vectors are always passed in explicitly and the collection has no embedding function, so Chroma
never tries to fetch its own model. Each collection records the id of the embedder that built it;
opening it with another embedder is an error rather than a silent mix of vector spaces.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import urlparse

import numpy as np

from ragkit.errors import ConfigError, EmbedderMismatchError, RagkitError

EMBEDDER_KEY = "ragkit_embedder"
#: candidates HNSW explores per search. Chosen by bench/bench_hnsw.py (recall@10 of ragkit's
#: 50-candidate dense query against exact search, realistic vectors, 200 real questions): Chroma's
#: default 100 gave 0.975 at 100k chunks but 0.795 at 1M; 800 gave 0.949 and 1,600 0.98 at 1M,
#: at 1-3 ms a query (docs/benchmarks-scale.md). The graph's build settings stay Chroma's.
HNSW_EF_SEARCH = 1600


@dataclass(frozen=True)
class VectorHit:
    id: str
    similarity: float  # cosine similarity, 1 - Chroma's cosine distance
    metadata: dict[str, Any] | None = None  # the chunk's metadata, when the query asked for it


#: one Chroma client per location for the whole process (see :func:`_client`)
_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _client(chroma_dir: Path, chroma_url: str | None):
    """The process's one client for this location, created once under a lock and never closed.

    Chroma shares one native "system" per persist directory between its clients, registered in a
    class-level dict without a lock: two threads creating a ``PersistentClient`` for the same path
    at once can start two systems over the same files, and a creation that fails releases (stops)
    the shared system under every other client in the process -- later calls then fail with
    "'RustBindingsAPI' object has no attribute 'bindings'" or crash the process in native code.
    A server opens one knowledge base per vector store, from many threads, so clients are made
    here, once per location, and kept for the life of the process."""
    key = chroma_url or str(chroma_dir.resolve())
    found = _CLIENTS.get(key)
    if found is not None:
        return found
    with _CLIENTS_LOCK:
        found = _CLIENTS.get(key)
        if found is None:
            found = _CLIENTS[key] = _new_client(chroma_dir, chroma_url)
        return found


def _segment_dirs(chroma_dir: Path, collection_id: str) -> list[Path]:
    """The on-disk directories of a local collection's segments (Chroma names each after its
    segment's id, in ``chroma.sqlite3``'s ``segments`` table), read-only; none if unreadable."""
    database = chroma_dir / "chroma.sqlite3"
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as connection:
            rows = connection.execute("SELECT id FROM segments WHERE collection = ?", (collection_id,)).fetchall()
    except sqlite3.Error:
        return []
    found = [chroma_dir / str(row[0]) for row in rows if str(row[0]) and "/" not in str(row[0])]
    return [path for path in found if path.is_dir() and path.parent == chroma_dir]


def _new_client(chroma_dir: Path, chroma_url: str | None):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        parsed = urlparse(chroma_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"chroma_url {chroma_url!r} must look like http://127.0.0.1:8000")
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
        try:
            return chromadb.HttpClient(
                host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=chroma_settings
            )
        except Exception as exc:  # noqa: BLE001 - chromadb raises bare ValueError/ConnectionError
            raise RagkitError(f"cannot reach the Chroma server at {chroma_url}: {exc}") from None
    chroma_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(chroma_dir), settings=chroma_settings)


class ChromaStore:
    """One ragkit collection in Chroma."""

    def __init__(self, chroma_dir: Path, collection: str, embedder_id: str, chroma_url: str | None = None):
        self.location = chroma_url or str(chroma_dir)
        self._local_dir = None if chroma_url else chroma_dir
        self._client = _client(chroma_dir, chroma_url)
        self.name = collection
        self._collection = self._client.get_or_create_collection(
            collection,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "ef_search": HNSW_EF_SEARCH}},
            metadata={EMBEDDER_KEY: embedder_id},
        )
        _raise_ef_search(self._collection)
        built_by = (self._collection.metadata or {}).get(EMBEDDER_KEY)
        if built_by != embedder_id:
            setting = str(built_by).split(":", 1)[0]  # an embedder id starts with its setting value
            raise EmbedderMismatchError(
                f"collection {collection!r} was built with embedder {built_by!r}, but {embedder_id!r} is "
                f"configured; vectors of two embedders cannot be mixed. Either keep the old embedder "
                f"(RAGKIT_EMBEDDER={setting}, or embedder = \"{setting}\" in ragkit.toml), or re-ingest "
                f"with the new one into another collection: ragkit ingest PATH... --collection NEW_NAME"
            )
        self.embedder_id = embedder_id
        self._max_batch = int(self._client.get_max_batch_size())

    def drop(self) -> None:
        """Delete the whole collection from Chroma, and its files.

        A local ``PersistentClient`` deletes the collection's rows but leaves its vector index
        (a directory named by the segment id, holding the HNSW graph) on disk: every deleted store
        would keep its space for good (chroma-core/chroma#5520). The directories of the
        collection's segments are read before the delete and removed after it."""
        segments = _segment_dirs(self._local_dir, str(self._collection.id)) if self._local_dir else []
        self._client.delete_collection(self.name)
        for directory in segments:
            shutil.rmtree(directory, ignore_errors=True)

    def count(self) -> int:
        return self._collection.count()

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, documents: Sequence[str], metadatas: Sequence[dict[str, Any]]
    ) -> None:
        for start in range(0, len(ids), self._max_batch):
            end = start + self._max_batch
            self._collection.upsert(
                ids=list(ids[start:end]),
                embeddings=vectors[start:end],
                documents=list(documents[start:end]),
                metadatas=[_clean(m) for m in metadatas[start:end]],
            )

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), self._max_batch):
            self._collection.delete(ids=ids[start : start + self._max_batch])

    def all_ids(self) -> set[str]:
        found: set[str] = set()
        offset, page = 0, 5000
        while True:
            batch = self._collection.get(include=[], limit=page, offset=offset)["ids"]
            found.update(batch)
            if len(batch) < page:
                return found
            offset += page

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None, *,
              with_metadata: bool = False) -> list[VectorHit]:
        # Chroma 1.x answers n_results beyond the collection's size (and an empty collection)
        # with what it has; counting first cost a round trip per search.
        if k <= 0:
            return []
        result = self._collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=where,
            include=["distances", "metadatas"] if with_metadata else ["distances"],
        )
        metadatas = result["metadatas"][0] if with_metadata else [None] * len(result["ids"][0])
        return [
            VectorHit(id=i, similarity=1.0 - float(d), metadata=m)
            for i, d, m in zip(result["ids"][0], result["distances"][0], metadatas)
        ]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        result = self._collection.get(ids=list(ids), include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(result["ids"], result["embeddings"])}


def _raise_ef_search(collection: Any) -> None:
    """A collection made by an earlier ragkit searches with Chroma's default ``ef_search`` (100):
    raise it. The setting is persisted; a process that opened the collection before keeps its
    value until it opens it again (Chroma reads it when it loads the index).

    The stored JSON is read, not ``collection.configuration``: parsing that warns "legacy
    embedding function config" (a collection without an embedding function, as ragkit makes
    them), and the CLI printed that DeprecationWarning on every command that opened a store."""
    try:
        current = ((collection.configuration_json or {}).get("hnsw") or {}).get("ef_search")
    except Exception:  # noqa: BLE001 - an older server without configurations: nothing to raise
        return
    if current is not None and current < HNSW_EF_SEARCH:
        collection.modify(configuration={"hnsw": {"ef_search": HNSW_EF_SEARCH}})


def _clean(metadata: dict[str, Any]) -> dict[str, Any]:
    """Chroma metadata values must be str/int/float/bool; drop None."""
    return {k: v for k, v in metadata.items() if v is not None}
