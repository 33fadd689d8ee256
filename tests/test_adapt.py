"""`deeprag adapt` (issue 15): the round trip on a hand-built case, negatives without copies of the source,
adapt end to end on a tiny corpus with a tiny cross-encoder on the CPU (writes adapted/, search uses it and says
so, --reset removes it, a kill mid-run leaves the old reranker in force), and no benchmark data on its path."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ground.config import load_config, updated
from retrieval.adaptation import store
from retrieval.adaptation.negatives import mine, near_duplicate, survives
from retrieval.reranker_training.sources import Question
from tests.conftest import REPO, write

TOPICS = ["volcano", "glacier", "lighthouse", "orchard", "harbor", "canyon", "meadow", "reef", "desert", "tundra",
          "marsh", "prairie", "fjord", "savanna", "lagoon", "plateau", "geyser", "delta", "atoll", "mesa"]
WORDS = ["ancient", "quiet", "northern", "crimson", "hollow", "silver", "restless", "narrow", "golden", "broken"]
THINGS = ["ferns", "stones", "birds", "rivers", "roads", "lamps", "boats", "walls", "bridges", "fields"]


def corpus(folder: Path, files: int = 4) -> Path:
    """Twenty short articles, one topic each, five sentences of words mostly their own, in ``files`` files."""
    rng = random.Random(7)
    for f in range(files):
        parts = []
        for topic in TOPICS[f::files]:
            sentences = [f"The {topic} holds {rng.choice(WORDS)} {rng.choice(THINGS)} and {topic} {rng.choice(THINGS)} "
                         f"near the {topic}{n} valley." for n in range(5)]
            parts.append(f"# The {topic}\n\n" + " ".join(sentences) + "\n")
        write(folder / f"part{f}.md", "\n".join(parts))
    return folder


@pytest.fixture(scope="module")
def blank_cross_encoder(tiny_cross_encoder, tmp_path_factory) -> str:
    """The tiny cross-encoder with its scoring head zeroed: every pair scores the same before training, so
    any ranking it learns from the statements shows as a held-out gain."""
    import torch
    from transformers import BertForSequenceClassification

    folder = tmp_path_factory.mktemp("blank-cross-encoder")
    model = BertForSequenceClassification.from_pretrained(tiny_cross_encoder)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (Path(tiny_cross_encoder) / name).exists():
            (folder / name).write_bytes((Path(tiny_cross_encoder) / name).read_bytes())
    return str(folder)


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory, embedder, blank_cross_encoder) -> tuple[Path, dict]:
    """An index of the tiny corpus and the settings adapt runs with: the blank tiny cross-encoder as the
    configured reranker, statements only (trusted to judge it: no LLM here), a recipe that moves a tiny model in a
    few dozen steps."""
    from ingest.pipeline import Ingestor

    root = tmp_path_factory.mktemp("adapt")
    env = {"DEEPRAG_RETRIEVAL__RERANKER_MODEL": blank_cross_encoder, "DEEPRAG_RETRIEVAL__RERANKER_PRECISION": "float32",
           "DEEPRAG_CHUNKING__MAX_TOKENS": "64", "DEEPRAG_CHUNKING__OVERLAP_TOKENS": "0",
           "DEEPRAG_ADAPT__QUERIES": "ict", "DEEPRAG_ADAPT__TRUST_STATEMENTS": "true", "DEEPRAG_ADAPT__BUDGET_MINUTES": "60", "DEEPRAG_ADAPT__EPOCHS": "3",
           "DEEPRAG_ADAPT__LEARNING_RATE": "0.001", "DEEPRAG_ADAPT__HELDOUT_SHARE": "0.25",
           "DEEPRAG_ADAPT__ICT_PER_CHUNK": "3", "DEEPRAG_ADAPT__CPU_BATCH_SIZE": "8", "DEEPRAG_ADAPT__MAX_LENGTH": "128"}
    config = load_config(env=env, overrides={"index_dir": str(root / "index")})
    Ingestor.for_config(config, embedder=embedder).run([corpus(root / "docs")])
    return root / "index", env


def cli(index: Path, env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args, "--index", str(index)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, **env, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"})


def q(qid: str, source: str, chunk: int) -> Question:
    return Question(qid, f"query {qid}", str(chunk), source, origin=str(chunk))


def test_round_trip_keeps_a_query_only_when_its_chunk_is_in_the_top_k():
    assert survives(3, [1, 2, 3, 4], k=3)
    assert not survives(4, [1, 2, 3, 4], k=3)
    assert not survives(9, [], k=3)
    ranked = {"query a": [(1, "alpha beta gamma"), (2, "delta epsilon"), (3, "zeta eta theta")],
              "query b": [(1, "alpha beta gamma"), (2, "delta epsilon"), (5, "iota kappa")],
              "query c": [(4, "lambda mu nu xi"), (6, "lambda mu nu xi omicron"), (7, "pi rho")]}
    settings = load_config(env={}).adapt.model_copy(update={"roundtrip_k": 2})
    mined = mine([q("a", "llm", 2), q("b", "llm", 5), q("c", "llm", 4)], {}, lambda text: ranked[text], settings)
    assert [row.qid for row in mined.rows] == ["a", "c"]  # b's chunk 5 is third: outside the top 2
    assert mined.survivors() == {"llm": "2 of 3"}
    assert mined.rows[0].negatives == ["1", "3"]
    assert mined.rows[1].negatives == ["7"]  # 6 is a near-duplicate of the source chunk 4, not a negative


def test_near_duplicates_are_judged_by_shared_words_in_either_script():
    assert near_duplicate("The cat sat on the mat.", "the cat sat on the mat", 0.6)
    assert not near_duplicate("The cat sat on the mat.", "Dogs bark at the moon tonight.", 0.6)
    assert near_duplicate("检索增强生成结合检索与生成", "检索增强生成结合了检索与生成", 0.6)


def test_adapt_end_to_end_then_search_uses_it_and_reset_removes_it(tiny_index, tmp_path):
    """The run reads nothing of the benchmarks: no evaluation module is imported, the shared data is out of reach."""
    index, env = tiny_index
    probe = ("import sys, runpy; sys.argv = ['deeprag', 'adapt', '--index', sys.argv[1]]\n"
             "try:\n    runpy.run_module('app.cli', run_name='__main__')\nexcept SystemExit as exit:\n"
             "    assert not exit.code, exit.code\n"
             "print(sorted(m for m in sys.modules if m == 'eval' or m.startswith(('eval.', 'data.'))))\n")
    done = subprocess.run([sys.executable, "-c", probe, str(index)], capture_output=True, text=True, cwd=REPO,
                          timeout=1800, env={**os.environ, **env, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
                                             "DEEPRAG_DATA_DIR": str(tmp_path / "nowhere")})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    entry = json.loads((index / "manifest.json").read_text())["adapted"]
    training = entry["training"]
    kept = training["heldout_ndcg@10_after"] > training["heldout_ndcg@10_before"]
    assert training["kept"] == kept and entry["chosen"]["adapted_reranker"] == kept  # statements only: shares kept
    assert entry["counts"]["queries"]["ict"] >= 20 and training["steps"] > 0
    assert entry["base_model"] == env["DEEPRAG_RETRIEVAL__RERANKER_MODEL"] and entry["data_sha256"]
    # The tiny random model may or may not learn from a few dozen statements; either way the decision is obeyed.
    model = index / entry["model_dir"] if kept else Path(env["DEEPRAG_RETRIEVAL__RERANKER_MODEL"])
    if kept:
        assert (model / "config.json").is_file() and model.parent == index / store.ADAPTED
    else:
        assert not entry["model_dir"] and not any((index / store.ADAPTED).glob("reranker-*"))

    found = json.loads(cli(index, env, "search", "Which valley has the geyser?", "--json").stdout)
    assert found["reranked"] and found["reranker"] == str(model)
    assert found["adaptation"]["adapted_reranker"] == kept and not found["adaptation"]["stale"]
    listed = cli(index, env, "list").stdout
    assert "adapted" in listed and "STALE" not in listed
    # A reranker chosen since is the user's: the adaptation is not applied to it.
    other = json.loads(cli(index, {**env, "DEEPRAG_RETRIEVAL__RERANK_WEIGHT": "0.9"}, "search", "geyser", "--json").stdout)
    assert other["reranker"] == env["DEEPRAG_RETRIEVAL__RERANKER_MODEL"] and other["adaptation"] is None

    reset = cli(index, env, "adapt", "--reset")
    assert reset.returncode == 0 and "removed" in reset.stdout
    assert not (index / store.ADAPTED).exists() and json.loads((index / "manifest.json").read_text())["adapted"] is None
    after = json.loads(cli(index, env, "search", "Which valley has the geyser?", "--json").stdout)
    assert after["reranker"] == env["DEEPRAG_RETRIEVAL__RERANKER_MODEL"] and after["adaptation"] is None


def test_changed_files_make_the_adaptation_stale(tiny_index, embedder, tmp_path):
    from ingest.pipeline import Ingestor

    index, env = tiny_index
    copy = tmp_path / "index"
    subprocess.run(["cp", "-r", str(index), str(copy)], check=True)
    entry = store.Adaptation(
        model_dir="", base_model=env["DEEPRAG_RETRIEVAL__RERANKER_MODEL"], base_sha256=None, base_languages=["en"],
        start={}, chosen={"mode": "hybrid", "dense_weight": 0.5, "rerank": True, "rerank_weight": 0.5,
                          "adapted_reranker": False}, corpus_digest="", data_sha256="x")
    from ingest.index_dir import open_docstore

    docstore = open_docstore(copy)
    entry = store.Adaptation(**{**entry.to_json(), "corpus_digest": store.corpus_digest(docstore)})
    docstore.close()
    store.commit(copy, None, entry)
    assert "STALE" not in cli(copy, env, "list").stdout
    config = load_config(env=env, overrides={"index_dir": str(copy)})
    write(tmp_path / "docs" / "new.md", "# A new article\n\nA new file changes the corpus. It has three sentences. Here.")
    Ingestor.for_config(config, embedder=embedder).run([tmp_path / "docs"])
    assert json.loads((copy / "manifest.json").read_text())["adapted"] == entry.to_json()  # ingestion carries it
    assert "STALE" in cli(copy, env, "list").stdout


def test_a_kill_mid_run_leaves_the_previous_reranker_in_force(tiny_index, tmp_path):
    index, env = tiny_index
    copy = tmp_path / "index"
    subprocess.run(["cp", "-r", str(index), str(copy)], check=True)
    before = (copy / "manifest.json").read_text()
    searched = json.loads(cli(copy, env, "search", "geyser", "--json").stdout)
    for delay in (4.0, 9.0):  # during the queries or round trip, then during training
        process = subprocess.Popen([sys.executable, "-m", "app.cli", "adapt", "--index", str(copy)], cwd=REPO,
                                   env={**os.environ, **env, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert (copy / "manifest.json").read_text() == before
        found = json.loads(cli(copy, env, "search", "geyser", "--json").stdout)
        assert (found["reranker"], found["adaptation"]) == (searched["reranker"], searched["adaptation"])


def test_no_evaluation_module_is_imported_by_the_adapt_code_path():
    """Statically too: importing the CLI command and everything adapt runs pulls in no evaluation module."""
    probe = ("import sys, app.cli_adapt, generation.adapt_run, generation.query_writer\n"
             "print(sorted(m for m in sys.modules if m == 'eval' or m.startswith(('eval.', 'data.'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_training_out_of_memory_is_one_line_naming_the_smaller_step(tmp_path, monkeypatch):
    """torch reports a failed CPU allocation as a bare RuntimeError (seen when adapting the Chinese seeds under a
    memory limit); adapt must turn it into the fix, and must not swallow other errors. Mocked: running a real
    machine out of memory in a test would take down whatever else runs beside it."""
    from ground.config import AdaptConfig
    from retrieval.adaptation import training

    settings = training.settings_for(AdaptConfig(), train_rows=8, max_seconds=60, device="cpu")  # 4 queries a step
    failure = RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
                           "memory: you tried to allocate 19660800 bytes. Error code 12 (Cannot allocate memory)")

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(training, "train", fail)
    with pytest.raises(training.TrainingOutOfMemory) as raised:
        training.train_reranker("base", tmp_path / "pack", tmp_path / "out", {}, [], [], settings, {})
    message = str(raised.value)
    assert "\n" not in message and "adapt.cpu_batch_size" in message and "DEEPRAG_ADAPT__CPU_BATCH_SIZE=2" in message
    assert raised.value.__cause__ is failure

    failure = RuntimeError("expected all tensors to be on the same device")
    with pytest.raises(RuntimeError, match="same device"):
        training.train_reranker("base", tmp_path / "pack", tmp_path / "out", {}, [], [], settings, {})


def test_statements_the_reranker_cannot_read_are_not_trained_on(tmp_path, embedder, blank_cross_encoder):
    """An English-only reranker over Chinese text: search never gives it Chinese questions, so adapt must not
    spend its budget teaching it Chinese statements. A Chinese-only corpus with statements only ends in one line
    naming the fix, before any round trip or training; nothing is written to the manifest."""
    from generation.adapt_run import AdaptError, adapt
    from ingest.pipeline import Ingestor

    sentences = ["火山口的湖泊终年不冻，湖水呈深蓝色。", "当地牧民每年夏天把羊群赶到湖边的草场。", "冬天的积雪很厚，道路常常中断。",
                 "湖的北岸有一座古老的寺庙。", "游客多在七月和八月到来。"]
    write(tmp_path / "docs" / "lake.md", "# 火山湖\n\n" + "".join(sentences * 3) + "\n")
    config = load_config(env={"DEEPRAG_RETRIEVAL__RERANKER_MODEL": blank_cross_encoder,
                              "DEEPRAG_RETRIEVAL__RERANKER_LANGUAGES": "en", "DEEPRAG_ADAPT__QUERIES": "ict"},
                         overrides={"index_dir": str(tmp_path / "index")})
    Ingestor.for_config(config, embedder=embedder).run([tmp_path / "docs"])
    with pytest.raises(AdaptError) as raised:
        adapt(config)
    message = str(raised.value)
    assert "reads en only" in message and "are in zh" in message and "multilingual cross-encoder" in message
    assert json.loads((tmp_path / "index" / "manifest.json").read_text()).get("adapted") is None
    assert not (tmp_path / "index" / "adapt-work" / "pack").exists()


def test_statements_alone_do_not_put_a_trained_reranker_in_force(tiny_index):
    """Held-out statements are no judge by default: a statements-only run stops before the round trip with one
    line naming both fixes, and where only statements reached the held-out split the starting reranker stays."""
    from generation.adapt_run import AdaptError, adapt
    from retrieval.adaptation import tuning

    index, env = tiny_index
    config = load_config(env={**env, "DEEPRAG_ADAPT__TRUST_STATEMENTS": "false"}, overrides={"index_dir": str(index)})
    manifest = (index / "manifest.json").read_text()
    with pytest.raises(AdaptError, match=r"only inverse-cloze statements .*--queries llm.*adapt.trust_statements"):
        adapt(config)
    assert (index / "manifest.json").read_text() == manifest
    untrusted = tuning.without_queries(config.retrieval, adapted=True, trust_statements=False)
    trusted = tuning.without_queries(config.retrieval, adapted=True, trust_statements=True)
    assert untrusted.chosen == untrusted.current and untrusted.chosen.reranker != tuning.ADAPTED
    assert trusted.chosen.reranker == tuning.ADAPTED and "trust_statements" in untrusted.why


def test_without_the_training_tools_adapt_stops_before_writing_any_query(tiny_index, monkeypatch):
    """A plain install lacks the `train` extra; adapt must say so up front, not after an hour of LLM queries."""
    import importlib.util

    from generation.adapt_run import adapt
    from retrieval.adaptation.training import TrainingToolsMissing

    index, env = tiny_index
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "datasets" else real_find_spec(name, *a))
    config = load_config(env=env, overrides={"index_dir": str(index), "adapt.queries": "ict,llm"})
    before = sorted(p.name for p in index.rglob("*"))
    with pytest.raises(TrainingToolsMissing, match=r"datasets.*pip install -e '\.\[train\]'"):
        adapt(config, client_factory=lambda: pytest.fail("no query may be asked for"))
    assert sorted(p.name for p in index.rglob("*")) == before


def test_llm_queries_the_reranker_cannot_read_choose_shares_but_do_not_train_it():
    """A Chinese question from the LLM over an English-only reranker: search routes such questions around the
    reranker, so it is kept for choosing shares and left out of the reranker's training and judging."""
    from generation.adapt_run import _readable_by_reranker

    base = load_config(env={"DEEPRAG_RETRIEVAL__RERANKER_LANGUAGES": "en"}).retrieval
    questions = [Question("s-en", "The geyser erupts every hour in the valley.", "1", "ict", origin="1"),
                 Question("s-zh", "火山口的湖泊终年不冻，湖水呈深蓝色。", "2", "ict", origin="2"),
                 Question("q-en", "How often does the geyser erupt?", "1", "llm", origin="1"),
                 Question("q-zh", "湖水为什么终年不冻？", "2", "llm", origin="2")]
    kept, shares_only = _readable_by_reranker(questions, base)
    assert [q.qid for q in kept] == ["s-en", "q-en", "q-zh"] and shares_only == {"q-zh"}
    multilingual = load_config(env={"DEEPRAG_RETRIEVAL__RERANKER_LANGUAGES": "*"}).retrieval
    assert _readable_by_reranker(questions, multilingual) == (questions, set())


