"""`deeprag eval compare RUN RUN...`: the runs' metrics side by side, and paired differences with intervals.

The table shows each run's own means; the differences are computed per question on the questions both runs
answered (resampling questions, not runs), which is what a claim like "RAG beats closed-book by X" needs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from eval.runner import RunDir
from ground.errors import DeepragError
from ground.intervals import paired_difference

RETRIEVAL_COLUMNS = ("ndcg@10", "recall@1", "recall@5", "recall@10", "recall@20", "recall@100", "mrr@10", "map@100")
QA_COLUMNS = ("em", "f1", "accuracy", "answer_recall@sent", "citation_precision", "faithfulness",
              "deterministic_support", "questions_per_minute")
# Per-question scores compared between runs: the QA scores, and nDCG@10 for retrieval runs.
PAIRED_SCORES = ("em", "f1", "accuracy", "ndcg@10")


class RunMissing(DeepragError):
    """A run named for comparison has no metrics.json."""


def run_directory(run: str | Path, runs_dir: Path) -> Path:
    """A finished run by directory path, or by name under ``runs_dir``."""
    candidates = [Path(run), Path(runs_dir) / str(run)]
    for directory in candidates:
        if (directory / "metrics.json").is_file():
            return directory
    raise RunMissing(
        f"no finished run '{run}': looked for metrics.json in {', '.join(map(str, candidates))}; "
        "finish it with `deeprag eval retrieval|qa ...` (it resumes)"
    )


def load_metrics(run: str | Path, runs_dir: Path) -> tuple[str, dict]:
    directory = run_directory(run, runs_dir)
    return directory.name, json.loads((directory / "metrics.json").read_text(encoding="utf-8"))


def paired_table(runs: Sequence[str | Path], runs_dir: Path) -> str:
    """Each run after the first minus the first, per question on the questions both have, with 95% intervals."""
    directories = [run_directory(run, runs_dir) for run in runs]
    base = _per_question(directories[0])
    lines = ["| run − " + directories[0].name + " | questions | " + " | ".join(f"Δ {s}" for s in PAIRED_SCORES) + " |",
             "|" + "---|" * (2 + len(PAIRED_SCORES))]
    for directory in directories[1:]:
        other = _per_question(directory)
        shared = sorted(set(base) & set(other))
        cells = [directory.name, str(len(shared))]
        for score in PAIRED_SCORES:
            pairs = [(other[q][score], base[q][score]) for q in shared
                     if isinstance(other[q].get(score), (int, float)) and isinstance(base[q].get(score), (int, float))]
            if pairs:
                diff = paired_difference([a for a, _ in pairs], [b for _, b in pairs])
                cells.append(f"{diff.mean:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]")
            else:
                cells.append("–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _per_question(directory: Path) -> dict[str, dict]:
    """Each record's scores by question id (retrieval records keep theirs under ``metrics``)."""
    return {qid: {**record, **record.get("metrics", {})} for qid, record in RunDir(directory).done().items()}


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
