"""Uploaded files' bytes: where they are kept, so that every replica can read every file.

A file sent to ``POST /v1/files`` (or assembled from an Upload's parts) is known by a key that
names no replica: ``files/<file_id>/<filename>``. ``api_files.path`` holds the key, the ingest
manifest keys the file's chunks by it (:meth:`KnowledgeBase.ingest_named`), and search hits are
matched to files by it -- the same on every replica. Files stored before keys existed hold an
absolute path instead; they are read where they are, as before.

**Where the bytes are.** Each replica keeps a local copy at ``<home>/<key>``: the ingest worker,
``GET /v1/files/{id}/content`` and the page's PDF rendering read files, and all want a file on
disk. When the state database is a server (PostgreSQL), the bytes are also kept in it
(:class:`ragkit.state.blobs.Blobs`), written before the file's row exists: another replica -- or
this one after its home was deleted -- fetches a missing local copy from there on first use
(:meth:`FileBytes.materialize`). Upload parts on a shared database go to the database only, so a
part sent to replica A and the ``complete`` sent to replica B meet there.

A SQLite home keeps the local copy alone. Its database is a file on the same disk, usually in the
same directory, opened only by processes of that host (SQLite over a network share is not safe):
a second copy in it would double the disk the uploads take and survive nothing the first would
not. Parts wait under ``<home>/server/uploads/<upload_id>/`` there, as they always have.

A key's bytes never change (file ids are never reused), so a local copy, once whole, is good for
ever; copies are written to a temporary name and renamed, so a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ragkit.errors import RagkitError
from ragkit.state import StateDB
from ragkit.state.blobs import PART_BYTES, Blobs

#: seconds after which a local copy or a blob that nothing refers to is surely not one being written
SWEEP_AGE = 24 * 3600.0


class TooLarge(RagkitError):
    """The bytes go past the limit they were sent under."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the content is larger than the {limit} bytes allowed")
        self.limit = limit


class ChecksumMismatch(RagkitError):
    """The assembled parts' MD5 is not the one the client gave."""

    def __init__(self, actual: str, expected: str) -> None:
        super().__init__(f"The parts' MD5 is {actual}, not the {expected} given.")
        self.actual = actual


class ContentMissing(RagkitError):
    """The file's bytes are neither on this replica nor in the state database (deleted meanwhile)."""


@dataclass(frozen=True)
class StoredFile:
    """A file's bytes, stored: its key, size and SHA-256."""

    key: str
    size: int
    sha256: str


def _blocks(source: BinaryIO, limit: int | None = None) -> Iterator[bytes]:
    """``source`` from its start, in blocks; raises :class:`TooLarge` past ``limit`` bytes."""
    if source.seekable():
        source.seek(0)
    size = 0
    while block := source.read(PART_BYTES):
        size += len(block)
        if limit is not None and size > limit:
            raise TooLarge(limit)
        yield block


