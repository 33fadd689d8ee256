"""Choosing the stage shares for one corpus on held-out synthetic queries (`deeprag adapt`, step 5).

Every held-out query is searched once per first stage (dense, BM25: routed by its language like any search,
so a Chinese query over an English embedder has BM25 alone, whatever the dense share); the fusion, the
reranked head and the score mix are then recomputed for every point of a small grid (dense share × reranker ×
reranker share) from those lists and from cross-encoder scores computed once per (reranker, chunk). A share
of 0 switches a stage off: dense share 0 is BM25 alone, reranker share 0 keeps the fused order.

The score of a setting is nDCG@10 with the query's own chunk as the one relevant item. A change is taken only
if it beats the current settings by ``min_gain`` and the lower end of the paired 95% bootstrap interval of that
gain is above 0; the grid holds every single stage (BM25 alone, dense alone,
the reranker alone over the head), so the choice is never below the best of them on these queries.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from tqdm import tqdm

from ground.config import AdaptConfig, RetrievalConfig, updated
from ground.intervals import Interval, paired_difference
from retrieval.adaptation.store import Shares
from retrieval.fusion import fusion_for
from retrieval.hits import Candidates
from retrieval.language import Route
from retrieval.score_mix import mix

log = logging.getLogger(__name__)

START, ADAPTED = "start", "adapted"


class PairScorer(Protocol):
    def score(self, query: str, passages: Sequence[str]) -> list[float]: ...


@dataclass(frozen=True)
class HeldOutQuery:
    """One held-out query, its first-stage lists (dense first, as fusion expects) and its route."""

    text: str
    source: int
    route: Route
    dense: Candidates | None
    bm25: Candidates | None


@dataclass(frozen=True)
class Point:
    dense_share: float
    reranker: str | None  # START, ADAPTED, or None (share 0: no reranking)
    rerank_share: float

    def shares(self, settings: RetrievalConfig) -> Shares:
        mode = "bm25" if self.dense_share == 0.0 else "hybrid"  # hybrid at share 1: routing may still drop dense
        return Shares(mode=mode, dense_weight=self.dense_share if self.dense_share > 0 else settings.dense_weight,
                      rerank=self.reranker is not None, rerank_weight=self.rerank_share if self.reranker else
                      settings.rerank_weight, adapted_reranker=self.reranker == ADAPTED)


@dataclass
class Choice:
    chosen: Point
    current: Point
    scores: dict[Point, float] = field(default_factory=dict)
    queries: int = 0
    why: str = ""

    def report(self) -> dict:
        if not self.scores:
            return {"queries": 0, "why": self.why}
        singles = {"bm25 alone": Point(0.0, None, 0.0), "dense alone": Point(1.0, None, 0.0),
                   f"reranker alone ({self.current.reranker or START})":
                       Point(self.current.dense_share, self.current.reranker or START, 1.0)}
        return {
            "queries": self.queries,
            "why": self.why,
            "current": round(self.scores[self.current], 4),
            "chosen": round(self.scores[self.chosen], 4),
            "single_stages": {name: round(self.scores[p], 4) for name, p in singles.items() if p in self.scores},
            "grid": {f"dense {p.dense_share:g} / {p.reranker or 'none'} {p.rerank_share:g}": round(s, 4)
                     for p, s in sorted(self.scores.items(), key=lambda kv: -kv[1])},
        }


def ndcg_at_10(source: int, ranked: Sequence[int]) -> float:
    """nDCG@10 with one relevant item: 1 / log2(rank + 1) within the top 10, else 0."""
    for rank, item in enumerate(ranked[:10], start=1):
        if item == source:
            return 1.0 / math.log2(rank + 1)
    return 0.0


def current_point(settings: RetrievalConfig) -> Point:
    dense = 0.0 if settings.mode == "bm25" else 1.0 if settings.mode == "dense" else settings.dense_weight
    rerank = settings.rerank and bool(settings.reranker_model)
    return Point(dense, START if rerank else None, settings.rerank_weight if rerank else 0.0)


def grid(settings: RetrievalConfig, config: AdaptConfig, rerankers: Sequence[str]) -> list[Point]:
    current = current_point(settings)
    dense = sorted({*config.dense_shares, current.dense_share})
    rerank = sorted({*config.rerank_shares} - {0.0})
    points = {Point(d, None, 0.0) for d in dense}
    points |= {Point(d, name, r) for d in dense for name in rerankers for r in rerank}
    return sorted(points | {current}, key=lambda p: (p.dense_share, p.reranker or "", p.rerank_share))


def without_queries(settings: RetrievalConfig, adapted: bool, trust_statements: bool) -> Choice:
    """The choice when no held-out query can judge the shares (only inverse-cloze statements, which every first
    stage finds verbatim in the index): the current shares. The adapted reranker replaces the starting one only
    where training kept it on held-out statements *and* the user trusts statements to judge it
    (``adapt.trust_statements``): a statement-trained reranker's gain on held-out statements did not carry over
    to SciFact's labelled train claims."""
    current = current_point(settings)
    use_adapted = adapted and trust_statements and current.reranker is not None
    chosen = Point(current.dense_share, ADAPTED, current.rerank_share) if use_adapted else current
    why = "no held-out queries but inverse-cloze statements, which every first stage finds verbatim: current shares kept"
    if use_adapted:
        why += "; the adapted reranker replaces the starting one (adapt.trust_statements)"
    elif adapted:
        why += ("; the starting reranker kept: statements alone do not judge a trained reranker (add --queries llm, "
                "or set adapt.trust_statements = true)")
    return Choice(chosen, current, why=why)


