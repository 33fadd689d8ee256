"""Fusing the dense and BM25 candidate lists into one ranking.

- ``zscore_fusion`` (the default): each retriever's scores standardised over its own candidate list, then a
  weighted sum (a convex combination of normalised scores; Bruch et al., "An Analysis of Fusion Functions for
  Hybrid Retrieval", TOIS 2023, found it ahead of RRF). Scores keep how *far* apart candidates are, which ranks
  cannot: where one retriever is far better (nq-oracle: dense 0.953 vs BM25 0.869 nDCG@10), its confident
  margins outweigh the other's noise. A candidate one retriever did not return gets that retriever's lowest
  standardised score, i.e. "no better than its last".
- ``reciprocal_rank_fusion`` (Cormack et al., 2009): score(d) = Σ_r 1 / (k + rank_r(d)); rank-based, the
  classic choice, kept as ``retrieval.fusion = "rrf"``.

Both are a dozen lines; ranx's fusion would need its Run objects and numba compilation on every start.
``fusion_for`` wraps the configured one as a stage (``Fusion``: lists in, one list out), as Haystack's
DocumentJoiner is its own component.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from ground.config import RetrievalConfig
from retrieval.hits import Candidates
from retrieval.score_mix import zscores


class Fusion(Protocol):
    def fuse(self, scored_lists: Sequence[Candidates]) -> Candidates:
        """One list from several (dense first, then BM25), best first."""
        ...


class ZScoreFusion:
    def __init__(self, weights: Sequence[float]):
        self.weights = tuple(weights)

    def fuse(self, scored_lists: Sequence[Candidates]) -> Candidates:
        return zscore_fusion(scored_lists, self.weights)


class ReciprocalRankFusion:
    def __init__(self, k: int):
        self.k = k

    def fuse(self, scored_lists: Sequence[Candidates]) -> Candidates:
        return reciprocal_rank_fusion([[item for item, _ in scored] for scored in scored_lists], self.k)


def fusion_for(settings: RetrievalConfig) -> Fusion:
    """The configured fusion of the dense and BM25 lists (in that order)."""
    if settings.fusion == "rrf":
        return ReciprocalRankFusion(settings.rrf_k)
    return ZScoreFusion((settings.dense_weight, 1.0 - settings.dense_weight))


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse ranked id lists (best first) into one (id, fused score) list, best first; ties keep the order
    in which ids were first seen."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def zscore_fusion(
    scored_lists: Sequence[Sequence[tuple[int, float]]], weights: Sequence[float]
) -> list[tuple[int, float]]:
    """Fuse (id, score) lists into one (id, fused score) list, best first: Σ_r w_r · z_r(d), where z_r is
    list r's scores standardised over that list and a missing id takes list r's minimum; ties keep the order
    in which ids were first seen. An empty list contributes nothing."""
    if len(scored_lists) != len(weights):
        raise ValueError("one weight per list")
    order = list(dict.fromkeys(item for scored in scored_lists for item, _ in scored))
    fused = dict.fromkeys(order, 0.0)
    for scored, weight in zip(scored_lists, weights):
        if not scored:
            continue  # an empty list says nothing about any candidate
        z = zscores([score for _, score in scored])
        by_id = {item: float(value) for (item, _), value in zip(scored, z)}
        floor = float(z.min())
        for item in order:
            fused[item] += weight * by_id.get(item, floor)
    return sorted(fused.items(), key=lambda pair: -pair[1])
