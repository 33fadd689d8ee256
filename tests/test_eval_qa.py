"""QA scoring pieces that need no server: citation stripping, aggregation, the guards before a run starts."""

import pytest
from llm_fixtures import sample_index  # noqa: F401 (fixture)

from eval.qa_run import NoPassageCollection, QAEval, run_qa, summarize
from ground.config import Config, load_config
from retrieval.reranker import RerankerUnavailable
from tests.conftest import shared_data


def record(id, em, f1, recall1, recall_sent, support, latency, judge=None):
    return {"id": id, "answers": ["Röntgen"], "prediction": "It was Röntgen." if em else "Curie", "em": em, "f1": f1,
            "accuracy": em, "answer_recall@1": recall1, "answer_recall@sent": recall_sent, "sent": [{}] * 5,
            "deterministic_support": support, "latency_ms": latency,
            "timings_ms": {"total": latency, "first_token": latency / 2},
            "prompt_tokens": 800, "completion_tokens": 10, **({"faithfulness": judge} if judge else {})}


def test_summary_by_hand():
    records = [
        record("a", 1.0, 1.0, 1.0, 1.0, 1.0, 100.0, {"score": 1.0, "unparsed": False}),
        record("b", 0.0, 0.5, 0.0, 1.0, None, 300.0, {"score": None, "unparsed": True}),
        record("c", 0.0, 0.0, 0.0, 0.0, 0.5, 200.0, {"score": 0.0, "unparsed": False}),
    ]
    metrics = summarize(QAEval("nq-oracle", run_dir=None), records, "short")
    assert metrics["em"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["f1"] == 0.5
    assert metrics["accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["intervals"]["em"]["n"] == 3 and metrics["intervals"]["em"]["low"] <= 1 / 3 <= metrics["intervals"]["em"]["high"]
    assert metrics["answer_recall@1"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["answer_recall@sent"] == pytest.approx(2 / 3, abs=1e-4)
    assert metrics["passages_sent_mean"] == 5
    assert metrics["deterministic_support"] == 0.75  # the answer with no content words is not averaged in
    assert metrics["faithfulness"] == 0.5 and metrics["judge_unparsed"] == 1  # unparsed is counted, not scored
    # the faithfulness figures carry intervals over the answers that have them (2 of 3 here), not over all
    assert metrics["intervals"]["faithfulness"]["n"] == 2 and metrics["judged"] == 3
    assert metrics["intervals"]["deterministic_support"] == {**metrics["intervals"]["deterministic_support"], "mean": 0.75, "n": 2}
    assert metrics["latency_ms"] == {"p50": 200.0, "p95": 290.0}
    assert metrics["stage_ms"]["first_token"]["p50"] == 100.0


def test_open_domain_sets_need_a_passage_index_or_closed_book(tmp_path):
    shared_data("triviaqa-open/triviaqa.test.jsonl")
    with pytest.raises(NoPassageCollection, match="--closed-book"):
        run_qa(Config(), QAEval("triviaqa", run_dir=tmp_path / "run", limit=2))


def test_a_reranking_run_whose_reranker_cannot_be_loaded_stops_before_any_answer(sample_index, tmp_path):  # noqa: F811
    """Search falls back to the fused order without its reranker; a benchmark must not, or its figures are filed
    under a setting they never had (a session's cited run lost its reranker this way when models/ moved)."""
    shared_data("nq-open-oracle/beir/queries.jsonl")
    config = load_config(env={}, overrides={"retrieval.reranker_model": str(tmp_path / "no-such-model"),
                                            "llm.base_url": "http://127.0.0.1:9/v1", "eval.runs_dir": str(tmp_path)})
    spec = QAEval("nq-oracle", tmp_path / "run", limit=2, index_dir=sample_index)
    with pytest.raises(RerankerUnavailable, match="retrieval.rerank = false"):
        run_qa(config, spec)
    assert not (spec.run_dir / "results.jsonl").exists()
