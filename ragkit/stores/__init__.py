"""All on-disk state, used by both stages: vectors (Chroma), the manifest (SQLite), BM25 (tantivy).

Ingestion writes these stores; retrieval, status and evaluation read them. Neither stage owns
them, which is what lets the query side run without importing the ingest pipeline.
"""

from ragkit.stores.chroma import ChromaStore, VectorHit
from ragkit.stores.lexical import LexicalIndex, LexicalReader, build_index, current_index, sync_index
from ragkit.stores.manifest import FileCommit, FileRecord, Manifest, file_sha256, text_sha256

__all__ = [
    "ChromaStore", "FileCommit", "FileRecord", "LexicalIndex", "LexicalReader", "Manifest", "VectorHit",
    "build_index", "current_index", "file_sha256", "sync_index", "text_sha256",
]
