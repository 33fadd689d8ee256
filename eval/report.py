"""report.md and its PNG plots for one run directory.

Plots: the recall@k curve (retrieval), the latency distribution (every run) and the faithfulness histogram
(QA runs that judged faithfulness). Matplotlib with the Agg backend: no display needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


def write_report(run_dir: Path, metrics: dict, records: Sequence[dict]) -> Path:
    """Write the plots and report.md; returns the report's path."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    lines = [f"# {run_dir.name}", "", f"- kind: {metrics.get('kind')}", f"- dataset: {metrics.get('dataset')}"]
    for key in ("setting", "closed_book", "model", "reranker_model", "embedding_model"):
        if config.get(key) is not None:
            lines.append(f"- {key.replace('_', ' ')}: {config[key]}")
    lines += [f"- git commit: {config.get('git_commit')}", f"- queries: {metrics.get('queries')}", "",
              "| metric | value |", "|---|---|"]
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("queries",):
            shown = f"{value:.4f}" if isinstance(value, float) and abs(value) < 10 else f"{value:g}"
            lines.append(f"| {key} | {shown} |")
    lines.append("")
    for name, interval in metrics.get("intervals", {}).items():
        lines.append(f"- {name}: {interval['mean']:.3f}, 95% bootstrap interval [{interval['low']:.3f}, "
                     f"{interval['high']:.3f}] over {interval['n']} questions")
    if metrics.get("kind") == "qa":
        lines += worst_examples(records)
    if "recall_curve" in metrics:
        _recall_curve(run_dir / "recall_at_k.png", metrics["recall_curve"])
        lines += ["![recall@k](recall_at_k.png)", ""]
    latencies = [r["latency_ms"] for r in records if r.get("latency_ms") is not None]
    if latencies:
        _histogram(run_dir / "latency.png", latencies, "latency per query (ms)", log_x=True)
        p = metrics.get("latency_ms", {})
        lines += [f"Latency p50 {p.get('p50')} ms, p95 {p.get('p95')} ms.", "", "![latency](latency.png)", ""]
    faithfulness = [r["faithfulness"]["score"] for r in records
                    if isinstance(r.get("faithfulness"), dict) and r["faithfulness"].get("score") is not None]
    if faithfulness:
        _histogram(run_dir / "faithfulness.png", faithfulness, "supported claims / claims", bins=10)
        lines += ["![faithfulness](faithfulness.png)", ""]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def worst_examples(records: Sequence[dict], per_kind: int = 5) -> list[str]:
    """Wrong answers (lowest F1 first), split by cause: a retrieval miss (no passage sent contains a gold answer)
    or a reading miss (one did, and the model still answered wrongly)."""
    wrong = sorted((r for r in records if not r.get("em")), key=lambda r: r.get("f1", 0.0))
    lines = ["", "## Worst examples", ""]
    kinds = (("Wrong answers (closed-book)", None),) if all("answer_recall@sent" not in r for r in records) else (
        ("Retrieval misses (no passage sent holds an answer)", 0.0),
        ("Reading misses (a passage sent holds an answer)", 1.0))
    for label, recall in kinds:
        chosen = [r for r in wrong if r.get("answer_recall@sent") == recall][:per_kind]
        count = sum(r.get("answer_recall@sent") == recall for r in wrong)
        lines += [f"### {label}: {count}", ""] + [
            f"- `{r['id']}` {r['question']} — gold: {' / '.join(r['answers'][:3])}; answered: "
            f"{r['prediction'][:120]!r} (F1 {r.get('f1', 0.0):.2f})" for r in chosen] + [""]
    return lines


def _recall_curve(path: Path, curve: dict[str, float]) -> None:
    ks = sorted(int(k) for k in curve)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(ks, [curve[str(k)] for k in ks], marker="o")
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("k (documents)")
    ax.set_ylabel("recall@k")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _histogram(path: Path, values: Sequence[float], label: str, bins: int = 30, log_x: bool = False) -> None:
    import numpy as np

    fig, ax = plt.subplots(figsize=(5, 3.5))
    if log_x and min(values) > 0:
        edges = np.logspace(np.log10(min(values)), np.log10(max(values) * 1.001), bins + 1)
        ax.hist(values, bins=edges)
        ax.set_xscale("log")
    else:
        ax.hist(values, bins=bins)
    ax.set_xlabel(label)
    ax.set_ylabel("queries")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