class FileBytes:
    """The bytes of uploaded files and upload parts, on this replica and (when shared) in the database."""

    def __init__(self, home: Path, blobs: Blobs | None) -> None:
        """``blobs`` is the shared copy (None: a home whose local files are the only copy)."""
        self.home = Path(home)
        self.blobs = blobs

    @classmethod
    def for_state(cls, home: Path, state: StateDB) -> FileBytes:
        """Shared through the database when it is a server; local only for a SQLite file."""
        return cls(home, Blobs(state) if state.path is None else None)

    @property
    def shared(self) -> bool:
        return self.blobs is not None

    @staticmethod
    def key(file_id: str, filename: str) -> str:
        return f"files/{file_id}/{filename}"

    def local(self, key: str) -> Path:
        """Where this replica keeps the bytes of ``key`` (an absolute legacy path is itself)."""
        path = Path(key)
        return path if path.is_absolute() else self.home / path

    # -- files ---------------------------------------------------------------------------------
    def store(self, file_id: str, filename: str, source: BinaryIO, limit: int) -> StoredFile:
        """Store the bytes of a new file from ``source``; raises :class:`TooLarge` past ``limit``."""
        return self._store(self.key(file_id, filename), _blocks(source, limit))

    def assemble(self, file_id: str, filename: str, upload_id: str, part_ids: Iterable[str],
                 md5: str | None = None) -> StoredFile:
        """Store a new file made of an upload's parts, in the order given; raises
        :class:`ChecksumMismatch` when ``md5`` is given and is not the parts' MD5."""
        checksum = hashlib.md5(usedforsecurity=False)

        def joined() -> Iterator[bytes]:
            for part_id in part_ids:
                for block in self._part_blocks(upload_id, part_id):
                    checksum.update(block)
                    yield block

        def check() -> None:
            if md5 is not None and md5.lower() != checksum.hexdigest():
                raise ChecksumMismatch(checksum.hexdigest(), md5)

        return self._store(self.key(file_id, filename), joined(), check)

    def _store(self, key: str, blocks: Iterable[bytes], check=None) -> StoredFile:
        target = self.local(key)
        target.parent.mkdir(parents=True, exist_ok=False)
        try:
            size, sha = _write_atomically(target, blocks)
            if check is not None:
                check()
            if self.blobs is not None:
                self.blobs.put(key, _file_blocks(target))
        except BaseException:
            shutil.rmtree(target.parent, ignore_errors=True)
            raise
        return StoredFile(key, size, sha)

    def materialize(self, key: str) -> Path:
        """A local copy of ``key``'s bytes, fetched from the database if this replica has none.
        Raises :class:`ContentMissing` when the bytes are nowhere."""
        target = self.local(key)
        if target.is_file():
            return target
        if self.blobs is None or Path(key).is_absolute() or not self.blobs.exists(key):
            raise ContentMissing(f"the content of {key!r} is missing")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _write_atomically(target, self.blobs.parts(key))
        except FileNotFoundError:  # deleted while it was fetched
            raise ContentMissing(f"the content of {key!r} is missing") from None
        return target

    def delete(self, key: str) -> None:
        """Delete a file's bytes: this replica's copy and the shared one. Other replicas' copies
        are removed by their next :meth:`sweep` (nothing reads them meanwhile: the file's row is gone)."""
        shutil.rmtree(self.local(key).parent, ignore_errors=True)
        if self.blobs is not None and not Path(key).is_absolute():
            self.blobs.delete(key)

    # -- upload parts --------------------------------------------------------------------------
    def _parts_dir(self, upload_id: str) -> Path:
        return self.home / "server" / "uploads" / upload_id

    @staticmethod
    def _part_key(upload_id: str, part_id: str) -> str:
        return f"uploads/{upload_id}/{part_id}"

    def store_part(self, upload_id: str, part_id: str, source: BinaryIO, limit: int) -> int:
        """Keep one part of an upload; returns its size. Raises :class:`TooLarge` past ``limit``."""
        if self.blobs is not None:
            return self.blobs.put(self._part_key(upload_id, part_id), _blocks(source, limit))
        directory = self._parts_dir(upload_id)
        directory.mkdir(parents=True, exist_ok=True)
        try:
            return _write_atomically(directory / part_id, _blocks(source, limit))[0]
        except BaseException:
            (directory / part_id).unlink(missing_ok=True)
            raise

    def drop_part(self, upload_id: str, part_id: str) -> None:
        if self.blobs is not None:
            self.blobs.delete(self._part_key(upload_id, part_id))
        (self._parts_dir(upload_id) / part_id).unlink(missing_ok=True)

    def drop_parts(self, upload_id: str) -> None:
        """An upload completed, cancelled or expired: its parts go."""
        if self.blobs is not None:
            self.blobs.delete_under(f"uploads/{upload_id}/")
        shutil.rmtree(self._parts_dir(upload_id), ignore_errors=True)

    def _part_blocks(self, upload_id: str, part_id: str) -> Iterator[bytes]:
        if self.blobs is not None:
            return self.blobs.parts(self._part_key(upload_id, part_id))
        return _file_blocks(self._parts_dir(upload_id) / part_id)

    # -- housekeeping --------------------------------------------------------------------------
    def sweep(self, known_file_ids: set[str], pending_uploads: set[str] = frozenset(),
              older_than: float = SWEEP_AGE) -> None:
        """Drop what nobody can reach any more, once it is ``older_than`` seconds old (what is being
        written now is younger): this replica's parts of uploads no longer pending (a server stopped
        before an upload's hour was up, or an older version that never expired one); and on a
        shared database, local copies of files deleted through another replica and blobs an
        interrupted upload left behind. A SQLite home's file copies are the only ones: they stay."""
        cutoff = time.time() - older_than
        parts_root = self.home / "server" / "uploads"
        for directory in parts_root.iterdir() if parts_root.is_dir() else ():
            if directory.name not in pending_uploads and directory.stat().st_mtime < cutoff:
                shutil.rmtree(directory, ignore_errors=True)
        if self.blobs is None:
            return
        root = self.home / "files"
        for directory in root.iterdir() if root.is_dir() else ():
            if directory.name not in known_file_ids and directory.stat().st_mtime < cutoff:
                shutil.rmtree(directory, ignore_errors=True)
        self.blobs.sweep(older_than)


def _file_blocks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while block := handle.read(PART_BYTES):
            yield block


def _write_atomically(target: Path, blocks: Iterable[bytes]) -> tuple[int, str]:
    """Write ``blocks`` to ``target`` through a temporary file renamed at the end; (size, sha256)."""
    digest, size = hashlib.sha256(), 0
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(handle, "wb") as out:
            for block in blocks:
                size += len(block)
                digest.update(block)
                out.write(block)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()
