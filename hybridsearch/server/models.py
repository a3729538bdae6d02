"""The request and response bodies of the HTTP API (pydantic models, in the OpenAPI schema).

Every request model forbids unknown fields (``extra="forbid"``): a misspelt option is a 422
naming it, never silently ignored. Limits that depend on the server's configuration (query
length, k, batch size, documents per write) are checked by :mod:`hybridsearch.server.limits`
and documented there; the types and choices are checked here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BatchSearchRequest",
    "BatchSearchResponse",
    "DeleteRequest",
    "DocumentModel",
    "ErrorResponse",
    "HealthResponse",
    "HitModel",
    "SearchRequest",
    "SearchResponse",
    "StatsResponse",
    "WriteRequest",
    "WriteResponse",
]

Mode = Literal["hybrid", "bm25", "dense"]
Fusion = Literal["rrf", "convex", "dbsf"]
Unit = Literal["documents", "passages"]
Normalization = Literal["minmax", "zscore"]
MetadataValue = str | int | float | bool | list[str] | None


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchOptionsModel(_Request):
    """The options of a search (those of the Python ``SearchOptions`` a client may set)."""

    k: int = Field(10, ge=1, description="results wanted (at most the server's max_k)")
    mode: Mode = Field("hybrid", description="both legs fused, or one leg alone")
    fusion: Fusion | None = Field(
        None,
        description="reciprocal rank fusion, convex or distribution-based score fusion "
        "(default: the index's own, its tuned fusion or RRF)",
    )
    unit: Unit = Field("documents", description="each document once, or every passage")
    filter: dict[str, Any] | None = Field(
        None,
        description='a metadata filter, e.g. {"year": {"gte": 2020}, "lang": "en"}',
        examples=[{"year": {"gte": 2020}}],
    )
    weights: dict[str, float] | None = Field(
        None, description='weight per leg, e.g. {"bm25": 1.0, "dense": 2.0}'
    )
    rrf_k: float | None = Field(None, ge=0, description="RRF's rank constant (default 60)")
    normalization: Normalization | None = Field(
        None, description="convex fusion's score normalisation (default minmax)"
    )
    bm25_feedback: Literal["none", "rm3"] | None = Field(
        None, description="pseudo-relevance feedback on the BM25 leg (RM3)"
    )
    explain: bool = Field(False, description="add the plan and the timings to each result")
    snippets: bool = Field(
        True,
        description='give each hit its best-matching window (false: snippet is "", '
        "which saves matching every word of the hits to the query)",
    )


class SearchRequest(SearchOptionsModel):
    """One query and its options."""

    query: str = Field(..., min_length=1, description="the query text")


class BatchSearchRequest(SearchOptionsModel):
    """Several queries searched with the same options (their encodes share one batch)."""

    queries: list[str] = Field(..., min_length=1, description="the query texts")


class HitModel(BaseModel):
    """One ranked result: the fields of the Python ``Hit``."""

    rank: int = Field(..., description="1-based position in the results")
    doc_id: str
    passage_id: int = Field(..., description="the passage shown (its position among the live)")
    score: float = Field(..., description="the fused score (a leg's raw score when alone)")
    text: str = Field(..., description="the passage's body")
    snippet: str = Field(
        "", description="the passage's best-matching window for the query (text stays whole)"
    )
    title: str = ""
    start: int = Field(0, description="where the passage starts in the document (characters)")
    end: int = Field(0, description="where it ends (exclusive)")
    bm25_rank: int | None = None
    bm25_score: float | None = None
    dense_rank: int | None = None
    dense_score: float | None = None
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)


class SearchResponse(BaseModel):
    """The hits of one query, best first."""

    query: str
    hits: list[HitModel]
    generation: int | None = Field(
        None, description="the commit the index was at when the search ran (None in memory)"
    )
    plan: dict[str, Any] | None = Field(None, description="with explain: the plan that ran")
    timings_ms: dict[str, float] | None = Field(None, description="with explain: ms per stage")


class BatchSearchResponse(BaseModel):
    """One result per query, in the order of the request."""

    results: list[SearchResponse]


class DocumentModel(BaseModel):
    """A document as stored: id, text, optional title and metadata."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., min_length=1)
    text: str
    title: str = ""
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)


class WriteRequest(_Request):
    """Documents to add (``POST /documents``) or to add or replace (``PUT /documents``)."""

    documents: list[DocumentModel] = Field(..., min_length=1)


class DeleteRequest(_Request):
    """Ids of documents to delete: all of them, or none if one is unknown."""

    ids: list[str] = Field(..., min_length=1)


class WriteResponse(BaseModel):
    """What a write did. It is committed (durable) before this response is sent."""

    changed: int = Field(..., description="documents added, replaced or deleted")
    documents: int = Field(..., description="live documents after the write")
    generation: int | None = Field(
        ..., description="the commit that made the write durable (None for an in-memory index)"
    )


class HealthResponse(BaseModel):
    """Liveness or readiness."""

    status: Literal["ok", "loading", "failed"]
    ready: bool


class StatsResponse(BaseModel):
    """What the index holds and how it was made (no file paths)."""

    documents: int
    passages: int
    segments: int
    generation: int | None
    writable: bool
    model: dict[str, Any]
    settings: dict[str, Any]
    build: dict[str, Any]
    query_batching: dict[str, int] | None
    search_batching: dict[str, Any] | None = Field(
        None, description="how full the shared search batches were (None: batching off)"
    )
    limits: dict[str, int]


class ErrorResponse(BaseModel):
    """An error: what was wrong, with no traceback or file path; ``limit`` names a limit."""

    detail: str
    errors: list[dict[str, Any]] | None = None
