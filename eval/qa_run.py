"""`deeprag eval qa`: answers through the served LLM, scored with EM/F1, answer recall and faithfulness.

Retrieval-augmented answers go through the application's own ``AnswerPipeline`` (the same retrieval, prompt
and citation parsing a user gets); ``--closed-book`` asks the same server without passages, the baseline
that shows what retrieval adds. Requests run ``eval.workers`` at a time (vLLM batches them).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from eval.datasets import BEIR_SETS, Question, load_beir, load_questions
from eval.faithfulness import LLMJudge, lexical_support
from eval.metrics import answer_recall, exact_match, has_answer, token_f1
from eval.retrieval_run import cached_index_dir, ensure_index
from eval.runner import RunDir, percentile, public_settings, run_items
from generation.answer import AnswerPipeline
from generation.citations import strip_citations
from generation.llm import LLMClient, Usage
from ground.config import Config, updated
from ground.errors import DeepragError
from ground.files import file_sha256
from retrieval.searcher import Searcher

log = logging.getLogger(__name__)

CLOSED_BOOK_SYSTEM = (
    "Answer the question from your own knowledge with a short phrase (a name, date, number or a few words). "
    "Do not explain."
)


class NoPassageCollection(DeepragError):
    """Open-domain QA was asked for without a passage collection to retrieve from."""


@dataclass
class QAEval:
    dataset: str  # nq-oracle, nq-open, triviaqa
    run_dir: Path
    closed_book: bool = False
    judge: bool = False
    retriever: str = "hybrid"
    limit: int | None = None
    index_dir: Path | None = None  # a passage index (required for nq-open / triviaqa unless closed-book)


def run_qa(config: Config, spec: QAEval) -> dict:
    """Run (or resume) one QA evaluation; returns the metrics written to metrics.json."""
    questions = load_questions(config.data_dir, spec.dataset)[: spec.limit]
    config = updated(config, {"llm.max_tokens": config.eval.answer_max_tokens, "retrieval.mode": spec.retriever})
    index_dir = None if spec.closed_book else _passage_index(config, spec)
    if index_dir is not None:
        config = updated(config, {"index_dir": index_dir})
    client = LLMClient(config.llm)
    pipeline = None if spec.closed_book else AnswerPipeline(Searcher.for_config(config), client)
    judge = LLMJudge(client) if spec.judge else None

    run = RunDir(spec.run_dir)
    run.start({
        "kind": "qa",
        "dataset": spec.dataset,
        "closed_book": spec.closed_book,
        "retriever": None if spec.closed_book else spec.retriever,
        "judge": spec.judge,
        "limit": spec.limit,
        "model": client.model.name,
        "index_dir": str(index_dir) if index_dir else None,
        "config": public_settings(config),
    })

    def work(question: Question) -> dict:
        if pipeline is None:
            text, timings, usage = _closed_book(client, question.text)
            passages: list[str] = []
        else:
            answer = pipeline.ask(question.text)
            text, timings, usage = answer.text, answer.timings_ms, answer.usage
            passages = [f"{h.chunk.title}\n{h.chunk.text}" for h in answer.hits]
        record = {
            "id": question.id,
            "question": question.text,
            "answers": list(question.answers),
            "prediction": text,
            "em": exact_match(strip_citations(text), question.answers),
            "f1": token_f1(strip_citations(text), question.answers),
            "timings_ms": {k: round(v, 1) for k, v in timings.items()},
            "latency_ms": round(timings.get("total", 0.0), 1),
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        }
        if passages:
            record["answer_recall@1"] = answer_recall(passages, question.answers, 1)
            record[f"answer_recall@{config.retrieval.k}"] = answer_recall(passages, question.answers, config.retrieval.k)
            record["deterministic_support"] = lexical_support(strip_citations(text), passages)
            if judge is not None:
                record["faithfulness"] = judge.judge(question.text, text, passages).as_dict()
        return record

    records = run_items(
        run, questions, key=lambda q: q.id, work=work, workers=config.eval.workers,
        running=lambda rs: f"EM {_mean([r['em'] for r in rs]):.3f} F1 {_mean([r['f1'] for r in rs]):.3f}",
        desc=f"qa {spec.dataset}{' closed-book' if spec.closed_book else ''}",
    )
    metrics = summarize(spec, records, config.retrieval.k)
    run.write_metrics(metrics)
    return metrics


def _passage_index(config: Config, spec: QAEval) -> Path:
    if spec.index_dir is not None:
        return spec.index_dir
    if spec.dataset not in BEIR_SETS:
        raise NoPassageCollection(
            f"{spec.dataset} needs a passage collection to retrieve from (Wikipedia's DPR passages): "
            "pass --index DIR of an index built from it, or run --closed-book"
        )
    dataset = load_beir(config.data_dir, spec.dataset)
    index_dir = cached_index_dir(config, dataset, file_sha256(dataset.corpus))
    ensure_index(config, dataset.corpus, index_dir)
    return index_dir


def _closed_book(client, question: str):
    """The answer without passages, timed like the pipeline times its answers."""
    started = time.perf_counter()
    messages = [{"role": "system", "content": CLOSED_BOOK_SYSTEM}, {"role": "user", "content": question}]
    parts, usage, first = [], Usage(), None
    for piece in client.stream(messages):
        if isinstance(piece, Usage):
            usage = piece
            continue
        first = first or time.perf_counter()
        parts.append(piece)
    done = time.perf_counter()
    timings = {"total": (done - started) * 1000}
    if first is not None:
        timings |= {"first_token": (first - started) * 1000, "generate": (done - first) * 1000}
    return "".join(parts).strip(), timings, usage


def _mean(values: list) -> float:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else 0.0


def summarize(spec: QAEval, records: list[dict], k: int) -> dict:
    judged = [r["faithfulness"] for r in records if isinstance(r.get("faithfulness"), dict)]
    stages = sorted({s for r in records for s in r["timings_ms"]})
    metrics = {
        "kind": "qa",
        "dataset": spec.dataset,
        "closed_book": spec.closed_book,
        "queries": len(records),
        "em": round(_mean([r["em"] for r in records]), 4),
        "f1": round(_mean([r["f1"] for r in records]), 4),
        # Lost in the Middle's "best subspan EM": a gold answer occurs inside the (often sentence-long) answer.
        "answer_in_prediction": round(_mean([float(has_answer(r["prediction"], r["answers"])) for r in records]), 4),
        "latency_ms": {"p50": round(percentile([r["latency_ms"] for r in records], 50), 1),
                       "p95": round(percentile([r["latency_ms"] for r in records], 95), 1)},
        "stage_ms": {s: {"p50": round(percentile([r["timings_ms"][s] for r in records if s in r["timings_ms"]], 50), 1),
                         "p95": round(percentile([r["timings_ms"][s] for r in records if s in r["timings_ms"]], 95), 1)}
                     for s in stages},
        "prompt_tokens_mean": round(_mean([r["prompt_tokens"] for r in records]), 1),
        "completion_tokens_mean": round(_mean([r["completion_tokens"] for r in records]), 1),
    }
    if not spec.closed_book:
        metrics["answer_recall@1"] = round(_mean([r.get("answer_recall@1") for r in records]), 4)
        metrics[f"answer_recall@{k}"] = round(_mean([r.get(f"answer_recall@{k}") for r in records]), 4)
        metrics["deterministic_support"] = round(_mean([r.get("deterministic_support") for r in records]), 4)
    if judged:
        metrics["faithfulness"] = round(_mean([j["score"] for j in judged]), 4)
        metrics["judge_unparsed"] = sum(j["unparsed"] for j in judged)
    return metrics
