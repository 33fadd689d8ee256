"""Fitting the relevance floor below which deeprag abstains: fitted on even rows, reported on odd rows."""

import pytest

from eval.abstention import MAX_FALSE_ABSTAIN, choose_floor, fit_floor


def test_the_floor_turns_away_at_most_the_allowed_share_of_answerable_questions():
    answerable = [i / 40 for i in range(40, 0, -1)]  # 40 scores, 0.025 … 1.0, in no particular order of use
    floor = choose_floor(answerable, unanswerable=[0.01, 0.02])
    turned_away = sum(score < floor for score in answerable)
    assert turned_away == int(MAX_FALSE_ABSTAIN * len(answerable)) == 2
    assert floor == pytest.approx(0.075)  # the third-lowest: the two below it are the allowed false abstentions


def test_rates_are_measured_on_the_rows_the_floor_was_not_fitted_on():
    records = []
    for i, score in enumerate([0.9, 0.2, 0.8, 0.95, 0.7, 0.85]):  # held-out (odd) in-scope rows: 0.2, 0.95, 0.85
        records.append({"scope": "in", "rerank": score, "answer_in_passages": True, "id": f"in{i}"})
    for i, score in enumerate([0.1, 0.75, 0.3, 0.05]):  # held-out (odd) out-of-scope rows: 0.75, 0.05
        records.append({"scope": "out", "rerank": score, "answer_in_passages": False, "id": f"out{i}"})
    # An out-of-scope question whose passages hold its answer is not out of scope: never counted.
    records.append({"scope": "out", "rerank": 0.99, "answer_in_passages": True, "id": "answered"})

    floor = fit_floor(records, "rerank")

    assert floor.floor == pytest.approx(0.7)  # fitted rows 0.9, 0.8, 0.7: 5% of 3 allows none below
    assert floor.false_abstain.mean == pytest.approx(1 / 3)  # 0.2 of 0.2, 0.95, 0.85 falls below
    assert floor.false_answer.mean == pytest.approx(1 / 2)  # 0.75 of 0.75, 0.05 passes
