"""What the two bundled ONNX embedders share: lazy loading, length-sorted batches, truncation
counts and the feeds of a BERT-style encoder. A model module says only how to open its session
and tokenizer (:meth:`OnnxTextEncoder._open`) and how to pool token vectors into one
(:meth:`OnnxTextEncoder._pool`): mean pooling for MiniLM, the [CLS] vector for bge.

Texts are sorted by length and each batch is padded only to its longest text, which removes
most padding work on CPU.
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np


class OnnxTextEncoder:
    """Base of the local ONNX embedders. Lazy: the model loads on first use; thread-safe."""

    id = ""
    max_tokens = 0
    DIMENSION = 384

    def __init__(self, batch_size: int = 8, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: set[str] = set()
        self._lock = threading.Lock()
        #: texts whose word pieces exceeded the model's window since creation
        self.truncated = 0

    @property
    def dimension(self) -> int:
        return self.DIMENSION

    def _open(self) -> tuple[Any, Any]:
        """(onnxruntime session, tokenizers.Tokenizer with truncation on and padding off)."""
        raise NotImplementedError

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """One L2-normalised vector per text from the token vectors and the attention mask."""
        raise NotImplementedError

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            session, tokenizer = self._open()
            self._input_names = {i.name for i in session.get_inputs()}
            self._tokenizer = tokenizer
            self._session = session

    def count_wordpieces(self, text: str) -> int:
        """Word pieces the model would see before truncation (for chunk-size checks)."""
        if self._tokenizer is None:
            self._load()
        encoding = self._tokenizer.encode(text)
        return len(encoding.ids) + sum(len(o.ids) - 2 for o in encoding.overflowing)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.DIMENSION), dtype=np.float32)
        if self._session is None:
            self._load()
        encodings = self._tokenizer.encode_batch(list(texts))
        overflowing = sum(1 for e in encodings if e.overflowing)
        if overflowing:
            with self._lock:
                self.truncated += overflowing
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), self.DIMENSION), dtype=np.float32)
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
        hidden = self._session.run(None, feeds)[0]
        return self._pool(hidden, mask)