def test_the_reranker_is_trained_only_when_a_held_out_query_it_reads_can_judge_it():
    """Training costs most of adapt's budget: it runs when an LLM query the reranker reads (or a trusted
    statement) can judge the result, is skipped when every LLM query only chooses shares, and a statements-only
    run stops before the round trip."""
    from generation.adapt_run import AdaptError, _reranker_is_judged

    settings = load_config(env={}).adapt
    statement = Question("s-en", "The geyser erupts every hour in the valley.", "1", "ict", origin="1")
    english = Question("q-en", "How often does the geyser erupt?", "1", "llm", origin="1")
    chinese = Question("q-zh", "湖水为什么终年不冻？", "2", "llm", origin="2")
    assert _reranker_is_judged([statement, english, chinese], {"q-zh"}, settings)
    assert not _reranker_is_judged([statement, chinese], {"q-zh"}, settings)
    assert _reranker_is_judged([statement, chinese], {"q-zh"}, updated(settings, {"trust_statements": True}))
    with pytest.raises(AdaptError, match="only inverse-cloze statements"):
        _reranker_is_judged([statement], set(), settings)


def test_the_reranker_is_judged_on_a_sample_against_the_head_search_reranks():
    from generation.adapt_run import _judging_rows
    from retrieval.reranker_training.mining import Mined

    settings = updated(load_config(env={}).adapt, {"roundtrip_k": 4})
    rows = [Mined(f"q{i}", f"query {i}", "llm", f"p{i}", [f"n{i}-{r}" for r in range(29)]) for i in range(12)]
    judged = _judging_rows(rows, settings, 5)
    assert len(judged) == 5 and len({r.qid for r in judged}) == 5
    assert all(r.negatives == [f"n{r.qid[1:]}-{k}" for k in range(3)] for r in judged)  # the first stage's top 3
    assert _judging_rows(rows, settings, 5) == judged  # seeded: a resumed run is judged on the same queries
    assert len(_judging_rows(rows[:3], settings, 5)) == 3


