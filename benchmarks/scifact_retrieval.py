"""nDCG@10 of deeprag's retrieval settings on BEIR SciFact (all 300 test queries), beside published anchors.

A thin wrapper over `deeprag eval retrieval` (eval/retrieval_run.py) that runs several settings against one
index and prints one table:

    python benchmarks/scifact_retrieval.py [--settings bm25 dense hybrid] [--index DIR] [--reranker FOLDER]

Each setting's full record (per-query JSONL, metrics.json, report.md) lands in runs/scifact-<setting>/.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ground.config import load_config  # noqa: E402
from eval.datasets import load_beir  # noqa: E402
from eval.retrieval_run import SETTINGS, RetrievalEval, run_retrieval  # noqa: E402

# Published nDCG@10 on SciFact (BEIR paper, Thakur et al. 2021; MTEB leaderboard), not measured here.
PUBLISHED = {
    "BM25 (BEIR paper, Elasticsearch)": 0.665,
    "all-MiniLM-L6-v2 (MTEB)": 0.645,
    "bge-small-en-v1.5 (MTEB)": 0.713,
    "BM25 + MiniLM cross-encoder (BEIR paper)": 0.688,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=["bm25", "dense", "hybrid"])
    parser.add_argument("--index", type=Path, help="index of the SciFact corpus (default: the eval cache)")
    parser.add_argument("--reranker", help="CrossEncoder name or folder for hybrid+rerank")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    overrides = {"retrieval.reranker_model": args.reranker} if args.reranker else {}
    config = load_config(overrides=overrides)
    scifact = load_beir(config.data_dir, "scifact")

    rows = []
    for setting in args.settings:
        metrics = run_retrieval(config, RetrievalEval(scifact, setting, args.runs / f"scifact-{setting}",
                                                      index_dir=args.index))
        rows.append((f"deeprag {setting} (measured)", metrics["ndcg@10"], metrics["recall@100"]))
    print(f"SciFact test, {len(scifact.queries)} queries\n")
    print("| retrieval | nDCG@10 | Recall@100 |\n|---|---|---|")
    for name, ndcg, recall in rows:
        print(f"| {name} | {ndcg:.3f} | {recall:.3f} |")
    for name, ndcg in PUBLISHED.items():
        print(f"| {name} (published) | {ndcg:.3f} | |")


if __name__ == "__main__":
    main()
