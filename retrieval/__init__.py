"""Retrieval: opens an index directory read-only; dense + BM25 candidates, fusion, cross-encoder reranking."""
