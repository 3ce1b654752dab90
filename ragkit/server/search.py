"""``POST /v1/vector_stores/{id}/search``: ragkit's hybrid retrieval behind OpenAI's search API.

``query`` may be a list (each is searched, results merged); ``filters`` are OpenAI attribute
filters (:mod:`ragkit.library.filters`); ``ranking_options.score_threshold`` drops weak results
and ``ranking_options.hybrid_search`` weights become the dense/BM25 fusion weight.
``rewrite_query`` searches each query as its keywords (stopwords and instruction words such as
"please give" dropped: :func:`ragkit.text.keyword_query`); ``search_query`` shows what was searched.

A plain (sync) route: FastAPI runs it in its thread pool, so the whole request is one hop off
the event loop.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from ragkit.library import filters as openai_filters
from ragkit.library.retrieval import Found, audit_hits, audit_timings, retrieve
from ragkit.server.auth import reader, store_for
from ragkit.server.errors import ApiError, bad_request
from ragkit.server.json_body import JsonRoute
from ragkit.server.keys import Principal
from ragkit.server.params import Body
from ragkit.server.shapes import json_response
from ragkit.server.state import ServerContext, context
from ragkit.text import keyword_query

router = APIRouter(route_class=JsonRoute, prefix="/v1/vector_stores", tags=["search"])


class HybridWeights(Body):
    embedding_weight: float = Field(ge=0)
    text_weight: float = Field(ge=0)


class RankingOptions(Body):
    # OpenAI's rankers; ragkit ranks the same with each (its hybrid retrieval), a misspelt one is a 400
    ranker: Literal["none", "auto", "default-2024-11-15"] | None = None
    score_threshold: float | None = Field(None, ge=0, le=1)
    hybrid_search: HybridWeights | None = None


class SearchBody(Body):
    query: str | list[str]
    max_num_results: int = Field(10, ge=1, le=50)
    filters: dict[str, Any] | None = None
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = False


def fusion_alpha(options: Any, param: str = "ranking_options.hybrid_search") -> float | None:
    """Dense weight of the convex fusion from OpenAI's hybrid_search weights (None: the setting);
    ``options`` is any ranking options with ``hybrid_search``."""
    if options is None or options.hybrid_search is None:
        return None
    weights = options.hybrid_search
    total = weights.embedding_weight + weights.text_weight
    if total <= 0:
        raise bad_request("hybrid_search weights must not both be 0", param)
    return weights.embedding_weight / total


def queries_of(query: str | list[str], param: str = "query") -> list[str]:
    queries = [query] if isinstance(query, str) else list(query)
    queries = [q for q in (q.strip() for q in queries) if q]
    if not queries:
        raise bad_request("query must be a non-empty string (or a list of them)", param)
    return queries


@router.post("/search", include_in_schema=False)
async def search_without_store(request: Request) -> None:
    """``POST /v1/vector_stores/search`` names no store: a 404 that says where search lives (before
    the body is read, and before ``POST /v1/vector_stores/{id}`` takes "search" for a store id)."""
    raise ApiError(404, f"Unknown request URL: POST {request.url.path}. Search runs on one vector store: "
                        "POST /v1/vector_stores/{vector_store_id}/search.", code="unknown_url")


@router.post("/{vector_store_id}/search", response_model=None)
def search(vector_store_id: str, body: SearchBody, request: Request, ctx: ServerContext = Depends(context),
           principal: Principal = Depends(reader)) -> Response:
    audit = request.state.audit
    audit["vector_store"] = vector_store_id
    store = store_for(ctx, principal, vector_store_id)
    queries = queries_of(body.query)
    if body.rewrite_query:
        queries = [keyword_query(q) for q in queries]
    audit["question"] = " | ".join(queries)
    node = openai_filters.parse(body.filters)
    options = body.ranking_options
    retrieved = retrieve(ctx.library, [store], queries, body.max_num_results, node,
                         score_threshold=options.score_threshold if options else None, alpha=fusion_alpha(options))
    ctx.db.touch_store(vector_store_id)
    audit["retrieved"] = audit_hits(retrieved.found)
    audit["retrieval_ms"] = audit_timings(retrieved.timings)
    return json_response({"object": "vector_store.search_results.page", "search_query": queries,
                          "data": [search_result(f) for f in retrieved.found], "has_more": False, "next_page": None})


def search_result(item: Found) -> dict[str, Any]:
    """One entry of a vector store search page: OpenAI's shape (``attributes`` untouched) plus
    ragkit's ``page``, ``chunk_id`` and ``vector_store_id`` beside them, which the SDK keeps as extras."""
    return {"file_id": item.file_id, "filename": item.filename, "score": item.score,
            "attributes": item.result_attributes(), "content": [{"type": "text", "text": item.hit.text}],
            "page": item.hit.page, "chunk_id": item.hit.chunk_id, "vector_store_id": item.vector_store_id}
