"""Cross-encoder reranking latency on the CPU for 20 and 50 candidates (p50/p95 per query).

The candidates are real: a SciFact candidates file from ``benchmarks/reranker_quality.py candidates`` (deeprag's
hybrid chunks, so passage lengths are what the reranker reads in use). Each query's pool goes through
deeprag's own ``CrossEncoderReranker`` (the code path of ``Searcher.search``), one query at a time, in each
precision asked for (``auto`` is what deeprag picks on this machine: the faster of fp32 and bf16 as measured
once by ``retrieval/precision_probe.py`` and cached; the first ``auto`` load here may run that measurement).

    python benchmarks/reranker_latency.py --candidates runs/rq/scifact.json.gz --threads 2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_MODEL = str(Path(__file__).resolve().parents[1] / "models" / "deeprag-reranker-minilm-l6")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=Path, required=True, help="SciFact candidates file")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="CrossEncoder folder or name")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--pools", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument("--precisions", nargs="+", default=["float32", "auto"])
    args = parser.parse_args()

    import torch

    from retrieval.reranker import CrossEncoderReranker
    from retrieval.reranker_training.scoring import read_candidates

    torch.set_num_threads(args.threads)
    payload = read_candidates(args.candidates)
    entries = list(payload["queries"].values())[: args.queries]
    texts = payload["texts"]
    print(f"threads={args.threads}, {len(entries)} SciFact queries, {args.model}\n")
    print("| precision | candidates | p50 ms | p95 ms | ms per candidate (p50) |")
    print("|---|---|---|---|---|")
    for precision in args.precisions:
        reranker = CrossEncoderReranker(args.model, precision=precision)
        reranker.score(entries[0]["query"], [texts[c] for c in entries[0]["chunks"][:8]])  # warm-up
        for pool in args.pools:
            times = []
            for entry in entries:
                passages = [texts[c] for c in entry["chunks"][:pool]]
                start = time.perf_counter()
                reranker.score(entry["query"], passages)
                times.append((time.perf_counter() - start) * 1000)
            p50 = float(np.percentile(times, 50))
            label = f"{precision} ({str(reranker.dtype).removeprefix('torch.')})"
            print(f"| {label} | {pool} | {p50:.0f} | {np.percentile(times, 95):.0f} | {p50 / pool:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
