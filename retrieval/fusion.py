"""Fusing the dense and BM25 candidate lists into one ranking.

- ``zscore_fusion`` (the default): each retriever's scores standardised over its own top list, then a
  weighted sum (a convex combination of normalised scores; Bruch et al., "An Analysis of Fusion Functions for
  Hybrid Retrieval", TOIS 2023, found it ahead of RRF). Scores keep how *far* apart candidates are, which ranks
  cannot: where one retriever is far better (nq-oracle: dense 0.953 vs BM25 0.869 nDCG@10), its confident
  margins outweigh the other's noise.
- ``reciprocal_rank_fusion`` (Cormack et al., 2009): score(d) = Σ_r 1 / (k + rank_r(d)); rank-based, the
  classic choice, kept as ``retrieval.fusion = "rrf"``.

What a list says about the chunks it did not return decides the degenerate cases. In the published setting
each retriever's scores are normalised over its top-k set R^k, the k best chunks *by its score function*.
Dense lists are that set: FAISS returns the k nearest chunks (or all, in a smaller index), and a chunk it did
not return scores somewhere below the last one, by an unknown amount; it is given the list's lowest
standardised score, "no better than its last", the estimate that never ranks it above a returned chunk.
BM25 lists are not always that set: the lexical index drops chunks that share no term with the query, and
their BM25 score is not unknown but exactly 0, the function's theoretical minimum (the anchor of the paper's
"theoretical min-max" normalisation). When a term is rare, fewer than k chunks match, and standardising over
the matches alone loses exactly the information that makes the term useful: one hit has no spread and
standardises to 0, as does every candidate it did not return, so the only chunk holding an error code or a
part number gets no BM25 advantage at all; tied hits the same; two hits get ±1, the lower tied with every
chunk that does not contain the term. So a list with a known floor (``floors``: BM25's 0) that came back
shorter than the depth the first stages were asked for is completed to that depth with the floor, i.e.
standardised over the retriever's true top-k, and the chunks it did not return get the floor's standardised
score, below every chunk that matched. A single rare hit then stands sqrt(k − 1) deviations above the rest.
Lists that came back full are standardised exactly as before (their unreturned chunks may score anywhere up
to the last one), which is every query whose terms match at least k chunks, the common case on large
collections. The depth is the longest list's length: every first stage is asked for the same number of
candidates, and in an index holding fewer chunks than that the longest list is the whole index.
A list with no spread (one candidate, or all tied, with nothing known below them) orders nothing and
contributes 0 to every candidate.

Both are short; ranx's fusion would need its Run objects and numba compilation on every start.
``fusion_for`` wraps the configured one as a stage (``Fusion``: lists in, one list out), as Haystack's
DocumentJoiner is its own component.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from ground.config import RetrievalConfig
from retrieval.hits import Candidates
from retrieval.score_mix import zscores

# The BM25 score of a chunk that shares no term with the query: every chunk the lexical index leaves out.
BM25_NO_MATCH = 0.0


class Fusion(Protocol):
    def fuse(self, scored_lists: Sequence[Candidates]) -> Candidates:
        """One list from several (dense first, then BM25), best first."""
        ...


class ZScoreFusion:
    def __init__(self, weights: Sequence[float], floors: Sequence[float | None]):
        self.weights = tuple(weights)
        self.floors = tuple(floors)

    def fuse(self, scored_lists: Sequence[Candidates]) -> Candidates:
        return zscore_fusion(scored_lists, self.weights, self.floors)


class ReciprocalRankFusion:
    def __init__(self, k: int):
        self.k = k

    def fuse(self, scored_lists: Sequence[Candidates]) -> Candidates:
        return reciprocal_rank_fusion([[item for item, _ in scored] for scored in scored_lists], self.k)


def fusion_for(settings: RetrievalConfig) -> Fusion:
    """The configured fusion of the dense and BM25 lists (in that order)."""
    if settings.fusion == "rrf":
        return ReciprocalRankFusion(settings.rrf_k)
    # A dense score below the last returned one is unknown; a chunk BM25 did not return scores 0.
    return ZScoreFusion((settings.dense_weight, 1.0 - settings.dense_weight), (None, BM25_NO_MATCH))


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse ranked id lists (best first) into one (id, fused score) list, best first; ties keep the order
    in which ids were first seen."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def zscore_fusion(
    scored_lists: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
    floors: Sequence[float | None] | None = None,
) -> list[tuple[int, float]]:
    """Fuse (id, score) lists into one (id, fused score) list, best first: Σ_r w_r · z_r(d); ties keep the
    order in which ids were first seen.

    ``floors[r]`` is the score list r's retriever gives every chunk it leaves out of a list shorter than the
    depth (BM25: 0), or None where that score is unknown. z_r standardises list r over its top-depth set (the
    list, completed with its floor where it came back short; depth = the longest list's length); an id
    missing from list r takes its floor's z, or else list r's lowest z. An empty list without a floor says
    nothing about any candidate and contributes nothing."""
    floors = [None] * len(scored_lists) if floors is None else list(floors)
    if not len(scored_lists) == len(weights) == len(floors):
        raise ValueError("one weight and one floor per list")
    depth = max((len(scored) for scored in scored_lists), default=0)
    order = list(dict.fromkeys(item for scored in scored_lists for item, _ in scored))
    fused = dict.fromkeys(order, 0.0)
    for scored, weight, floor in zip(scored_lists, weights, floors):
        scores = [score for _, score in scored]
        short = depth - len(scored) if floor is not None else 0
        if not scores and not short:
            continue
        z = zscores(scores + [floor] * short)
        by_id = {item: float(value) for (item, _), value in zip(scored, z)}
        missing = float(z[-1]) if short else float(z.min())
        for item in order:
            fused[item] += weight * by_id.get(item, missing)
    return sorted(fused.items(), key=lambda pair: -pair[1])
