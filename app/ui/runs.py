"""Reading the benchmark runs that `deeprag eval` writes (runs/<name>/: config.json, metrics.json, report.md,
*.png) for the Benchmarks page. Read-only; a run without metrics.json (still running, or killed) is listed as
unfinished rather than hidden."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.ui.texts import t

log = logging.getLogger(__name__)

_IMAGE_LINE = re.compile(r"^\s*!\[[^\]]*\]\([^)]*\)\s*$")


@dataclass
class Run:
    name: str
    path: Path
    metrics: dict[str, Any] | None  # None = no metrics.json yet
    config: dict[str, Any] = field(default_factory=dict)
    report: str | None = None
    plots: list[Path] = field(default_factory=list)
    modified: float = 0.0

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    def numbers(self) -> dict[str, float]:
        """Every numeric metric, nested ones as dotted keys (``latency_ms.p50``, ``recall_curve.10``)."""
        return flatten_numbers(self.metrics or {})

    def report_text(self) -> str | None:
        """report.md without its image lines: the page shows the PNGs itself (their links are relative)."""
        if self.report is None:
            return None
        return "\n".join(line for line in self.report.splitlines() if not _IMAGE_LINE.match(line))


def list_runs(runs_dir: Path) -> list[Run]:
    """Runs under ``runs_dir``, newest first."""
    if not runs_dir.is_dir():
        return []
    runs = [read_run(path) for path in runs_dir.iterdir() if path.is_dir() and not path.name.startswith(".")]
    return sorted(runs, key=lambda run: (-run.modified, run.name))


def default_runs(runs: list[Run], count: int = 1) -> list[Run]:
    """The runs the page opens on: the newest ``count`` finished ones (``runs`` is newest first), topped up
    with the newest unfinished ones where too few have finished. A run still writing, or one killed early, has
    no metrics to show, so opening on it would show an empty page."""
    finished = [run for run in runs if run.finished]
    return (finished + [run for run in runs if not run.finished])[:count]


def run_label(run: Run) -> str:
    """A run's name as the pickers show it: unfinished ones say so."""
    return run.name if run.finished else t("bench.unfinished_run", name=run.name)


def read_run(path: Path) -> Run:
    metrics = _read_json(path / "metrics.json")
    report = path / "report.md"
    files = list(path.iterdir())
    return Run(
        name=path.name,
        path=path,
        metrics=metrics,
        config=_read_json(path / "config.json") or {},
        report=report.read_text(encoding="utf-8") if report.is_file() else None,
        plots=sorted(p for p in files if p.suffix.lower() == ".png"),
        modified=max((p.stat().st_mtime for p in files), default=path.stat().st_mtime),
    )


def flatten_numbers(data: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_numbers(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def compare(a: Run, b: Run) -> list[dict[str, Any]]:
    """Rows for a side-by-side table: metric, value in a, value in b, b − a (None where one run lacks it)."""
    left, right = a.numbers(), b.numbers()
    rows = []
    for metric in sorted(set(left) | set(right)):
        x, y = left.get(metric), right.get(metric)
        rows.append({"metric": metric, a.name: x, b.name: y, "b − a": None if x is None or y is None else y - x})
    return rows


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None
