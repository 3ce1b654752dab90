"""All on-disk state, used by both stages: vectors (Chroma), the manifest (SQLite), BM25 (bm25s).

Ingestion writes these stores; retrieval, status and evaluation read them. Neither stage owns
them, which is what lets the query side run without importing the ingest pipeline.
"""

from ragkit.stores.chroma import ChromaStore, VectorHit
from ragkit.stores.lexical import LexicalIndex, build_index, current_index
from ragkit.stores.manifest import FileCommit, FileRecord, Manifest, file_sha256, text_sha256

__all__ = [
    "ChromaStore", "FileCommit", "FileRecord", "LexicalIndex", "Manifest", "VectorHit",
    "build_index", "current_index", "file_sha256", "text_sha256",
]