def choose(queries: Sequence[HeldOutQuery], texts: dict[int, str], scorers: dict[str, PairScorer],
           settings: RetrievalConfig, config: AdaptConfig) -> Choice:
    """The best grid point on ``queries``, unless its gain over the current settings is not worth taking
    (``worth_changing``)."""
    points = grid(settings, config, list(scorers))
    per_query: dict[Point, list[float]] = {point: [] for point in points}
    scored: dict[tuple[str, str, int], float] = {}
    bar = tqdm(queries, desc="choosing shares", unit="query", disable=not sys.stderr.isatty(), file=sys.stderr)
    for query in bar:
        for point in points:
            per_query[point].append(ndcg_at_10(query.source, _ranking(query, point, texts, scorers, settings, scored)))
    scores = {p: sum(values) / max(len(values), 1) for p, values in per_query.items()}
    current = current_point(settings)
    best = max(points, key=lambda p: (scores[p], p == current))
    gain = paired_difference(per_query[best], per_query[current])
    taken = worth_changing(gain, config.min_gain)
    why = (f"best grid point beats the current settings by {gain.mean:+.4f} [{gain.low:+.4f}, {gain.high:+.4f}] "
           f"on {gain.n} held-out queries: {'taken' if taken else 'not enough, current settings kept'}")
    return Choice(best if taken else current, current, scores, len(queries), why=why)


def worth_changing(gain: Interval, min_gain: float) -> bool:
    """Whether a paired gain over the current settings is worth taking. The best of dozens of grid points on
    ~100 queries wins partly by chance: on SciFact its +0.018 on 95 held-out LLM queries came with -0.017
    [-0.026, -0.009] on the 809 labelled train claims. So the gain must exceed ``min_gain`` on average *and* hold
    across resamples of the queries (the lower end of its paired 95% interval above 0)."""
    return gain.mean > min_gain and gain.low > 0.0


def _ranking(query: HeldOutQuery, point: Point, texts: dict[int, str], scorers: dict[str, PairScorer],
             settings: RetrievalConfig, scored: dict[tuple[str, str, int], float]) -> list[int]:
    """The chunk order search would return for ``query`` under ``point`` (as retrieval.searcher composes it)."""
    lists = [found for found in (query.dense, query.bm25) if found is not None]
    if query.dense is not None and query.bm25 is not None:
        if point.dense_share == 0.0:
            lists = [query.bm25]
        else:
            fusion = fusion_for(updated(settings, {"dense_weight": point.dense_share}))
            lists = [fusion.fuse([query.dense, query.bm25])]
    ranked = lists[0] if lists else []
    if point.reranker is None or not query.route.rerank:
        return [i for i, _ in ranked]
    head, rest = ranked[: settings.rerank_candidates], ranked[settings.rerank_candidates:]
    missing = [i for i, _ in head if (point.reranker, query.text, i) not in scored]
    if missing:
        for i, score in zip(missing, scorers[point.reranker].score(query.text, [texts[i] for i in missing])):
            scored[(point.reranker, query.text, i)] = score
    mixed = mix([scored[(point.reranker, query.text, i)] for i, _ in head], [s for _, s in head], point.rerank_share)
    order = [i for (i, _), _ in sorted(zip(head, mixed), key=lambda pair: -pair[1])]
    return order + [i for i, _ in rest]
