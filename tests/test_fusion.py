"""Fusion functions against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from retrieval.fusion import reciprocal_rank_fusion, zscore_fusion


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
