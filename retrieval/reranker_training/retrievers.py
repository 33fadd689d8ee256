"""First-stage retrievers shared by mining and evaluation: BM25 (bm25s) and exact dense search (MiniLM).

These mirror the reference measurements in the shared data README (bm25s with English stopwords; MiniLM
cosine, exact; RRF with k = 60), so the evaluation candidates are the published "hybrid" and can be computed on
a GPU machine that holds no deeprag index.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


class Bm25:
    def __init__(self, texts: list[str]):
        import bm25s

        self._bm25s = bm25s
        self._retriever = bm25s.BM25()
        self._retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
        self._size = len(texts)

    def search(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores), each queries × min(k, corpus size)."""
        tokens = self._bm25s.tokenize(queries, stopwords="en", show_progress=False)
        ids, scores = self._retriever.retrieve(tokens, k=min(k, self._size), show_progress=False, n_threads=-1)
        return np.asarray(ids), np.asarray(scores)


class Dense:
    """Exact cosine search over normalised MiniLM embeddings, on whatever device the model sits on."""

    def __init__(self, model, texts: list[str], batch_size: int = 256):
        import torch

        self._torch = torch
        self._model = model
        self._batch_size = batch_size
        self._matrix = model.encode(
            texts, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=True
        )

    def search(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        k = min(k, self._matrix.shape[0])
        vectors = self._model.encode(
            queries, batch_size=self._batch_size, convert_to_tensor=True, normalize_embeddings=True
        )
        ids, scores = [], []
        for start in range(0, len(queries), 1024):
            sims = vectors[start : start + 1024].float() @ self._matrix.float().T
            top = torch.topk(sims, k, dim=1)
            ids.append(top.indices.cpu().numpy())
            scores.append(top.values.cpu().numpy())
        return np.concatenate(ids), np.concatenate(scores)

    def similarity(self, queries: list[str], docs: list[str]) -> np.ndarray:
        """Cosine of each (query, doc) pair, row by row."""
        q = self._model.encode(queries, batch_size=self._batch_size, convert_to_tensor=True, normalize_embeddings=True)
        d = self._model.encode(docs, batch_size=self._batch_size, convert_to_tensor=True, normalize_embeddings=True)
        return (q.float() * d.float()).sum(dim=1).cpu().numpy()


def load_minilm(folder: str, device: str | None = None):
    """The all-MiniLM-L6-v2 bi-encoder from a local folder (fp16 on a GPU, fp32 on the CPU)."""
    import torch
    from sentence_transformers import SentenceTransformer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    return SentenceTransformer(folder, device=device, model_kwargs={"dtype": dtype})
