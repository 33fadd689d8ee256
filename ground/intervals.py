"""95% bootstrap intervals for per-question scores, and for paired differences between two runs.

SciPy's ``stats.bootstrap`` does the resampling; the percentile method is used because per-question EM and
accuracy are 0/1 and often all equal on small samples, where BCa's acceleration is undefined. A fixed seed makes
a run's interval reproducible from its results.jsonl.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 10_000
SEED = 0


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def as_dict(self, digits: int = 4) -> dict:
        return {"mean": round(self.mean, digits), "low": round(self.low, digits), "high": round(self.high, digits),
                "n": self.n}

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def mean_interval(values: Sequence[float]) -> Interval:
    """The mean of ``values`` with its 95% percentile-bootstrap interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Interval(0.0, 0.0, 0.0, 0)
    low, high = _bootstrap((data,), lambda x, axis: np.mean(x, axis=axis))
    return Interval(float(data.mean()), low, high, int(data.size))


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Interval:
    """mean(a - b) over the same questions, resampling questions (not the two runs independently): the
    interval of "run A beats run B by X"."""
    first, second = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if first.shape != second.shape:
        raise ValueError(f"paired scores need equal lengths, got {first.size} and {second.size}")
    if first.size == 0:
        return Interval(0.0, 0.0, 0.0, 0)
    low, high = _bootstrap((first, second), lambda x, y, axis: np.mean(x - y, axis=axis), paired=True)
    return Interval(float((first - second).mean()), low, high, int(first.size))


def _bootstrap(data: tuple, statistic, paired: bool = False) -> tuple[float, float]:
    if data[0].size == 1 or all(np.all(d == d[0]) for d in data):
        value = float(statistic(*data, axis=-1))
        return value, value  # nothing varies: every resample gives the same statistic
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(data, statistic, paired=paired, vectorized=True, n_resamples=RESAMPLES,
                                 confidence_level=CONFIDENCE, method="percentile",
                                 rng=np.random.default_rng(SEED))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
