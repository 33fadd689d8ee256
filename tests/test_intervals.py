"""Bootstrap intervals and paired run differences, against cases computed by hand."""

from __future__ import annotations

import json
import math

import pytest

from eval.compare import paired_table
from ground.intervals import mean_interval, paired_difference


def test_interval_of_a_proportion_matches_the_normal_approximation():
    # 400 questions, half right: the Wald interval is 0.5 ± 1.96·sqrt(0.25/400) = [0.451, 0.549].
    interval = mean_interval([1.0] * 200 + [0.0] * 200)
    half_width = 1.96 * math.sqrt(0.25 / 400)
    assert interval.mean == 0.5 and interval.n == 400
    assert interval.low == pytest.approx(0.5 - half_width, abs=0.006)
    assert interval.high == pytest.approx(0.5 + half_width, abs=0.006)


def test_constant_scores_have_no_spread():
    assert (mean_interval([1.0, 1.0, 1.0]).low, mean_interval([1.0, 1.0, 1.0]).high) == (1.0, 1.0)
    assert mean_interval([]).n == 0


def test_paired_difference_resamples_questions_not_runs():
    # B is A plus 0.1 on every question: the paired difference has no spread at all, although each run's own
    # scores vary widely (unpaired resampling would give a wide interval around 0.1).
    a = [0.0, 0.2, 0.5, 0.9, 1.0, 0.3] * 20
    b = [x + 0.1 for x in a]
    diff = paired_difference(b, a)
    assert diff.mean == pytest.approx(0.1) and diff.low == pytest.approx(0.1) and diff.high == pytest.approx(0.1)
    # 60 of 100 questions gained 1, none lost: mean +0.6, interval inside (0.5, 0.7) (Wald: ±0.096).
    wins = paired_difference([1.0] * 60 + [0.0] * 40, [0.0] * 100)
    assert wins.mean == pytest.approx(0.6) and 0.49 < wins.low < 0.6 < wins.high < 0.71
    with pytest.raises(ValueError, match="equal lengths"):
        paired_difference([1.0], [1.0, 0.0])


def write_run(directory, records):
    directory.mkdir()
    (directory / "metrics.json").write_text(json.dumps({"kind": "qa"}), encoding="utf-8")
    (directory / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_compare_prints_paired_differences_on_shared_questions(tmp_path):
    write_run(tmp_path / "closed", [{"id": str(i), "em": 0.0, "f1": 0.0, "accuracy": 0.0} for i in range(10)])
    write_run(tmp_path / "rag", [{"id": str(i), "em": 1.0, "f1": 1.0, "accuracy": 1.0} for i in range(5)]
              + [{"id": "extra", "em": 1.0, "f1": 1.0, "accuracy": 1.0}])
    table = paired_table(["closed", "rag"], tmp_path)
    row = table.splitlines()[-1]
    assert row.startswith("| rag | 5 | +1.000 [+1.000, +1.000]")  # only the 5 shared questions count
