"""Reciprocal rank fusion (Cormack et al., 2009): score(d) = Σ_r 1 / (k + rank_r(d)).

Rank-based, so BM25 scores and cosines need no common scale. Ten lines; ranx's fusion would need its Run
objects and numba compilation on every start for this one sum.
"""

from __future__ import annotations

from typing import Sequence


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse ranked id lists (best first) into one (id, fused score) list, best first; ties keep the order
    in which ids were first seen."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
