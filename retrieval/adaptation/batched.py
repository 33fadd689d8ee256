"""Query vectors computed in batches before adapt searches them one by one.

adapt runs one first-stage search per synthetic query (thousands). Searched one at a time, each query is
embedded alone, and on a CPU that single-sentence forward pass costs more than the rest of the search; embedded
64 at a time it costs a fraction. The searcher takes any ``Embedder``, so this one answers the queries it
knows from the batch and hands anything else to the model.
"""

from __future__ import annotations

import sys
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ingest.embedder import Embedder

BATCH = 64


class PrecomputedQueries:
    """An ``Embedder`` whose query vectors for ``texts`` are computed up front, in batches."""

    def __init__(self, embedder: Embedder, texts: Sequence[str]):
        self._embedder = embedder
        self.name, self.dimension, self.max_tokens = embedder.name, embedder.dimension, embedder.max_tokens
        unique = list(dict.fromkeys(texts))
        self._vectors: dict[str, np.ndarray] = {}
        bar = tqdm(total=len(unique), desc="embedding queries", unit="query", disable=not sys.stderr.isatty(),
                   file=sys.stderr)
        for start in range(0, len(unique), BATCH):
            batch = unique[start:start + BATCH]
            self._vectors.update(zip(batch, embedder.embed_queries(batch)))
            bar.update(len(batch))
        bar.close()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._embedder.count_tokens(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embedder.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if all(text in self._vectors for text in texts):
            return np.stack([self._vectors[text] for text in texts]) if texts else self._embedder.embed_queries(texts)
        return self._embedder.embed_queries(texts)
