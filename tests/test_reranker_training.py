"""deeprag's own reranker: the shipped model loads offline from the repository and ranks sensibly, and the
training code (mine → pack → train) runs end to end on a tiny CPU sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import shared_data

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "deeprag-reranker-minilm-l6"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.mark.parametrize("precision", ["float32", "auto"])
def test_shipped_model_loads_offline_by_its_config_name_and_ranks_the_relevant_passage_first(precision):
    from ground.config import RetrievalConfig
    from retrieval.reranker import load_reranker

    reranker = load_reranker(RetrievalConfig().reranker_model, "cpu", precision)
    assert reranker is not None, "the shipped reranker must load with no internet, by the default config name"
    query = "What is the boiling point of water at sea level?"
    passages = [
        "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889.",
        "At sea level, pure water boils at 100 degrees Celsius (212 degrees Fahrenheit).",
        "Photosynthesis converts light energy into chemical energy stored in glucose.",
        "Water covers about 71 percent of the Earth's surface, mostly in oceans.",
    ]
    scores = reranker.score(query, passages)
    assert max(range(len(scores)), key=scores.__getitem__) == 1


def test_shipped_model_is_small_fp16_and_documented():
    from safetensors import safe_open

    weights = MODEL / "model.safetensors"
    assert weights.stat().st_size <= 50 * 1024 * 1024
    with safe_open(str(weights), "pt") as handle:
        dtypes = {str(handle.get_slice(name).get_dtype()) for name in handle.keys()}
    assert dtypes <= {"F16", "I64"}
    card = (MODEL / "MODEL_CARD.md").read_text()
    for needed in ("CC BY-SA", "WikiQA", "sha256", "nDCG@10", "seed"):
        assert needed in card


def test_score_mix_keeps_pure_order_at_weight_one_and_blends_otherwise():
    from retrieval.score_mix import mix

    rerank, fused = [3.0, 1.0, 2.0], [0.01, 0.03, 0.02]
    assert mix(rerank, fused, 1.0) == rerank
    blended = mix(rerank, fused, 0.5)
    assert blended[0] == pytest.approx(blended[1])  # z(3,1,2)+z(1,3,2) cancel for the outer two
    with pytest.raises(ValueError):
        mix(rerank, fused, 1.5)


def test_training_runs_end_to_end_on_a_tiny_cpu_sample(tmp_path):
    data = shared_data("reranker-train").parent
    from retrieval.reranker_training import ict
    from retrieval.reranker_training.__main__ import main
    from retrieval.reranker_training.mining import read_packed

    packed, out = tmp_path / "packed", tmp_path / "model"
    # The shipped recipe at toy size: BM25 negatives drawn at random from the top 30, ICT statements, MNRL.
    assert main(["--data-dir", str(data), "--limit", "12", "mine", "--out", str(packed), "--no-dense",
                 "--negatives", "3", "--heldout-negatives", "5", "--pick", "random", "--ict", "24",
                 "--ict-per-paragraph", "2"]) == 0
    passages, train_rows, heldout_rows = read_packed(packed)
    assert train_rows and heldout_rows
    assert {m.source for m in train_rows} == {"nq", "squad", "wikiqa", "ict"}
    for m in train_rows:
        assert len(m.negatives) == 3 and m.positive not in m.negatives
        assert all(n in passages for n in [m.positive, *m.negatives])
        if m.source == "ict":  # the paragraph the statement was cut from is never its negative
            assert ict.origin_of(m.positive) not in {ict.origin_of(n) for n in m.negatives}
            # negatives are trimmed like the positive, so length gives nothing away
            assert all(ict.is_ict_passage(n) for n in m.negatives)
    manifest = json.loads((packed / "manifest.json").read_text())
    assert len(manifest["inputs"]) == 5

    base = tmp_path / "base"
    assert main(["base", "--out", str(base)]) == 0
    assert main(["train", "--packed", str(packed), "--base-model", str(base), "--out", str(out), "--loss", "mnrl",
                 "--epochs", "0.2", "--batch-size", "4", "--max-length", "48", "--eval-steps", "2"]) == 0
    summary = json.loads((out / "final" / "training_summary.json").read_text())
    assert summary["steps"] >= 1 and "heldout_ndcg@10" in summary["heldout_after"]
    assert "heldout_ict_ndcg@10" in summary["heldout_after_by_source"]["ict"]
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(out / "final"), device="cpu")
    assert model.predict([("q", "p")]).shape == (1,)
    # The held-out scores reported (read from the trainer's log) are the saved model's own.
    from retrieval.reranker_training.train import heldout_evaluator

    rescored = heldout_evaluator(heldout_rows, passages)(model)
    assert rescored["heldout_ndcg@10"] == pytest.approx(summary["heldout_after"]["heldout_ndcg@10"], abs=0.01)


def test_ict_statements_are_cut_from_positives_rebuilt_from_their_id():
    import random

    from retrieval.reranker_training.ict import make_ict_questions, origin_of, rebuild_passage, trim_like_a_positive

    text = ("Marie Curie was a physicist and chemist who worked in Paris. "
            "She was the first woman to win a Nobel Prize in any field at all. "
            "Her discovery of polonium and radium changed physics for good. "
            "She died in 1934 in a sanatorium in the French Alps.")
    passages = {"p1": "Marie Curie\n" + text, "p2": "Short\nToo short to use."}
    questions, positives = make_ict_questions(passages, ["p1", "p2"], count=5, seed=1, per_paragraph=2,
                                              keep_probability=0.0)
    assert len(questions) == 2  # two statements of p1; p2 has fewer than three sentences
    assert questions[0].text != questions[1].text
    for q in questions:
        assert q.origin == origin_of(q.positive) == "p1" and q.source == "ict"
        assert q.text in text and q.text not in positives[q.positive]
        assert positives[q.positive].startswith("Marie Curie\n")
        assert rebuild_passage({"p1": passages["p1"]}, q.positive) == positives[q.positive]
    negative = trim_like_a_positive(passages, "p1", random.Random(3), keep_probability=0.0)
    assert len(rebuild_passage(passages, negative).split(". ")) == 3  # one of four sentences dropped
    whole, _ = make_ict_questions(passages, ["p1"], count=1, seed=1, keep_probability=1.0)
    assert whole[0].positive == "ict-p1#" and whole[0].text in rebuild_passage(passages, "ict-p1#")


def test_held_out_statements_never_share_a_paragraph_with_training_ones():
    from retrieval.reranker_training.sources import Question, split_heldout

    questions = [Question(f"q{p}-{i}", "s", f"ict-p{p}#{i}", "ict", origin=f"p{p}") for p in range(10) for i in range(3)]
    questions += [Question(f"nq{i}", "who?", f"n{i}", "nq") for i in range(10)]
    train, heldout = split_heldout(questions, {"ict": 4, "nq": 3}, seed=5)
    assert {q.origin for q in train if q.source == "ict"}.isdisjoint({q.origin for q in heldout if q.source == "ict"})
    assert sum(q.source == "nq" for q in heldout) == 3 and 4 <= sum(q.source == "ict" for q in heldout) <= 6
    assert len(train) + len(heldout) == len(questions)


def test_missing_data_dir_is_a_one_line_error(tmp_path, capsys):
    from retrieval.reranker_training.__main__ import main

    assert main(["--data-dir", str(tmp_path), "--limit", "2", "mine", "--out", str(tmp_path / "p"), "--no-dense"]) == 2
    assert "--data-dir" in capsys.readouterr().err


def test_the_time_budget_sets_aside_the_evaluations_after_training():
    from retrieval.reranker_training.train import seconds_to_train

    # 600 s in all, 100 s gone, 60 s per evaluation: the stopping step's comes off the top.
    assert seconds_to_train(600, spent=100, evaluation_seconds=60, sources=1) == 440
    # two sources: one more evaluation each
    assert seconds_to_train(600, spent=100, evaluation_seconds=60, sources=2) == 320
    assert seconds_to_train(100, spent=90, evaluation_seconds=60, sources=1) == 1.0  # one step at least
    assert seconds_to_train(None, spent=100, evaluation_seconds=60, sources=1) is None
