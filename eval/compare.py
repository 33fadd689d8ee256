"""`deeprag eval compare RUN RUN...`: the runs' metrics side by side, as a Markdown table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ground.errors import DeepragError

RETRIEVAL_COLUMNS = ("ndcg@10", "recall@1", "recall@5", "recall@10", "recall@20", "recall@100", "mrr@10", "map@100")
QA_COLUMNS = ("em", "f1", "answer_in_prediction", "answer_recall@5", "faithfulness", "deterministic_support")


class RunMissing(DeepragError):
    """A run named for comparison has no metrics.json."""


def load_metrics(run: str | Path, runs_dir: Path) -> tuple[str, dict]:
    """A run by directory path, or by name under ``runs_dir``."""
    candidates = [Path(run), Path(runs_dir) / str(run)]
    for directory in candidates:
        if (directory / "metrics.json").is_file():
            return directory.name, json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
    raise RunMissing(
        f"no finished run '{run}': looked for metrics.json in {', '.join(map(str, candidates))}; "
        "finish it with `deeprag eval retrieval|qa ...` (it resumes)"
    )


def compare_table(runs: Sequence[tuple[str, dict]]) -> str:
    """One row per run; the columns are the metrics any of the runs has, plus latency p50/p95."""
    columns = [c for c in RETRIEVAL_COLUMNS + QA_COLUMNS if any(c in m for _, m in runs)]
    header = ["run", "dataset", "queries", *columns, "p50 ms", "p95 ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, metrics in runs:
        cells = [name, str(metrics.get("dataset", "")), str(metrics.get("queries", ""))]
        cells += [_fmt(metrics.get(c)) for c in columns]
        latency = metrics.get("latency_ms", {})
        cells += [_fmt(latency.get("p50"), 1), _fmt(latency.get("p95"), 1)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "–"
