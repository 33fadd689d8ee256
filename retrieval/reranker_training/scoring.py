"""Score a candidates file with a cross-encoder: the heavy half of evaluating a reranker, kept apart so it can
run on whatever machine has the accelerator.

A candidates file (written by ``benchmarks/reranker_quality.py candidates``, from deeprag's own Searcher) is a
gzip JSON ``{"meta": {...}, "texts": {chunk id: indexed text}, "queries": {qid: {"query", "chunks", "docs",
"fused", "answers"}}}``: each query's top hybrid chunks, best first, with their document ids and fused scores.
Scoring adds ``ce`` (one score per chunk) and records the model and the time taken in ``meta``.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

from ground.files import write_json_atomically


def read_candidates(path: Path) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def write_candidates(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, payload)


def score_candidates(payload: dict, reranker, batch_size: int = 128) -> float:
    """Adds ``ce`` to every query of ``payload`` (one ``predict`` over all pairs); returns the seconds taken."""
    pairs, owners = [], []
    for qid, entry in payload["queries"].items():
        pairs += [(entry["query"], payload["texts"][chunk]) for chunk in entry["chunks"]]
        owners.append((qid, len(entry["chunks"])))
    start = time.perf_counter()
    scores = reranker.predict(pairs, batch_size=batch_size, show_progress_bar=True, convert_to_numpy=True)
    seconds = time.perf_counter() - start
    offset = 0
    for qid, n in owners:
        payload["queries"][qid]["ce"] = [float(s) for s in scores[offset : offset + n]]
        offset += n
    return seconds


def truncate(payload: dict, depth: int) -> None:
    """Keep each query's top ``depth`` candidates (a cheaper run that still covers the pools up to ``depth``)."""
    for entry in payload["queries"].values():
        for key in ("chunks", "docs", "fused"):
            entry[key] = entry[key][:depth]
