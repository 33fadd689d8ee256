"""`run_qa` end to end against the real vLLM test server (tiny-deepseek-v3): what each record keeps, and resume.

The tiny model's answers are gibberish, so these tests check the audit trail and the run mechanics, not scores.
"""

from __future__ import annotations

import json

import pytest
from llm_fixtures import sample_index, vllm_url  # noqa: F401 (fixtures)

from eval.datasets import load_questions
from eval.qa_run import QAEval, run_qa
from ground.config import load_config
from tests.conftest import shared_data


@pytest.fixture
def config(sample_index, vllm_url, tmp_path):  # noqa: F811
    shared_data("nq-open-oracle/beir/queries.jsonl")
    return load_config(env={}, overrides={
        "retrieval.reranker_model": "", "retrieval.k": 3, "llm.base_url": vllm_url, "llm.temperature": 0.0,
        "eval.answer_max_tokens": 8, "eval.workers": 2, "eval.runs_dir": str(tmp_path),
    })


def lines(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def test_records_keep_prompt_retrieved_ids_and_passages_sent_and_the_run_resumes(config, sample_index, tmp_path):  # noqa: F811
    spec = QAEval("nq-oracle", tmp_path / "rag", limit=2, index_dir=sample_index)
    metrics = run_qa(config, spec)
    first = lines(spec.run_dir)
    assert metrics["queries"] == 2 and metrics["prompt"] == "short" and "questions_per_minute" in metrics
    assert set(metrics["intervals"]) == {"em", "f1", "accuracy", "deterministic_support"}
    record = first[0]
    sent_text = record["messages"][1]["content"]
    assert record["retrieved"] and all({"chunk_id", "doc_id", "score"} <= set(r) for r in record["retrieved"])
    assert 1 <= len(record["sent"]) <= 3
    for passage in record["sent"]:  # every passage recorded as sent is in the prompt under its number
        assert f"[{passage['number']}] {passage['title']}\n{passage['text']}" in sent_text
    assert record["sent"][0]["chunk_id"] in {r["chunk_id"] for r in record["retrieved"]}
    assert record["question"] in sent_text and "answer only" in record["messages"][0]["content"]
    assert record["completion_tokens"] > 0 and isinstance(record["raw"], str) and len(record["messages_sha256"]) == 64

    spec.limit = 3  # a longer run reuses the finished questions and answers only the new one
    run_qa(config, spec)
    after = lines(spec.run_dir)
    assert len(after) == 3 and after[:2] == first
    answered = json.loads((spec.run_dir / "metrics.json").read_text(encoding="utf-8"))["questions_per_minute"]
    again = run_qa(config, spec)  # nothing left to answer: the summary is rewritten, the measured rate is kept
    assert again["questions_per_minute"] == answered and len(lines(spec.run_dir)) == 3


def test_closed_book_sends_the_same_style_without_passages(config, tmp_path):
    metrics = run_qa(config, QAEval("nq-oracle", tmp_path / "closed", closed_book=True, limit=1))
    record = lines(tmp_path / "closed")[0]
    assert metrics["closed_book"] and record["sent"] == [] and record["retrieved"] == []
    assert record["messages"][1]["content"] == f"Question: {record['question']}\nAnswer:"


def test_a_judge_limit_judges_the_first_questions_only(config, sample_index, tmp_path):  # noqa: F811
    """The judge is a second LLM call per question; `--judge-limit N` spends it on the run's first N questions,
    while lexical support and citation precision still cover every question."""
    spec = QAEval("nq-oracle", tmp_path / "cited", prompt="cited", judge=True, judge_limit=1, limit=3,
                  index_dir=sample_index)
    metrics = run_qa(config, spec)
    records = {r["id"]: r for r in lines(spec.run_dir)}
    first = [q.id for q in load_questions(None, "nq-oracle")[:3]]
    assert "faithfulness" in records[first[0]]
    assert all("faithfulness" not in records[q] for q in first[1:])
    assert metrics["judged"] == 1 and metrics["queries"] == 3
    assert all("citation_precision" in r for r in records.values())
