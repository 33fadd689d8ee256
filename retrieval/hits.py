"""What a search returns: hits (a chunk with every stage's score) and the result of one query."""

from __future__ import annotations

from dataclasses import dataclass, field

from ground.config import Mode
from ingest.models import Chunk
from retrieval.language import Route

# (chunk id, score) pairs, best first: what every first stage and the fusion hand on.
Candidates = list[tuple[int, float]]


@dataclass
class SearchHit:
    chunk: Chunk
    score: float  # the score that decided the final order
    dense_score: float | None = None
    bm25_score: float | None = None
    fused_score: float | None = None
    rerank_score: float | None = None

    def as_dict(self) -> dict:
        return {
            "chunk_id": self.chunk.chunk_id,
            "score": self.score,
            "source": self.chunk.source,
            "doc_id": self.chunk.doc_id,
            "title": self.chunk.title,
            "page": self.chunk.page,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "text": self.chunk.text,
            "dense_score": self.dense_score,
            "bm25_score": self.bm25_score,
            "fused_score": self.fused_score,
            "rerank_score": self.rerank_score,
        }


@dataclass
class SearchResult:
    query: str
    mode: Mode
    reranked: bool
    hits: list[SearchHit]
    timings_ms: dict[str, float] = field(default_factory=dict)  # per stage: dense, bm25, fuse, fetch, rerank
    # What each first stage and the fusion handed on (chunk id, score), for inspection and evaluation.
    candidates: dict[str, Candidates] = field(default_factory=dict)
    # The query's language and which stages ran, with the reason for any asked-for stage that did not.
    route: Route | None = None
    # The cross-encoder that reranked (its name or folder), the embedding model of the dense stage, and the
    # corpus adaptation search used, if any: what the scores' scales depend on.
    reranker: str | None = None
    embedder: str | None = None
    adaptation: dict | None = None

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "mode": self.mode,
            "reranked": self.reranked,
            "reranker": self.reranker,
            "embedder": self.embedder,
            "adaptation": self.adaptation,
            "route": self.route.as_dict() if self.route is not None else None,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "hits": [hit.as_dict() for hit in self.hits],
        }
