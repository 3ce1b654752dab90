"""The tantivy backend's writer: bring the index to the manifest's generation by files changed.

The manifest is the source of truth; the index is derived from it and follows it file by file:
each file's chunks are deleted by path and added again, in new small segments that tantivy merges
in the background (a log merge policy: the work per update stays near the size of the change).

Crash safety rests on three facts. A tantivy commit is atomic (a new ``meta.json`` replaces the
old one). The ``documents`` index stores, per file, the stamp of the manifest row it was indexed
from (sha256, chunk count, ingest time), and is committed after the ``chunks`` index. The
generation file is replaced only after both commits. So an index whose generation file differs
from the manifest is repaired by comparing stamps, file by file (:func:`sync`, ``changed=None``);
a run that knows which files it changed since a matching generation passes them and skips the
comparison. Writers and snapshot openers hold the directory's lock, so a reader never opens one
index before and the other after a writer's commits.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Collection

import tantivy

from ragkit.stores.lexical.base import rows_of, stamp, tokenized
from ragkit.stores.lexical.tantivy_index import TantivyIndex, open_snapshot
from ragkit.stores.lexical.tantivy_layout import (CHUNKS, DOCUMENTS, GENERATION_FILE, chunk_documents, indexes,
                                                  lock_path, write_number)
from ragkit.stores.lock import file_lock

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.stores.manifest import Manifest

#: the writer's memory budget (tantivy flushes a segment when it is full)
WRITER_HEAP = 128_000_000


def sync(manifest: "Manifest", directory: Path, changed: Collection[str] | None = None) -> TantivyIndex:
    """Bring the saved index to the manifest's generation and return a snapshot of it.

    ``changed``: the paths written since the saved index last matched the manifest, when the
    caller knows them (an ingest run); otherwise every file's stamp is compared."""
    with file_lock(lock_path(directory)):
        generation = manifest.generation()  # read before the rows: a later change shows as stale
        saved = TantivyIndex.saved_generation(directory)
        if saved != generation:
            chunks, documents = indexes(directory, create=True)
            if changed is None or saved is None:
                plan = _differences(manifest, documents)
            else:
                plan = {path: stamp(manifest.file(path)) for path in changed}
            if plan:
                _write(manifest, chunks, documents, plan)
            _write_generation(directory, generation)
        snapshot = open_snapshot(directory, generation)
        assert snapshot is not None
        return snapshot


def _differences(manifest: "Manifest", documents: tantivy.Index) -> dict[str, str | None]:
    """Files whose stamp differs between the manifest and the index: path -> new stamp (None: drop)."""
    wanted = {record.path: stamp(record) for record in manifest.files()}
    wanted = {path: value for path, value in wanted.items() if value is not None}
    documents.reload()
    searcher = documents.searcher()
    have: dict[str, str] = {}
    if searcher.num_docs:
        for _, address in searcher.search(tantivy.Query.all_query(), limit=searcher.num_docs, count=False).hits:
            stored = searcher.doc(address)
            have[stored.get_first("path")] = stored.get_first("stamp")
    plan: dict[str, str | None] = {path: value for path, value in wanted.items() if have.get(path) != value}
    plan.update({path: None for path in have if path not in wanted})
    return plan


def _write(manifest: "Manifest", chunks: tantivy.Index, documents: tantivy.Index,
           plan: dict[str, str | None]) -> None:
    writers = {CHUNKS: chunks.writer(WRITER_HEAP, 1), DOCUMENTS: documents.writer(WRITER_HEAP // 4, 1)}
    for path in plan:
        for writer in writers.values():
            writer.delete_documents_by_term("path", path)
    for path, rows, tokens in tokenized(rows_of(manifest, [path for path, value in plan.items() if value is not None])):
        for kind, document in chunk_documents(path, plan[path] or "", rows, tokens):
            writers[kind].add_document(document)
    for kind in (CHUNKS, DOCUMENTS):  # chunks first: a file's stamp is committed after its chunks
        writers[kind].commit()
    for writer in writers.values():
        writer.wait_merging_threads()


def _write_generation(directory: Path, generation: int) -> None:
    write_number(directory / GENERATION_FILE, generation)