def test_on_a_cpu_the_judge_shrinks_to_fit_the_budget():
    """Each of the judge's two evaluations may take 15% of the budget at the measured scoring rate."""
    from generation.adapt_run import MIN_JUDGE_QUERIES, _judge_size

    settings = load_config(env={}).adapt  # judge_queries 200, 20 candidates a query
    assert _judge_size(settings, None, 600) == 200  # a GPU: the configured judge
    assert _judge_size(settings, 10.0, 1800) == 135  # 30 min at 10 pairs/s: 0.15 × 1800 × 10 / 20
    assert _judge_size(settings, 1000.0, 1800) == 200  # a fast machine: never more than configured
    assert _judge_size(settings, 10.0, 60) == MIN_JUDGE_QUERIES  # too small a budget: the floor (and a warning)


def test_a_share_change_is_taken_only_when_its_gain_holds_across_resamples():
    """The best grid point's gain over the current settings must clear adapt.min_gain on average and keep the
    lower end of its paired 95% interval above 0: an average gain from queries that go both ways is not taken."""
    from ground.intervals import paired_difference
    from retrieval.adaptation.tuning import worth_changing

    current = [0.5] * 100
    steady = [0.52] * 100                       # +0.02 on every query
    mixed = [1.0] * 12 + [0.0] * 8 + [0.5] * 80  # +0.02 on average, 12 up and 8 down
    assert worth_changing(paired_difference(steady, current), min_gain=0.005)
    assert not worth_changing(paired_difference(mixed, current), min_gain=0.005)
    assert not worth_changing(paired_difference(steady, current), min_gain=0.05)
