"""Combine a cross-encoder's scores with the first-stage (fused) scores of the same candidates.

A reranker trained on Wikipedia questions is not sure-footed on other domains; keeping the retrieval score as
a feature hedges it. Both score lists are standardised per query (z-scores) so that their scales, which differ
by orders of magnitude, do not decide the weight; ``weight`` is the cross-encoder's share.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def zscores(scores: Sequence[float]) -> np.ndarray:
    """Each score's distance from the mean in standard deviations. Scores with no spread (one, or all tied)
    order nothing and standardise to 0. Here that is right, since both lists mixed cover the same candidates;
    fusion, where a retriever may not have returned a candidate, first completes a short list with what it
    knows about the rest (``retrieval.fusion``)."""
    values = np.asarray(scores, dtype=np.float64)
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def mix(rerank_scores: Sequence[float], retrieval_scores: Sequence[float], weight: float) -> list[float]:
    """weight · z(rerank) + (1 − weight) · z(retrieval), per candidate; weight 1 is the pure reranker order."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"score mix weight must lie in [0, 1], got {weight}")
    if len(rerank_scores) != len(retrieval_scores):
        raise ValueError("rerank and retrieval scores must cover the same candidates")
    if weight == 1.0:
        return [float(s) for s in rerank_scores]
    mixed = weight * zscores(rerank_scores) + (1.0 - weight) * zscores(retrieval_scores)
    return [float(s) for s in mixed]
