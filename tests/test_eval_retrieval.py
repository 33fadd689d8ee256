"""`deeprag eval retrieval` end to end on a tiny BEIR set (real embedder, real FAISS and BM25)."""

import json
from pathlib import Path

import pytest

from app.cli import main
from eval.metrics import documents_from_chunks
from ground.config import load_config
from retrieval.searcher import Searcher
from eval.compare import RunMissing, compare_table, load_metrics
from eval.datasets import DatasetMissing, load_beir, load_questions, resolve
from tests.conftest import shared_data

DOCS = {
    "d1": ("Volcanoes", "Magma rises through the crust and erupts from volcanoes as lava."),
    "d2": ("Photosynthesis", "Plants turn sunlight, water and carbon dioxide into sugar and oxygen."),
    "d3": ("Tides", "The gravitational pull of the moon causes ocean tides on Earth."),
    "d4": ("Insulin", "Insulin is a hormone made by the pancreas that lowers blood glucose."),
    "q2": ("Echo", "This document has the same id as query q2 and repeats it: how do plants make sugar from sunlight"),
}
QUERIES = {
    "q1": ("what makes lava erupt from volcanoes", ["lava"]),
    "q2": ("how do plants make sugar from sunlight", ["oxygen"]),
    "q3": ("which hormone lowers blood glucose", ["Insulin"]),
}
QRELS = [("q1", "d1", 1), ("q2", "d2", 1), ("q3", "d4", 1)]


def write_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w") as handle:
        for doc_id, (title, text) in DOCS.items():
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(root / "queries.jsonl", "w") as handle:
        for qid, (text, answers) in QUERIES.items():
            handle.write(json.dumps({"_id": qid, "text": text, "metadata": {"answers": answers}}) + "\n")
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS))
    return root


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/ and .cache/ land here
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return write_beir(tmp_path / "toy")


def test_bm25_and_dense_runs_write_scores_and_reports(workspace, capsys):
    assert main(["eval", "retrieval", "--dataset", str(workspace), "--retriever", "bm25"]) == 0
    assert main(["eval", "retrieval", "--dataset", str(workspace), "--retriever", "dense",
                 "--ignore-identical-ids"]) == 0
    bm25 = json.loads(Path("runs/toy-bm25/metrics.json").read_text())
    dense = json.loads(Path("runs/toy-dense/metrics.json").read_text())
    assert bm25["queries"] == 3 and bm25["recall@100"] == 1.0
    # With identical ids skipped, the echo document "q2" cannot outrank d2 for query q2.
    assert dense["ndcg@10"] == 1.0
    records = [json.loads(line) for line in Path("runs/toy-dense/results.jsonl").read_text().splitlines()]
    assert all(r["id"] not in r["docs"] for r in records) and any("q2" in r["docs"] for r in records)
    config = json.loads(Path("runs/toy-bm25/config.json").read_text())
    assert config["file_sha256"]["corpus"] and config["embedding_model"].endswith("all-MiniLM-L6-v2")
    assert "api_key" not in config["config"]["llm"]
    for name in ("report.md", "recall_at_k.png", "latency.png"):
        assert (Path("runs/toy-bm25") / name).stat().st_size > 0
    # Both runs share one cached index: the dataset name plus a hash of the content settings.
    assert config["index_dir"] == json.loads(Path("runs/toy-dense/config.json").read_text())["index_dir"]
    assert len(list(Path(".cache/indexes").iterdir())) == 1

    table = compare_table([load_metrics("toy-bm25", Path("runs")), load_metrics("runs/toy-dense", Path("runs"))])
    assert table.splitlines()[2].startswith("| toy-bm25 | toy | 3 |")
    assert "ndcg@10" in table.splitlines()[0]


def test_identical_id_is_retrieved_when_not_skipped(workspace):
    assert main(["eval", "retrieval", "--dataset", str(workspace), "--retriever", "bm25", "--name", "keep"]) == 0
    records = {json.loads(line)["id"]: json.loads(line) for line in Path("runs/keep/results.jsonl").read_text().splitlines()}
    assert records["q2"]["docs"][0] == "q2"  # the echo document repeats the query word for word


def test_missing_dataset_lists_where_it_looked(tmp_path):
    data_dir = tmp_path / "nowhere"
    with pytest.raises(DatasetMissing) as info:
        resolve(data_dir, "no-such-set", env={"DEEPRAG_DATA_DIR": str(tmp_path / "elsewhere")})
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "no-such-set") in message
    assert str(tmp_path / "elsewhere" / "no-such-set") in message
    assert "shared/data/no-such-set" in message
    with pytest.raises(DatasetMissing, match="missing .*corpus.jsonl"):
        load_beir(data_dir, str(tmp_path))


def test_missing_dataset_is_a_one_line_cli_error(tmp_path, capsys):
    assert main(["eval", "retrieval", "--dataset", str(tmp_path / "absent")]) == 2
    assert "is not a BEIR directory" in capsys.readouterr().err


