"""Train the cross-encoder with sentence-transformers' CrossEncoderTrainer on packed, mined data.

Start: the all-MiniLM-L6-v2 encoder with a fresh 1-logit head (its bi-encoder training already taught it what
matches a question; the head learns to read that from the [CLS] pooler). Two losses:
- ``bce``: binary cross-entropy over (question, passage, label) pairs, positives weighted by the number of
  negatives (sentence-transformers' reranker recipe; recipe v1 in notes/issue6.md);
- ``mnrl``: listwise softmax over the positive, a few mined negatives and random in-batch negatives
  (sentence-transformers' ``MultipleNegativesRankingLoss``): the in-batch passages are easy and off-topic, which
  keeps the model calibrated on the whole range of candidates a first stage returns, not only near misses.
The held-out questions (never trained on) choose the best checkpoint and stop training early when nDCG@10 on
them stops rising; ``max_seconds`` ends training in time on a machine lent for minutes.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from retrieval.reranker_training.mining import Mined

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    epochs: float = 2.0
    batch_size: int = 128  # rows per step: (question, passage) pairs for bce, questions for mnrl
    learning_rate: float = 3e-5
    warmup_ratio: float = 0.1
    max_length: int = 256
    eval_steps: int = 400
    patience: int = 3  # evaluations without improvement before stopping
    seed: int = 13
    loss: str = "bce"  # "bce" or "mnrl"
    hard_negatives: int = 3  # mnrl: mined negatives per question
    in_batch_negatives: int = 4  # mnrl: random other questions' passages per question
    # The whole call (loading and every held-out evaluation included) ends within about this long; training
    # stops early enough to leave time for the evaluations after it.
    max_seconds: float | None = None
    device: str | None = None  # "cpu" or "cuda"; None = a GPU where there is one


def pairs_dataset(rows: list[Mined], passages: dict[str, str], seed: int):
    """Flatten (query, positive, negatives) rows into shuffled labelled pairs for BinaryCrossEntropyLoss."""
    from datasets import Dataset

    pairs = [(m.query, passages[m.positive], 1.0) for m in rows]
    pairs += [(m.query, passages[n], 0.0) for m in rows for n in m.negatives]
    random.Random(seed).shuffle(pairs)
    return Dataset.from_dict({
        "query": [p[0] for p in pairs], "passage": [p[1] for p in pairs], "label": [p[2] for p in pairs],
    })


def listwise_dataset(rows: list[Mined], passages: dict[str, str], hard_negatives: int, seed: int):
    """One row per question: query, positive, then ``hard_negatives`` mined negatives as their own columns (the
    layout MultipleNegativesRankingLoss reads)."""
    from datasets import Dataset

    rows = [m for m in rows if len(m.negatives) >= hard_negatives]
    random.Random(seed).shuffle(rows)
    columns = {"query": [m.query for m in rows], "positive": [passages[m.positive] for m in rows]}
    for n in range(hard_negatives):
        columns[f"negative_{n + 1}"] = [passages[m.negatives[n]] for m in rows]
    return Dataset.from_dict(columns)


def heldout_evaluator(rows: list[Mined], passages: dict[str, str], name: str = "heldout"):
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    samples = [
        {"query": m.query, "positive": [passages[m.positive]], "negative": [passages[n] for n in m.negatives]}
        for m in rows
    ]
    return CrossEncoderRerankingEvaluator(samples, at_k=10, name=name, batch_size=256, write_csv=False)


def train(
    base_model: str, passages: dict[str, str], train_rows: list[Mined], heldout_rows: list[Mined],
    output_dir: Path, settings: TrainSettings,
) -> dict:
    """Train, keep the best held-out checkpoint, save it to ``output_dir/final`` in fp16; returns a summary."""
    started = time.monotonic()
    import torch
    from sentence_transformers.cross_encoder import (
        CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, MultipleNegativesRankingLoss
    from transformers import EarlyStoppingCallback, set_seed

    set_seed(settings.seed)
    gpu = torch.cuda.is_available() if settings.device is None else settings.device.startswith("cuda")
    model = CrossEncoder(
        base_model, num_labels=1, max_length=settings.max_length, model_kwargs={"dtype": torch.float32},
        device="cuda" if gpu else "cpu",
    )
    if settings.loss == "mnrl":
        loss = MultipleNegativesRankingLoss(model, num_negatives=settings.in_batch_negatives)
        dataset = listwise_dataset(train_rows, passages, settings.hard_negatives, settings.seed)
    else:
        num_negatives = max(len(m.negatives) for m in train_rows)
        loss = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(num_negatives), device=model.device))
        dataset = pairs_dataset(train_rows, passages, settings.seed)
    evaluator = heldout_evaluator(heldout_rows, passages)
    evaluated = time.monotonic()
    before = evaluator(model)
    evaluation_seconds = time.monotonic() - evaluated
    log.info("held-out before training (%.0f s): %s", evaluation_seconds, before)
    sources = sorted({m.source for m in heldout_rows})
    training_seconds = seconds_to_train(settings.max_seconds, time.monotonic() - started, evaluation_seconds,
                                        len(sources))
    metric = f"eval_{evaluator.primary_metric}"
    args = CrossEncoderTrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        warmup_ratio=settings.warmup_ratio,
        bf16=gpu, use_cpu=not gpu,
        eval_strategy="steps", eval_steps=settings.eval_steps,
        save_strategy="steps", save_steps=settings.eval_steps, save_total_limit=2,
        load_best_model_at_end=True, metric_for_best_model=metric, greater_is_better=True,
        logging_steps=max(1, settings.eval_steps // 4),
        dataloader_num_workers=0,  # the loss tokenizes (in the main process, with the tokenizer's own threads)
        seed=settings.seed, report_to="none",
    )
    trainer = CrossEncoderTrainer(
        model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=settings.patience), time_budget(training_seconds)],
    )
    trainer.train()
    # load_best_model_at_end put the best evaluated checkpoint back; its scores are in the log already.
    after = best_evaluation(trainer.state, metric) or evaluator(model)
    final = output_dir / "final"
    save_fp16(model, final)
    shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)
    history = [e for e in trainer.state.log_history if metric in e]
    # Per source too: the statement (ICT) rows are the held-out kind closest to SciFact's claims. With one source
    # that is ``after`` itself, under the per-source names.
    if len(sources) > 1:
        by_source = {source: heldout_evaluator([m for m in heldout_rows if m.source == source], passages,
                                               f"heldout_{source}")(model) for source in sources}
    else:
        by_source = {source: {f"heldout_{source}_{key.removeprefix('heldout_')}": value for key, value in after.items()}
                     for source in sources}
    return {
        "heldout_before": before, "heldout_after": after, "heldout_after_by_source": by_source,
        "best_checkpoint": trainer.state.best_model_checkpoint, "best_metric": trainer.state.best_metric,
        "steps": trainer.state.global_step, "eval_history": history,
    }


def best_evaluation(state, metric: str) -> dict | None:
    """The held-out scores of the checkpoint ``load_best_model_at_end`` restored, from the trainer's log (without
    the trainer's ``eval_`` prefix); None when no evaluation ran (the model is then the last step's)."""
    if state.best_model_checkpoint is None:
        return None
    for entry in state.log_history:
        if entry.get(metric) == state.best_metric:
            return {key.removeprefix("eval_"): value for key, value in entry.items() if key.startswith("eval_heldout")}
    return None


def seconds_to_train(max_seconds: float | None, spent: float, evaluation_seconds: float, sources: int) -> float | None:
    """What is left of ``max_seconds`` for training steps once ``spent`` has gone (loading, the first held-out
    evaluation) and the evaluations after training are set aside: the one at the stopping step (the best
    checkpoint's scores are then read from the log), and one per source when there are several. On 2 CPU cores one
    evaluation of ~170 held-out statements took 4 minutes, so a budget that left them out ran far over."""
    if not max_seconds:
        return None
    evaluations_after = 1 + (sources if sources > 1 else 0)
    return max(max_seconds - spent - evaluations_after * evaluation_seconds, 1.0)


def time_budget(seconds: float | None):
    """A TrainerCallback that ends training after ``seconds``, evaluating and saving at that step so the best
    checkpoint is chosen among everything trained so far (transformers is imported only when training)."""
    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        deadline: float | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.deadline = time.monotonic() + seconds if seconds else None

        def on_step_end(self, args, state, control, **kwargs):
            if self.deadline is not None and time.monotonic() > self.deadline:
                log.info("time budget of %.0f s reached at step %d", seconds, state.global_step)
                control.should_training_stop = control.should_evaluate = control.should_save = True
            return control

    return TimeBudget()


def save_fp16(model, folder: Path) -> None:
    """Weights in fp16 (half the bytes, no measurable loss for ranking), but ``dtype: float32`` in config.json
    so that loaders (transformers picks the config's dtype by default) compute in fp32 on the CPU."""
    model.half()
    model.save_pretrained(str(folder))
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["dtype"] = "float32"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    model.float()
