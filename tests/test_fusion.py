"""Fusion functions against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from ground.config import RetrievalConfig
from retrieval.fusion import fusion_for, reciprocal_rank_fusion, zscore_fusion


def test_rrf_sums_reciprocal_ranks_and_keeps_first_seen_order_on_ties():
    fused = dict(reciprocal_rank_fusion([[1, 2], [2, 3]], k=60))
    assert fused[2] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1] == pytest.approx(1 / 61) and fused[3] == pytest.approx(1 / 62)
    assert [i for i, _ in reciprocal_rank_fusion([[1], [2]], k=60)] == [1, 2]  # tie: first seen first


def test_zscore_fusion_weights_standardised_scores_and_floors_missing_ids():
    dense = [(1, 0.9), (2, 0.5), (3, 0.1)]  # z = +1.2247, 0, -1.2247 (population std)
    bm25 = [(2, 30.0), (4, 10.0)]  # z = +1, -1
    fused = dict(zscore_fusion([dense, bm25], [0.5, 0.5]))
    z = math.sqrt(1.5)
    assert fused[1] == pytest.approx(0.5 * z + 0.5 * -1)  # not in BM25: BM25's lowest z
    assert fused[2] == pytest.approx(0.5 * 0 + 0.5 * 1)
    assert fused[3] == pytest.approx(0.5 * -z + 0.5 * -1)
    assert fused[4] == pytest.approx(0.5 * -z + 0.5 * -1)  # not in dense: dense's lowest z
    order = [i for i, _ in zscore_fusion([dense, bm25], [0.5, 0.5])]
    assert order[:2] == [2, 1] and order[2:] == [3, 4]  # 3 and 4 tie: first seen first


def test_zscore_fusion_is_scale_free_and_follows_the_weight():
    dense = [(1, 0.9), (2, 0.8), (3, 0.1)]
    bm25 = [(3, 25.0), (2, 5.0), (1, 4.0)]
    rescaled = [(i, s * 1000 + 7) for i, s in bm25]
    original, scaled = zscore_fusion([dense, bm25], [0.5, 0.5]), zscore_fusion([dense, rescaled], [0.5, 0.5])
    assert [i for i, _ in original] == [i for i, _ in scaled]
    assert [s for _, s in original] == pytest.approx([s for _, s in scaled])
    assert zscore_fusion([dense, bm25], [1.0, 0.0])[0][0] == 1
    assert zscore_fusion([dense, bm25], [0.0, 1.0])[0][0] == 3


def test_zscore_fusion_with_an_empty_list_or_a_single_candidate():
    assert [i for i, _ in zscore_fusion([[(5, 0.3), (6, 0.7)], []], [0.5, 0.5])] == [6, 5]
    assert zscore_fusion([[(5, 0.3)], [(5, 2.0)]], [0.5, 0.5]) == [(5, 0.0)]  # no spread: z = 0
    with pytest.raises(ValueError):
        zscore_fusion([[(1, 1.0)]], [0.5, 0.5])


# Degenerate lists under the configured floors (dense: unknown, BM25: 0 for a chunk sharing no term). The dense
# list below is the depth both were cut at (3), and its z-scores are +sqrt(1.5), 0, -sqrt(1.5).
DENSE = [(1, 0.9), (2, 0.5), (3, 0.1)]
FLOORS = (None, 0.0)
Z_DENSE = math.sqrt(1.5)


def test_a_single_bm25_hit_stands_above_every_chunk_bm25_left_out():
    """The only chunk holding a rare term: BM25 over its top 3 is {4, 0, 0}, mean 4/3, std 4·sqrt(2)/3, so the
    hit's z is sqrt(2) and a left-out chunk's -1/sqrt(2) (before: no spread, 0 for all, the hit came last)."""
    fused = dict(zscore_fusion([DENSE, [(3, 4.0)]], [0.5, 0.5], FLOORS))
    assert fused[3] == pytest.approx(0.5 * -Z_DENSE + 0.5 * math.sqrt(2))
    assert fused[1] == pytest.approx(0.5 * Z_DENSE + 0.5 * -1 / math.sqrt(2))
    assert fused[2] == pytest.approx(0.5 * 0 + 0.5 * -1 / math.sqrt(2))
    assert [i for i, _ in fusion_for(RetrievalConfig()).fuse([DENSE, [(3, 4.0)]])] == [1, 3, 2]


def test_tied_bm25_hits_share_a_score_above_the_chunks_left_out():
    """{3, 3, 0}: mean 2, std sqrt(2); each hit z = 1/sqrt(2), a left-out chunk -sqrt(2) (before: 0 for all)."""
    fused = dict(zscore_fusion([DENSE, [(2, 3.0), (3, 3.0)]], [0.5, 0.5], FLOORS))
    assert fused[2] == pytest.approx(0.5 * 0 + 0.5 / math.sqrt(2))
    assert fused[3] == pytest.approx(0.5 * -Z_DENSE + 0.5 / math.sqrt(2))
    assert fused[1] == pytest.approx(0.5 * Z_DENSE + 0.5 * -math.sqrt(2))
    assert [i for i, _ in zscore_fusion([DENSE, [(2, 3.0), (3, 3.0)]], [0.0, 1.0], FLOORS)][2] == 1


def test_two_bm25_hits_both_beat_the_chunks_left_out():
    """Over the depth 4: {6, 2, 0, 0}, mean 2, std sqrt(6): z = 4/sqrt(6), 0, and -2/sqrt(6) for a left-out
    chunk (before: +1 and -1, the lower hit tied with every chunk that lacks the terms)."""
    dense = [(1, 0.8), (2, 0.6), (3, 0.4), (4, 0.2)]  # z = 3, 1, -1, -3 over sqrt(5)
    bm25 = [(3, 6.0), (2, 2.0)]
    fused = dict(zscore_fusion([dense, bm25], [0.5, 0.5], FLOORS))
    r5, r6 = math.sqrt(5), math.sqrt(6)
    assert fused[1] == pytest.approx(0.5 * 3 / r5 + 0.5 * -2 / r6)
    assert fused[2] == pytest.approx(0.5 * 1 / r5 + 0.5 * 0)
    assert fused[3] == pytest.approx(0.5 * -1 / r5 + 0.5 * 4 / r6)
    assert fused[4] == pytest.approx(0.5 * -3 / r5 + 0.5 * -2 / r6)
    assert [i for i, _ in zscore_fusion([dense, bm25], [0.0, 1.0], FLOORS)] == [3, 2, 1, 4]


def test_an_empty_bm25_list_contributes_nothing_and_a_full_one_is_standardised_as_it_is():
    """No chunk shares a term: every BM25 score is the floor, no spread, 0 for all. A list as long as the
    depth is not completed: what it left out may score up to its last, so that takes its lowest z as before."""
    alone = zscore_fusion([DENSE, []], [0.5, 0.5], FLOORS)
    assert alone == [(1, pytest.approx(0.5 * Z_DENSE)), (2, 0.0), (3, pytest.approx(-0.5 * Z_DENSE))]
    full = [(2, 9.0), (3, 5.0), (4, 1.0)]
    assert zscore_fusion([DENSE, full], [0.5, 0.5], FLOORS) == zscore_fusion([DENSE, full], [0.5, 0.5])
    with pytest.raises(ValueError):
        zscore_fusion([DENSE, full], [0.5, 0.5], [None])
