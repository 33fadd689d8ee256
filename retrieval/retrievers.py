"""The first stages: dense (FAISS over the embedder's vectors) and BM25, each turning a query into candidates.

Both have one narrow interface, ``retrieve(query, depth) -> Candidates``, so the searcher composes them and
a caller (a test, an evaluation, an adapter) can swap or add one without touching the others.
"""

from __future__ import annotations

from typing import Protocol

import faiss

from ingest import vector_index
from ingest.embedder import Embedder
from ingest.lexical_index import LexicalIndex
from retrieval.hits import Candidates


class CandidateRetriever(Protocol):
    name: str  # the stage's name in timings and hits: "dense" or "bm25"

    def retrieve(self, query: str, depth: int) -> Candidates: ...


class DenseRetriever:
    """Embeds the query and searches the snapshot's FAISS index (inner product of normalised vectors)."""

    name = "dense"

    def __init__(self, vectors: faiss.Index, embedder: Embedder):
        self._vectors = vectors
        self._embedder = embedder

    def retrieve(self, query: str, depth: int) -> Candidates:
        return vector_index.search(self._vectors, self._embedder.embed_queries([query]), depth)[0]


class Bm25Retriever:
    """BM25 over the snapshot's lexical index (English stemming, CJK bigrams)."""

    name = "bm25"

    def __init__(self, lexical: LexicalIndex):
        self._lexical = lexical

    def retrieve(self, query: str, depth: int) -> Candidates:
        return self._lexical.search(query, depth)
