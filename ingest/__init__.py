"""Ingestion: files → text → chunks → embeddings → one index directory (FAISS + BM25 + docstore + manifest)."""
