"""`deeprag eval qa`: answers through the served LLM, scored with EM/F1, accuracy, answer recall, faithfulness.

Every answer goes through the application's own ``AnswerPipeline`` (the same retrieval, prompt assembly and
citation parsing a user gets), in the prompt style asked for: ``short`` (the answer only, what EM/F1 can score)
or ``cited`` (the chat's). ``--closed-book`` is the same pipeline and style without passages, the baseline that
shows what retrieval adds. Each record keeps what is needed to audit it: the messages sent, the retrieved ids
and scores, the passages actually sent (after windowing and trimming), the raw output and the parsed answer.
Requests run ``eval.workers`` at a time (vLLM batches them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from eval.datasets import BEIR_SETS, Question, load_beir, load_questions
from eval.faithfulness import LLMJudge
from eval.metrics import answer_em, answer_f1, answer_recall, has_answer
from eval.retrieval_run import cached_index_dir, ensure_index
from eval.runner import RunDir, percentile, public_settings, run_items
from generation.answer import Answer, AnswerPipeline
from generation.citations import strip_citations
from generation.grounding import lexical_support
from generation.llm import LLMClient
from generation.prompt import Style, clean_short_answer
from ground.config import Config, updated
from ground.errors import ConfigError, DeepragError
from ground.files import file_sha256
from ground.intervals import mean_interval
from retrieval.searcher import Searcher

log = logging.getLogger(__name__)

# Scores averaged per question and given a 95% bootstrap interval in metrics.json.
INTERVAL_METRICS = ("em", "f1", "accuracy")


class NoPassageCollection(DeepragError):
    """Open-domain QA was asked for without a passage collection to retrieve from."""


@dataclass
class QAEval:
    dataset: str  # nq-oracle, nq-open, triviaqa
    run_dir: Path
    prompt: Style = "short"  # benchmarks score short answers; "cited" measures the chat's answers
    closed_book: bool = False
    judge: bool = False
    judge_limit: int | None = None  # judge only the first N questions: each judgement costs a second LLM call
    retriever: str = "hybrid"
    limit: int | None = None
    offset: int = 0  # skip the first questions (a dev split kept apart from the reported ones)
    index_dir: Path | None = None  # a passage index (required for nq-open / triviaqa unless closed-book)


# What a closed-book run never reads: no index is opened and nothing is retrieved, so a new retrieval default must
# not stop such a run from resuming.
CLOSED_BOOK_UNUSED = tuple(f"config.{section}" for section in (
    "index_dir", "embedding", "chunking", "index", "ingest", "retrieval"))


def run_qa(config: Config, spec: QAEval) -> dict:
    """Run (or resume) one QA evaluation; returns the metrics written to metrics.json."""
    if spec.judge_limit is not None and spec.judge_limit < 1:
        raise ConfigError(f"--judge-limit {spec.judge_limit}: judge at least 1 question, or leave --judge out")
    questions = load_questions(config.data_dir, spec.dataset)[spec.offset:]
    questions = questions[: spec.limit]
    config = updated(config, {"llm.max_tokens": config.eval.answer_max_tokens, "retrieval.mode": spec.retriever,
                              "prompt.style": spec.prompt})
    index_dir = None if spec.closed_book else _passage_index(config, spec)
    if index_dir is not None:
        config = updated(config, {"index_dir": index_dir})
    client = LLMClient(config.llm)
    searcher = None if spec.closed_book else Searcher.for_config(config)
    if searcher is not None:
        searcher.require_reranker()  # before any answer: a run without its reranker measures something else
    # Every question is answered: this run measures reading, and abstaining is measured on its own
    # (`deeprag eval abstain`), where out-of-scope questions exist to measure it on.
    answer_all = updated(config.grounding, {"min_rerank_score": "off", "min_dense_score": "off"})
    pipeline = AnswerPipeline(searcher, client, config.retrieval, config.prompt, answer_all)
    judge = LLMJudge(client) if spec.judge else None
    judged_ids = {q.id for q in questions[:spec.judge_limit]}
    style = spec.prompt

    run = RunDir(spec.run_dir)
    run.start({
        "kind": "qa",
        "dataset": spec.dataset,
        "closed_book": spec.closed_book,
        "prompt": style,
        "retriever": None if spec.closed_book else spec.retriever,
        "judge": spec.judge,
        "judge_limit": spec.judge_limit,
        "limit": spec.limit,
        "offset": spec.offset,
        "model": client.model.name,
        "index_dir": str(index_dir) if index_dir else None,
        "config": public_settings(config),
    }, unused=CLOSED_BOOK_UNUSED if spec.closed_book else ())

    def work(question: Question) -> dict:
        record = qa_record(question, pipeline.ask(question.text), style)
        if judge is not None and record["sent"] and question.id in judged_ids:
            record["faithfulness"] = judge.judge(question.text, record["raw"], [p["text"] for p in record["sent"]]).as_dict()
        return record

    already = len(run.done())
    started = time.perf_counter()
    records = run_items(
        run, questions, key=lambda q: q.id, work=work, workers=config.eval.workers,
        running=lambda rs: f"EM {_mean([r['em'] for r in rs]):.3f} F1 {_mean([r['f1'] for r in rs]):.3f}",
        desc=f"qa {spec.dataset}{' closed-book' if spec.closed_book else ''} ({style})",
    )
    metrics = summarize(spec, records, style)
    answered_now = len(records) - already
    if answered_now > 0:
        metrics["questions_per_minute"] = round(answered_now / ((time.perf_counter() - started) / 60), 2)
        metrics["workers"] = config.eval.workers
    elif (earlier := run.path / "metrics.json").is_file():
        # Nothing new was answered (a finished run re-summarized): keep the throughput the answering call measured.
        before = json.loads(earlier.read_text(encoding="utf-8"))
        metrics.update({key: before[key] for key in ("questions_per_minute", "workers") if key in before})
    run.write_metrics(metrics)
    return metrics


def qa_record(question: Question, answer: Answer, style: Style) -> dict:
    """One auditable line of results.jsonl: what was asked, retrieved, sent and answered, and its scores.

    Answer recall is computed on the passages as sent (best first), not on everything retrieved: a passage
    trimmed away or windowed down to other sentences cannot have helped the model."""
    sent = answer.hits[:answer.passages_sent]
    numbered = [{"number": n, "chunk_id": h.chunk.chunk_id, "doc_id": h.chunk.doc_id, "title": h.chunk.title,
                 "text": text} for n, (h, text) in enumerate(zip(sent, answer.sent_texts), 1)]
    by_rank = sorted(numbered, key=lambda p: -sent[p["number"] - 1].score)
    prediction = clean_short_answer(answer.text) if style == "short" else strip_citations(answer.text).strip()
    record = {
        "id": question.id,
        "question": question.text,
        "answers": list(question.answers),
        "raw": answer.text,
        "prediction": prediction,
        "em": answer_em(prediction, question.answers),
        "f1": answer_f1(prediction, question.answers),
        "accuracy": float(has_answer(prediction, question.answers)),
        # EM without the short-answer clean-up (only citation markers removed): what the clean-up is worth.
        "em_uncleaned": answer_em(strip_citations(answer.text), question.answers),
        "messages": answer.messages,
        "messages_sha256": hashlib.sha256(json.dumps(answer.messages, ensure_ascii=False).encode()).hexdigest(),
        "retrieved": [{"chunk_id": h.chunk.chunk_id, "doc_id": h.chunk.doc_id, "score": round(h.score, 4)}
                      for h in sorted(answer.hits, key=lambda h: -h.score)],
        "sent": numbered,
        "timings_ms": {k: round(v, 1) for k, v in answer.timings_ms.items()},
        "latency_ms": round(answer.timings_ms.get("total", 0.0), 1),
        "prompt_tokens": answer.usage.prompt_tokens,
        "completion_tokens": answer.usage.completion_tokens,
    }
    if numbered:
        texts = [f"{p['title']}\n{p['text']}" for p in by_rank]
        record["answer_recall@1"] = answer_recall(texts, question.answers, 1)
        record["answer_recall@sent"] = answer_recall(texts, question.answers, len(texts))
        record["deterministic_support"] = lexical_support(prediction, texts)
    if style == "cited":
        cited = [c.number for c in answer.citations]
        record["cited"] = cited
        record["citation_precision"] = (
            sum(has_answer(numbered[n - 1]["text"], question.answers) for n in cited) / len(cited) if cited else None
        )
    return record


def _passage_index(config: Config, spec: QAEval) -> Path:
    if spec.index_dir is not None:
        return spec.index_dir.resolve()  # absolute: the same run resumes from any working directory
    if spec.dataset not in BEIR_SETS:
        raise NoPassageCollection(
            f"{spec.dataset} needs a passage collection to retrieve from (Wikipedia's DPR passages): "
            "pass --index DIR of an index built from it, or run --closed-book"
        )
    dataset = load_beir(config.data_dir, spec.dataset)
    index_dir = cached_index_dir(config, dataset, file_sha256(dataset.corpus))
    ensure_index(config, dataset.corpus, index_dir)
    return index_dir


def _mean(values: list) -> float:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else 0.0


def summarize(spec: QAEval, records: list[dict], style: Style) -> dict:
    judged = [r["faithfulness"] for r in records if isinstance(r.get("faithfulness"), dict)]
    stages = sorted({s for r in records for s in r["timings_ms"]})
    metrics = {
        "kind": "qa",
        "dataset": spec.dataset,
        "closed_book": spec.closed_book,
        "prompt": style,
        "queries": len(records),
        **{name: round(_mean([r[name] for r in records]), 4) for name in INTERVAL_METRICS},
        "em_uncleaned": round(_mean([r.get("em_uncleaned") for r in records]), 4),
        "intervals": {name: mean_interval([r[name] for r in records]).as_dict() for name in INTERVAL_METRICS},
        "latency_ms": {"p50": round(percentile([r["latency_ms"] for r in records], 50), 1),
                       "p95": round(percentile([r["latency_ms"] for r in records], 95), 1)},
        "stage_ms": {s: {"p50": round(percentile([r["timings_ms"][s] for r in records if s in r["timings_ms"]], 50), 1),
                         "p95": round(percentile([r["timings_ms"][s] for r in records if s in r["timings_ms"]], 95), 1)}
                     for s in stages},
        "prompt_tokens_mean": round(_mean([r["prompt_tokens"] for r in records]), 1),
        "completion_tokens_mean": round(_mean([r["completion_tokens"] for r in records]), 1),
    }
    sampled: dict[str, list] = {}
    if not spec.closed_book:
        metrics["passages_sent_mean"] = round(_mean([len(r["sent"]) for r in records]), 2)
        metrics["answer_recall@1"] = round(_mean([r.get("answer_recall@1") for r in records]), 4)
        metrics["answer_recall@sent"] = round(_mean([r.get("answer_recall@sent") for r in records]), 4)
        # The faithfulness figures are means over samples too (the answers that have one), so they carry intervals.
        sampled["deterministic_support"] = [r.get("deterministic_support") for r in records]
        metrics["deterministic_support"] = round(_mean(sampled["deterministic_support"]), 4)
    if style == "cited":
        precision = [r["citation_precision"] for r in records if r.get("citation_precision") is not None]
        metrics["citation_precision"] = round(_mean(precision), 4)
        metrics["answers_with_citation"] = round(_mean([float(bool(r.get("cited"))) for r in records]), 4)
        sampled["citation_precision"] = precision
    if judged:
        metrics["faithfulness"] = round(_mean([j["score"] for j in judged]), 4)
        metrics["judged"] = len(judged)
        metrics["judge_unparsed"] = sum(j["unparsed"] for j in judged)
        sampled["faithfulness"] = [j["score"] for j in judged]
    if not spec.closed_book:
        metrics["intervals"].update({name: mean_interval([v for v in values if v is not None]).as_dict()
                                     for name, values in sampled.items()})
    return metrics
