"""Shared package handling for the Office Open XML loaders (DOCX, PPTX, XLSX).

All three formats are zip archives of XML parts, and they fail in the same ways: a
password-protected file is not a zip at all but an OLE compound file holding an
``EncryptedPackage`` stream; a legacy ``.doc``/``.xls``/``.ppt`` renamed to the new extension is
an OLE file without that stream; a truncated download is a broken zip. Checking this once here
gives every format the same clear reason instead of a library's ``BadZipFile`` message.

Strict OOXML (ISO 29500 Strict, "Strict Open XML Document" in Word's Save As) uses
``http://purl.oclc.org/ooxml/...`` namespaces and relationship types. python-docx only knows the
transitional ones, so :func:`read_xml` maps the strict namespaces onto the transitional ones
before parsing; code that walks the tree then handles both variants with one set of names.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from typing import NamedTuple

from lxml import etree

from ingest.loaders.base import LoadError

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
#: one XML part larger than this is refused: a real document part is rarely over a few dozen MB,
#: and a zip bomb expands to gigabytes from a few kilobytes
MAX_PART_BYTES = 256 * 1024 * 1024
#: A part that expands more than this many times its compressed size, to more than
#: :data:`BOMB_MIN_BYTES`, is refused before anything is unpacked. Real Office XML compresses 5-35x
#: (the largest ratio in the shared DOCX samples and the sample corpus is 32x); a zip bomb is
#: ~1,000x. Without this, a 650 KB DOCX that expands to 200 MB (under the part limit) took 3.7 GB
#: of memory and 45 s, and produced 70,000 identical chunks.
MAX_EXPANSION = 100
BOMB_MIN_BYTES = 16 * 1024 * 1024

_STRICT_TO_TRANSITIONAL = {
    b"http://purl.oclc.org/ooxml/wordprocessingml/main": b"http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    b"http://purl.oclc.org/ooxml/officeDocument/relationships": b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    b"http://purl.oclc.org/ooxml/drawingml/main": b"http://schemas.openxmlformats.org/drawingml/2006/main",
    b"http://purl.oclc.org/ooxml/drawingml/wordprocessingDrawing": b"http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
    b"http://purl.oclc.org/ooxml/drawingml/picture": b"http://schemas.openxmlformats.org/drawingml/2006/picture",
    b"http://purl.oclc.org/ooxml/officeDocument/math": b"http://schemas.openxmlformats.org/officeDocument/2006/math",
}
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def check_office_file(path: Path, kind: str) -> None:
    """Raise a clear :class:`LoadError` when ``path`` is not a readable OOXML zip.

    ``kind`` names the expected format for messages ("DOCX", "XLSX", ...).
    """
    with path.open("rb") as handle:
        head = handle.read(8)
    if head == OLE_MAGIC:
        if _has_encrypted_package(path):
            raise LoadError("encrypted", "encrypted: password-protected Office file")
        raise LoadError("unsupported", f"unsupported: legacy binary Office file (OLE), not {kind}")
    if not zipfile.is_zipfile(path):
        raise LoadError("corrupt", f"corrupt {kind}: not a zip archive")


def _has_encrypted_package(path: Path) -> bool:
    """True when the OLE file names an ``EncryptedPackage`` stream.

    Directory entries store stream names in UTF-16LE and may sit anywhere in the file, so the
    file is scanned in blocks (overlapping by one name length); the encrypted payload is random
    bytes, so a false match is not a practical concern.
    """
    overlap = len(_ENCRYPTED_STREAM)
    tail = b""
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            if _ENCRYPTED_STREAM in tail + block:
                return True
            tail = block[-overlap:]
    return False


def open_package(path: Path, kind: str) -> zipfile.ZipFile:
    """The checked zip archive, or a :class:`LoadError` saying why it cannot be opened."""
    check_office_file(path, kind)
    try:
        package = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise LoadError("corrupt", f"corrupt {kind}: broken zip archive ({exc})") from None
    try:
        _check_expansion(package, kind)
    except LoadError:
        package.close()
        raise
    return package


def _check_expansion(package: zipfile.ZipFile, kind: str) -> None:
    """Refuse a zip bomb from the sizes its directory declares (reading a part never yields more
    than its declared size: :mod:`zipfile` stops there and checks the CRC). Every part is checked,
    not only those this loader reads: python-pptx loads every part of a package."""
    for info in package.infolist():
        size = info.file_size
        if size > BOMB_MIN_BYTES and size > MAX_EXPANSION * max(info.compress_size, 1):
            raise LoadError("too-large", f"too large: {kind} part {info.filename} would expand "
                            f"{size // max(info.compress_size, 1)}x to {size >> 20} MB (a zip bomb?); not read. "
                            f"If the file is genuine, save it again from its application or export it as PDF")
        if size > MAX_PART_BYTES and info.filename.endswith((".xml", ".rels")):
            raise LoadError("too-large", f"too large: {kind} part {info.filename} expands to {size >> 20} MB "
                            f"(limit {MAX_PART_BYTES >> 20} MB); split the document")


def read_xml(package: zipfile.ZipFile, name: str) -> etree._Element | None:
    """Parse one part with strict namespaces mapped to transitional ones; None when absent."""
    try:
        info = package.getinfo(name)
    except KeyError:
        return None
    if info.file_size > MAX_PART_BYTES:
        raise LoadError("too-large", f"part {name} expands to {info.file_size} bytes (limit {MAX_PART_BYTES})")
    try:
        data = package.read(info)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise LoadError("corrupt", f"corrupt: cannot unpack {name} ({exc})") from None
    for strict, transitional in _STRICT_TO_TRANSITIONAL.items():
        data = data.replace(strict, transitional)
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise LoadError("corrupt", f"corrupt: malformed XML in {name} ({exc})") from None


class Relationship(NamedTuple):
    id: str
    #: the type's last path segment ("officeDocument", "footnotes", ...): the one thing
    #: transitional and strict relationship types have in common
    type: str
    #: the target part's name inside the package
    target: str
    strict: bool


def relationships(package: zipfile.ZipFile, part: str) -> list[Relationship]:
    """The internal relationships of ``part`` ("" for the package itself)."""
    folder, name = posixpath.split(part)
    root = read_xml(package, posixpath.join(folder, "_rels", f"{name}.rels"))
    if root is None:
        return []
    found = []
    for rel in root.iter(f"{{{PACKAGE_RELS}}}Relationship"):
        if rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target", "")
        resolved = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        rel_type = rel.get("Type", "")
        found.append(Relationship(rel.get("Id", ""), rel_type.rsplit("/", 1)[-1], resolved,
                                  rel_type.startswith("http://purl.oclc.org/")))
    return found


def main_part(package: zipfile.ZipFile, kind: str, *, strict_ok: bool = True) -> str:
    """The package's main document part, found via ``_rels/.rels`` (transitional or strict).

    Loaders built on python-pptx/openpyxl pass ``strict_ok=False``: those libraries cannot read
    Strict OOXML, and "unsupported" says more than their missing-part errors.
    """
    for rel in relationships(package, ""):
        if rel.type == "officeDocument":
            if rel.strict and not strict_ok:
                raise LoadError("unsupported", f"unsupported: Strict OOXML {kind}; save it as a standard {kind}")
            return rel.target
    raise LoadError("corrupt", f"corrupt {kind}: no main document part in the package")


def core_title(package: zipfile.ZipFile) -> str | None:
    """``dc:title`` from the core properties, when set to something other than whitespace."""
    for rel in relationships(package, ""):
        if rel.type == "core-properties":
            root = read_xml(package, rel.target)
            if root is None:
                return None
            title = " ".join((root.findtext("{http://purl.org/dc/elements/1.1/}title") or "").split())
            return title or None
    return None
