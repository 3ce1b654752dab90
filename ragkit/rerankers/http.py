"""A reranker served over HTTP: the ``/rerank`` endpoint of an inference server.

Text Embeddings Inference, Infinity, vLLM, llama.cpp and Jina/Cohere-style services accept
``{"model", "query", "documents", "top_n"}`` and answer ``{"results": [{"index",
"relevance_score"}]}`` (TEI answers a bare list of ``{"index", "score"}``); both are read. A
failing server never fails a search: the fused order is kept and a warning is logged.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Sequence

from ragkit.rerankers.base import Candidate, blend

log = logging.getLogger("ragkit.rerank")


class HttpReranker:
    name = "http"

    def __init__(self, url: str, model: str | None = None, weight: float = 1.0, timeout: float = 10.0,
                 depth: int = 50) -> None:
        self.url = url
        self.model = model
        self.weight = weight
        self.timeout = timeout
        self.depth = depth

    def rerank(self, query: str, candidates: Sequence[Candidate]) -> dict[str, float]:
        head = list(candidates[: self.depth])
        keep = {c.chunk_id: c.score for c in candidates}
        if not head:
            return keep
        payload = {"query": query, "documents": [c.text for c in head], "top_n": len(head)}
        if self.model:
            payload["model"] = self.model
        request = urllib.request.Request(self.url, data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("reranker at %s failed (%s); keeping the fused order", self.url, exc)
            return keep
        rows = body.get("results", body.get("data", [])) if isinstance(body, dict) else body
        scores = [0.0] * len(head)
        try:
            for row in rows:
                scores[int(row["index"])] = float(row.get("relevance_score", row.get("score", 0.0)))
        except (KeyError, TypeError, ValueError, IndexError):
            log.warning("reranker at %s answered in an unknown shape; keeping the fused order", self.url)
            return keep
        return keep | blend(head, scores, self.weight)
