"""What the tantivy backend writes: the two indexes' fields, one file's documents, the directory.

Two tantivy indexes live in the collection's BM25 directory: ``chunks`` (one document per chunk:
its id, path, source, file type, page and words) and ``documents`` (one per file: all its
chunks' words and the stamp of the manifest row they came from), kept apart so that each has
its own BM25 statistics (document count, average length). Beside them: the ``generation`` file
(the manifest generation both match, written after both commits) and the ``schema`` file
(``SCHEMA_VERSION``, the fields they were written with: an index written with another version,
or before versions were written, is dropped and rebuilt by the next sync, never read).

Text is tokenized by ragkit (:func:`ragkit.text.tokenize`: stopwords, Snowball stems) and indexed
as space-separated stems under tantivy's whitespace tokenizer, so BM25 statistics count the same
terms the bm25s index counted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Iterator

import tantivy

from ragkit.stores.lexical.base import Rows, chunk_fields, read_generation

CHUNKS, DOCUMENTS = "chunks", "documents"
GENERATION_FILE = "tantivy-generation"
#: the fields' version; written beside the generation file (2: chunks carry and store their filter fields)
SCHEMA_VERSION = 2
SCHEMA_FILE = "tantivy-schema"


def chunk_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    #: the filter fields: indexed, for filters inside a search; stored, to check a few hits
    builder.add_text_field("path", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("source", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("file_type", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
    builder.add_integer_field("doc_key", fast=True)
    builder.add_integer_field("page", stored=True, fast=True)
    return builder.build()


def document_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("path", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
    builder.add_integer_field("doc_key", stored=True, fast=True)
    builder.add_text_field("source", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("file_type", stored=True, tokenizer_name="raw", index_option="basic")
    #: what the file's manifest row said when it was indexed; a different one means re-index it
    builder.add_text_field("stamp", stored=True, tokenizer_name="raw", index_option="basic")
    return builder.build()


def doc_key(path: str) -> int:
    """A file's number in both indexes (chunks carry it as a fast field): 64 bits of its path's hash."""
    return int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "big", signed=True)


def chunk_documents(path: str, stamp: str, rows: Rows, token_lists: list[list[str]]) -> Iterator[tuple[str, tantivy.Document]]:
    """The tantivy documents of one file: ("chunks", one per chunk) then ("documents", one)."""
    key = doc_key(path)
    source, file_type = "", ""
    for (chunk_id, _, meta), tokens in zip(rows, token_lists):
        source, _, file_type, page = chunk_fields(meta)
        yield CHUNKS, tantivy.Document(id=chunk_id, path=path, source=source, file_type=file_type,
                                       body=" ".join(tokens), doc_key=key, page=page)
    words = " ".join(token for tokens in token_lists for token in tokens)
    yield DOCUMENTS, tantivy.Document(path=path, body=words, doc_key=key, source=source, file_type=file_type,
                                      stamp=stamp)


def lock_path(directory: Path) -> Path:
    return directory.with_name(directory.name + ".lock")


def schema_current(directory: Path) -> bool:
    return read_generation(directory / SCHEMA_FILE) == SCHEMA_VERSION


def write_number(path: Path, value: int) -> None:
    """Replace a small file holding one number, durably (written beside it, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as handle:
        handle.write(str(value))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _drop_stale(directory: Path) -> None:
    """Remove indexes written with another schema version (or before versions were written): the
    generation file first, so that a crash midway leaves nothing that looks current."""
    (directory / GENERATION_FILE).unlink(missing_ok=True)
    for name in (CHUNKS, DOCUMENTS):
        shutil.rmtree(directory / name, ignore_errors=True)
    write_number(directory / SCHEMA_FILE, SCHEMA_VERSION)


def indexes(directory: Path, create: bool) -> tuple[tantivy.Index, tantivy.Index] | None:
    """The two indexes, opened (created when ``create``; a writer's call, under the lock)."""
    if not schema_current(directory):
        if not create:
            return None
        _drop_stale(directory)
    opened = []
    for name, schema in ((CHUNKS, chunk_schema()), (DOCUMENTS, document_schema())):
        path = directory / name
        if not (path / "meta.json").exists():
            if not create:
                return None
            path.mkdir(parents=True, exist_ok=True)
        opened.append(tantivy.Index(schema, path=str(path), reuse=True))
    return opened[0], opened[1]