def test_questions_carry_answers(workspace):
    beir = load_beir(None, str(workspace))
    assert beir.queries["q3"].answers == ("Insulin",)
    assert beir.qrels["q1"] == {"d1": 1}


def test_shared_qa_sets_load_with_their_sizes():
    for relative in ("nq-open-oracle/beir", "nq-open/NQ-open.dev.jsonl", "triviaqa-open/triviaqa.test.jsonl"):
        shared_data(relative)
    assert len(load_questions(None, "nq-oracle")) == 2655
    nq = load_questions(None, "nq-open")
    assert len(nq) == 3610 and nq[0].answers == ("14 December 1972 UTC", "December 1972")
    trivia = load_questions(None, "triviaqa")
    assert len(trivia) == 11313 and "Scorpio" in trivia[1].answers


def test_compare_names_a_missing_run(tmp_path):
    with pytest.raises(RunMissing, match="no finished run 'ghost'"):
        load_metrics("ghost", tmp_path)


def test_hybrid_rerank_reranks_the_head_and_keeps_the_rest(workspace, tiny_cross_encoder):
    assert main(["eval", "retrieval", "--dataset", str(workspace), "--retriever", "hybrid+rerank",
                 "--reranker", tiny_cross_encoder]) == 0
    config = json.loads(Path("runs/toy-hybrid-rerank/config.json").read_text())
    assert config["reranker_model"] == tiny_cross_encoder
    records = [json.loads(line) for line in Path("runs/toy-hybrid-rerank/results.jsonl").read_text().splitlines()]
    assert all(sorted(r["docs"]) == sorted(DOCS) for r in records)  # every document, each once
    # The head of each ranking is what a user's reranked search returns, recomputed here independently.
    settings = load_config(env={}, overrides={"index_dir": config["index_dir"], "retrieval.reranker_model": tiny_cross_encoder})
    searcher = Searcher.for_config(settings)
    reordered = 0
    for record in records:
        reranked = documents_from_chunks(h.chunk.doc_id for h in searcher.search(record["query"], k=20).hits)
        fused = documents_from_chunks(h.chunk.doc_id for h in searcher.search(record["query"], k=20, rerank=False).hits)
        assert record["docs"][: len(reranked)] == reranked
        reordered += reranked != fused
    assert reordered  # the tiny reranker changes at least one order, so a run that skipped it would fail here


def test_hybrid_rerank_without_a_loadable_reranker_is_a_clear_error(workspace, capsys):
    code = main(["eval", "retrieval", "--dataset", str(workspace), "--retriever", "hybrid+rerank",
                 "--reranker", str(workspace / "no-such-model")])
    assert code == 2
    assert "cannot be loaded" in capsys.readouterr().err


def test_scaling_adds_distractors_and_reports_each_kind(workspace):
    assert main(["eval", "scaling", "--dataset", str(workspace), "--factors", "0,3", "--kinds", "exact,hnsw"]) == 0
    metrics = json.loads(Path("runs/scaling-toy/metrics.json").read_text())
    rows = {(r["kind"], r["factor"]): r for r in metrics["rows"]}
    assert rows[("exact", 0)]["vectors"] == 5 and rows[("exact", 3)]["vectors"] == 20
    assert rows[("exact", 3)]["index_mb"] > rows[("exact", 0)]["index_mb"]
    assert rows[("exact", 0)]["ndcg@10"] >= rows[("exact", 3)]["ndcg@10"]
    assert (Path("runs/scaling-toy") / "scaling.png").stat().st_size > 0


def test_distractors_are_unit_vectors_among_the_data():
    import numpy as np

    from eval.scaling import distractors

    rng = np.random.default_rng(1)
    data = rng.normal(size=(50, 32)).astype(np.float32) + 3.0  # a cluster away from the origin
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    made = distractors(data, 200, seed=7)
    assert made.shape == (200, 32)
    assert np.allclose(np.linalg.norm(made, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(made, distractors(data, 200, seed=7))
    random_units = rng.normal(size=(200, 32))
    random_units /= np.linalg.norm(random_units, axis=1, keepdims=True)
    # Nearer the data than random directions are: the best cosine to a real vector is much higher.
    assert (made @ data.T).max(axis=1).mean() > (random_units @ data.T).max(axis=1).mean() + 0.3


def test_hybrid_rerank_with_reranking_switched_off_is_a_clear_error(workspace, capsys, monkeypatch):
    monkeypatch.setenv("DEEPRAG_RETRIEVAL__RERANKER_MODEL", "")  # the documented way to switch reranking off
    code = main(["eval", "retrieval", "--dataset", str(workspace), "--retriever", "hybrid+rerank"])
    assert code == 2
    assert "retrieval.reranker_model is empty" in capsys.readouterr().err
