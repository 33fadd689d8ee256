"""Train the configured reranker on a corpus's synthetic queries, with the project's own trainer.

The mined rows are packed exactly as ``retrieval.reranker_training`` packs its training data (same files, same
format, byte-identical for the same inputs), so the training step can also run elsewhere with
``python -m retrieval.reranker_training train --packed <index>/adapt-work/pack ...`` (a GPU machine) and a model
it leaves in ``adapt-work/trained/final`` is picked up by the next ``deeprag adapt``, which then only judges
and tunes. The recipe is the shipped reranker's (listwise loss, 3 mined and 4 in-batch negatives per query,
models/deeprag-reranker-minilm-l6/training_summary.json) at a smaller learning rate and one epoch, since it
starts from a trained reranker rather than from a bi-encoder.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import time
from pathlib import Path

from ground.config import AdaptConfig
from ground.errors import DeepragError
from ground.files import file_sha256
from retrieval.reranker_training.mining import Mined, write_packed
from retrieval.reranker_training.train import TrainSettings, train

log = logging.getLogger(__name__)

SUMMARY = "training_summary.json"
HARD_NEGATIVES, IN_BATCH_NEGATIVES = 3, 4


class NoCuda(DeepragError):
    """--device cuda on a machine where torch sees no GPU."""


class TrainingToolsMissing(DeepragError):
    """The reranker trainer's packages (the `train` extra) are not installed."""


# What sentence-transformers' CrossEncoderTrainer needs beyond deeprag's base install (pyproject's `train` extra).
TRAINING_PACKAGES = ("datasets", "accelerate")


def require_training_tools() -> None:
    """Stop before any query is written when training could not run: the LLM's queries cost minutes to hours on
    a CPU, and a run that found the trainer missing only at the training step would have spent them for nothing."""
    missing = [name for name in TRAINING_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise TrainingToolsMissing(
            f"training the reranker needs {', '.join(missing)} (deeprag's `train` extra), which is not installed; "
            "install it with `pip install -e '.[train]'` (or `bash scripts/install.sh train`) and run `deeprag adapt` "
            "again")


class TrainingOutOfMemory(DeepragError):
    """Training asked for more memory than the machine (or a ulimit) allows. The pack and the index are
    untouched, so the fix is a smaller step, not a new run from scratch."""


def _out_of_memory(error: BaseException) -> bool:
    """torch reports a failed CPU allocation as a plain RuntimeError; a GPU one as torch.OutOfMemoryError."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)


def pack(folder: Path, passages: dict[str, str], train_rows: list[Mined], heldout_rows: list[Mined],
         manifest: dict) -> dict[str, str]:
    """Write the training pack; returns its files' sha256 (the adaptation's data hash)."""
    write_packed(folder, passages, train_rows, heldout_rows, manifest)
    return packed_sha256(folder)


def packed_sha256(folder: Path) -> dict[str, str]:
    """The same record `python -m retrieval.reranker_training train` writes into its summary."""
    return {p.name: file_sha256(p) for p in sorted(folder.glob("*.jsonl.gz"))}


def settings_for(config: AdaptConfig, train_rows: int, max_seconds: float, device: str) -> TrainSettings:
    batch = config.batch_size if device == "cuda" else min(config.batch_size, config.cpu_batch_size)
    steps = max(1, math.ceil(train_rows / batch * config.epochs))
    return TrainSettings(
        epochs=config.epochs, batch_size=batch, learning_rate=config.learning_rate,
        max_length=config.max_length, eval_steps=max(10, steps // 4), patience=2, seed=config.seed, loss="mnrl",
        hard_negatives=HARD_NEGATIVES, in_batch_negatives=IN_BATCH_NEGATIVES, max_seconds=max_seconds, device=device,
    )


def reusable(out_dir: Path, data_sha256: dict[str, str]) -> dict | None:
    """The summary of a model already trained on exactly this pack (an earlier run, or the GPU path), if any."""
    summary_path = out_dir / "final" / SUMMARY
    if not summary_path.is_file():
        return None
    try:
        summary = json.loads(summary_path.read_text())
    except ValueError:
        return None
    return summary if summary.get("packed_sha256") == data_sha256 else None


def train_reranker(base_model: str, pack_dir: Path, out_dir: Path, passages: dict[str, str],
                   train_rows: list[Mined], heldout_rows: list[Mined], settings: TrainSettings,
                   data_sha256: dict[str, str]) -> dict:
    """Train (or reuse a model trained on the same pack) into ``out_dir/final``; returns the summary with
    held-out nDCG@10 before and after."""
    if found := reusable(out_dir, data_sha256):
        log.info("reusing the reranker already trained on this data in %s", out_dir / "final")
        return found
    if settings.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise NoCuda(
                f"--device cuda was asked for but torch sees no GPU here; use --device cpu, or train the data packed in "
                f"{pack_dir} on a GPU machine (`python -m retrieval.reranker_training train --packed {pack_dir} "
                f"--base-model {base_model} --out {out_dir} --loss mnrl --epochs {settings.epochs:g} --batch-size "
                f"{settings.batch_size} --lr {settings.learning_rate:g} --max-length {settings.max_length}`), copy "
                f"its out folder back to {out_dir} and run `deeprag adapt` again: it picks the model up")
    started = time.monotonic()
    try:
        summary = train(base_model, passages, train_rows, heldout_rows, out_dir, settings)
    except (MemoryError, RuntimeError) as error:
        if not _out_of_memory(error):
            raise
        key = "batch_size" if settings.device == "cuda" else "cpu_batch_size"
        raise TrainingOutOfMemory(
            f"training the reranker ran out of memory at {settings.batch_size} queries a step on {settings.device} "
            f"(max length {settings.max_length}); the index and its current reranker are untouched. Lower adapt.{key} "
            f"(DEEPRAG_ADAPT__{key.upper()}={max(2, settings.batch_size // 2)}) or adapt.max_length, "
            f"free memory, or train on a GPU (--device cuda), then run `deeprag adapt` again: the queries and the "
            f"pack are reused") from error
    summary.update({"settings": vars(settings), "packed_sha256": data_sha256, "base_model": base_model,
                    "seconds": round(time.monotonic() - started, 1), "device": settings.device})
    (out_dir / "final" / SUMMARY).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def heldout_ndcg(metrics: dict) -> float:
    """nDCG@10 from a CrossEncoderRerankingEvaluator result (its keys carry the evaluator's name)."""
    return float(next(v for k, v in metrics.items() if k.endswith("ndcg@10")))
