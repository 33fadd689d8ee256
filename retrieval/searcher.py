"""Search an index directory: dense (FAISS) and BM25 candidates, fused (z-score or RRF), reranked by a cross-encoder.

Each stage is timed so the CLI, the UI and the benchmarks report the same per-stage latencies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal

from app.config import Config, EmbeddingConfig
from ingest import vector_index
from ingest.embedder import Embedder, load_embedder
from ingest.errors import DeepragError, IndexMismatch
from ingest.index_dir import IndexSnapshot, open_docstore, open_snapshot
from ingest.models import Chunk
from retrieval.fusion import reciprocal_rank_fusion, zscore_fusion
from retrieval.reranker import load_reranker
from retrieval.score_mix import mix

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]


class EmptyQuery(DeepragError):
    pass


class EmptyIndex(DeepragError):
    pass


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
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "mode": self.mode,
            "reranked": self.reranked,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "hits": [hit.as_dict() for hit in self.hits],
        }


@contextlib.contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - start) * 1000


def embedding_config_for(config: Config, snapshot_embedder: str) -> EmbeddingConfig:
    """The index decides its embedder (an index directory describes itself); naming a different model
    explicitly is refused rather than silently searched with the wrong vectors."""
    asked = config.embedding.model
    if asked not in (snapshot_embedder, EmbeddingConfig().model):
        raise IndexMismatch(
            f"index at {config.index_dir} was built with embedding.model = '{snapshot_embedder}', "
            f"but the settings ask for '{asked}'; drop the setting or use another --index"
        )
    return dataclasses.replace(config.embedding, model=snapshot_embedder)


class Searcher:
    """Holds one consistent index snapshot and the models; safe to share between threads."""

    def __init__(self, config: Config, embedder: Embedder | None = None):
        self.config = config
        self.directory = Path(config.index_dir)
        self._lock = threading.Lock()
        self._snapshot = open_snapshot(self.directory, config.index)
        self.embedder = embedder or load_embedder(embedding_config_for(config, self._snapshot.manifest.embedder))

    @property
    def snapshot(self) -> IndexSnapshot:
        return self._snapshot

    def refresh(self) -> bool:
        """Reopen the index if an ingestion committed since; returns whether it did. Queries in flight keep
        the snapshot they started with."""
        docstore = open_docstore(self.directory)
        try:
            changed = docstore.generation() != self._snapshot.generation
        finally:
            docstore.close()
        if changed:
            fresh = open_snapshot(self.directory, self.config.index)
            with self._lock:
                self._snapshot = fresh  # the old snapshot's connection closes when its last query lets go
        return changed

    def _fuse(self, dense: list[tuple[int, float]], lexical: list[tuple[int, float]]) -> list[tuple[int, float]]:
        settings = self.config.retrieval
        if settings.fusion == "rrf":
            return reciprocal_rank_fusion([[i for i, _ in dense], [i for i, _ in lexical]], settings.rrf_k)
        return zscore_fusion([dense, lexical], [settings.dense_weight, 1.0 - settings.dense_weight])

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: Mode | None = None,
        rerank: bool | None = None,
        candidates: int | None = None,
    ) -> SearchResult:
        """``candidates`` overrides ``retrieval.candidates`` (per retriever, before fusion) for this call: the
        evaluation asks for deeper lists than a user would, to score recall@100."""
        settings = self.config.retrieval
        k = k or settings.k
        candidates = candidates or settings.candidates
        mode = mode or settings.mode
        rerank = settings.rerank if rerank is None else rerank
        if not query or not query.strip():
            raise EmptyQuery("empty query; type a question")
        snapshot = self._snapshot
        if snapshot.vectors.ntotal == 0:
            raise EmptyIndex(f"the index at {self.directory} is empty; add documents with `deeprag ingest PATH`")
        timings: dict[str, float] = {}
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        if mode in ("hybrid", "dense"):
            with _timed(timings, "embed"):
                vector = self.embedder.embed_queries([query])
            with _timed(timings, "faiss"):
                dense = vector_index.search(snapshot.vectors, vector, candidates)[0]
        if mode in ("hybrid", "bm25"):
            with _timed(timings, "bm25"):
                lexical = snapshot.lexical.search(query, candidates)
        with _timed(timings, "fuse"):
            if mode == "hybrid":
                ranked = self._fuse(dense, lexical)
            else:
                ranked = dense or lexical
        reranker = (
            load_reranker(settings.reranker_model, self.config.embedding.device, settings.reranker_precision)
            if rerank else None
        )
        pool = ranked[: max(k, settings.rerank_candidates)] if reranker else ranked[:k]
        with _timed(timings, "fetch"):
            chunks = snapshot.docstore.chunks([i for i, _ in pool])
        dense_scores, bm25_scores = dict(dense), dict(lexical)
        hits = [
            SearchHit(
                chunks[i], score,
                dense_score=dense_scores.get(i), bm25_score=bm25_scores.get(i),
                fused_score=score if mode == "hybrid" else None,
            )
            for i, score in pool if i in chunks
        ]
        if reranker is not None:
            with _timed(timings, "rerank"):
                scores = reranker.score(query, [hit.chunk.indexed_text() for hit in hits])
                final = mix(scores, [hit.score for hit in hits], settings.rerank_weight)
                for hit, score, mixed in zip(hits, scores, final):
                    hit.rerank_score, hit.score = score, mixed
                hits.sort(key=lambda hit: -hit.score)
        return SearchResult(query, mode, reranker is not None, hits[:k], timings)
