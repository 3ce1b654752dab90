"""Find the files to ingest under the given paths: include/exclude globs, hidden files and
unsupported types skipped with a reason, symlinks followed once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ingest.loaders import is_supported
from ragkit.errors import UsageError
from ragkit.models import FileResult, source_matches


@dataclass(frozen=True)
class InputFile:
    path: Path  # absolute: the file that is read
    source: str  # relative to the root it was found under
    #: the manifest's name for the file when it is not ``path``: a vector store file's
    #: home-independent key (``files/<file_id>/<name>``), so replicas with different local
    #: directories agree on which chunks belong to which file
    key: str | None = None

    @property
    def manifest_path(self) -> str:
        return self.key or str(self.path)


def discover(
    paths: Sequence[Path], include: Sequence[str] = (), exclude: Sequence[str] = (), ignore: Sequence[Path] = ()
) -> tuple[list[InputFile], list[FileResult]]:
    """Files to ingest, and files skipped with a reason. A missing path is a usage error."""
    found: dict[Path, InputFile] = {}
    skipped: list[FileResult] = []
    ignored = [p.resolve() for p in ignore]
    for given in paths:
        if not given.exists():
            raise UsageError(f"path not found: {given}")
        root = given.resolve()
        if root.is_file():
            candidates: Iterable[tuple[Path, str]] = [(root, root.name)]
        else:
            candidates = _walk(root, ignored)
        for path, source in candidates:
            if include and not source_matches(source, include):
                continue
            if exclude and source_matches(source, exclude):
                continue
            if not is_supported(path):
                skipped.append(FileResult(str(path), source, "skipped",
                                          f"unsupported file type {path.suffix or '(none)'!r}"))
                continue
            found.setdefault(path, InputFile(path, source))
    return list(found.values()), skipped


def _walk(root: Path, ignored: list[Path]) -> Iterator[tuple[Path, str]]:
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in ignored)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = here / name
            if path.is_symlink() and not path.exists():
                continue
            yield path.resolve() if path.is_symlink() else path, path.relative_to(root).as_posix()


