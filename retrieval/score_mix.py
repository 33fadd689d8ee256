"""Combine a cross-encoder's scores with the first-stage (fused) scores of the same candidates.

A reranker trained on Wikipedia questions is not sure-footed on other domains; keeping the retrieval score as
a feature hedges it. Both score lists are standardised per query (z-scores) so that their scales, which differ
by orders of magnitude, do not decide the weight; ``weight`` is the cross-encoder's share.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def zscores(scores: Sequence[float | None]) -> np.ndarray:
    """Each score's distance from the mean in standard deviations. Scores with no spread (one, or all tied)
    order nothing and standardise to 0. Here that is right, since both lists mixed cover the same candidates;
    fusion, where a retriever may not have returned a candidate, first completes a short list with what it
    knows about the rest (``retrieval.fusion``). A missing score (None) is taken as average: 0, and the mean
    and spread come from the scores present."""
    present = np.asarray([s for s in scores if s is not None], dtype=np.float64)
    if present.size == 0:
        return np.zeros(len(scores))
    mean, spread = present.mean(), present.std()
    return np.asarray([0.0 if s is None or spread == 0 else (s - mean) / spread for s in scores])


def mix(rerank_scores: Sequence[float | None], retrieval_scores: Sequence[float], weight: float) -> list[float]:
    """weight · z(rerank) + (1 − weight) · z(retrieval), per candidate; weight 1 is the pure reranker order.

    A candidate the cross-encoder did not score (None: a passage in a language it does not read) counts as
    average for the reranker, so its place comes from its retrieval score alone (at weight 1: the others'
    mean score)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"score mix weight must lie in [0, 1], got {weight}")
    if len(rerank_scores) != len(retrieval_scores):
        raise ValueError("rerank and retrieval scores must cover the same candidates")
    if weight == 1.0:
        present = [s for s in rerank_scores if s is not None]
        average = float(np.mean(present)) if present else 0.0
        return [average if s is None else float(s) for s in rerank_scores]
    mixed = weight * zscores(rerank_scores) + (1.0 - weight) * zscores(retrieval_scores)
    return [float(s) for s in mixed]
