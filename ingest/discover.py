"""Find the files to ingest under the given paths: include/exclude globs, hidden files and
unsupported types skipped with a reason, symlinks followed once.

Whatever cannot be ingested is named in the report rather than passed over in silence: a
folder that cannot be listed, a symbolic link that leads nowhere (missing target or a loop),
a file name that is not valid UTF-8 (the manifest, the store and the report keep names as
UTF-8 text; such a name stopped the whole run before).
"""

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
    """Files to ingest, and files skipped with a reason. A missing path fails alone when other
    paths were given (the batch goes on); when none of them exists, it is a usage error."""
    found: dict[Path, InputFile] = {}
    skipped: list[FileResult] = []
    ignored = [p.resolve() for p in ignore]
    missing = [given for given in paths if not given.exists()]
    if missing and len(missing) == len(paths):
        raise UsageError("path not found: " + ", ".join(str(p) for p in missing))
    for given in paths:
        if not given.exists():
            skipped.append(FileResult(printable(str(given)), printable(given.name), "failed",
                                      "path not found: check the path and ingest it again"))
            continue
        root = given.resolve()
        if root.is_file():
            candidates: Iterable[tuple[Path, str, FileResult | None]] = [(root, root.name, None)]
        else:
            candidates = _walk(root, ignored)
        for path, source, problem in candidates:
            if problem is not None and problem.status == "failed":  # a folder that cannot be listed
                skipped.append(problem)
                continue
            if include and not source_matches(source, include):
                continue
            if exclude and source_matches(source, exclude):
                continue
            if not is_supported(path):
                skipped.append(FileResult(printable(str(path)), printable(source), "skipped",
                                          f"unsupported file type {printable(path.suffix) or '(none)'!r}"))
                continue
            if problem is not None:
                skipped.append(problem)
                continue
            if not _is_utf8(str(path)):
                skipped.append(FileResult(printable(str(path)), printable(source), "failed",
                                          "file name is not valid UTF-8; rename the file (e.g. convmv -f latin1 "
                                          "-t utf8) and ingest again"))
                continue
            found.setdefault(path, InputFile(path, source))
    return list(found.values()), skipped


def _walk(root: Path, ignored: list[Path]) -> Iterator[tuple[Path, str, FileResult | None]]:
    """(file, source, None) for each candidate file under ``root``; (path, source, problem) for
    each link that leads nowhere (skipped) and each folder that cannot be listed (failed)."""
    unlisted: list[OSError] = []
    for directory, dirnames, filenames in os.walk(root, onerror=unlisted.append):
        while unlisted:
            yield _unlisted(unlisted.pop(), root)
        here = Path(directory)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in ignored)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = here / name
            source = path.relative_to(root).as_posix()
            if path.is_symlink():
                try:
                    path = path.resolve(strict=True)
                except (OSError, RuntimeError):  # missing target, or links that point at each other
                    yield path, source, FileResult(
                        printable(str(path)), printable(source), "skipped",
                        f"broken symbolic link to {printable(os.readlink(path))!r} (its target is missing or "
                        f"a link loop); fix or delete the link")
                    continue
            yield path, source, None
    while unlisted:
        yield _unlisted(unlisted.pop(), root)


def _unlisted(error: OSError, root: Path) -> tuple[Path, str, FileResult]:
    folder = Path(error.filename or root)
    source = (folder.relative_to(root).as_posix() if folder.is_relative_to(root) else str(folder)) + "/"
    return folder, source, FileResult(printable(str(folder)), printable(source), "failed",
                                      f"cannot read folder: {error.strerror or error}; its files were not "
                                      f"ingested (check its permissions)")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """``text`` with bytes that are not UTF-8 (kept by Python as lone surrogates) shown as ``\\xNN``."""
    return text if _is_utf8(text) else os.fsencode(text).decode("utf-8", "backslashreplace")


def gone(path: str) -> bool:
    """The file no longer exists. A file that cannot be looked at (its folder is unreadable) is
    not gone: pruning it would lose what is stored for a file that is still there."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False
