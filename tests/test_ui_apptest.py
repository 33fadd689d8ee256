"""The Streamlit app's behaviour through Streamlit's own AppTest (no browser): sidebar settings, the
Documents page with real ingestion, the Benchmarks page, and the chat's fault messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.ui.resources import job_runner
from tests.conftest import REPO, write
from tests.llm_fixtures import vllm_url  # noqa: F401 (fixture: a real vLLM server with tiny-deepseek-v3)

MAIN = str(REPO / "app" / "ui" / "main.py")
CLOSED_PORT_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there


@pytest.fixture
def ui_env(tmp_path, monkeypatch) -> Path:
    """A private user data dir, index and runs folder for the app under test; no reranker, unreachable LLM."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("DEEPRAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("DEEPRAG_RETRIEVAL__RERANKER_MODEL", "")
    monkeypatch.setenv("DEEPRAG_LLM__BASE_URL", CLOSED_PORT_URL)
    monkeypatch.setenv("DEEPRAG_EVAL__RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("DEEPRAG_CONFIG", raising=False)
    return tmp_path


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    if page:
        at.switch_page(f"views/{page}.py")
        at.run()
    assert not at.exception, at.exception
    return at


def wait_for_job(at: AppTest, timeout: float = 120) -> None:
    job = job_runner().wait(timeout)
    assert job is not None and job.state != "running"
    at.run()


def test_sidebar_settings_persist_for_a_new_session(ui_env):
    at = app()
    assert at.sidebar.markdown[-1].value.startswith("🔴 LLM unreachable")
    at.sidebar.slider(key="set_k").set_value(9)
    at.sidebar.radio(key="set_mode").set_value("bm25")
    at.run()
    stored = json.loads((ui_env / "xdg" / "deeprag" / "ui-settings.json").read_text())
    assert (stored["k"], stored["mode"]) == (9, "bm25")
    fresh = app()  # another browser session, or a reload
    assert fresh.sidebar.slider(key="set_k").value == 9
    assert fresh.sidebar.radio(key="set_mode").value == "bm25"
    assert fresh.session_state["config"].retrieval.k == 9


def test_sidebar_opens_another_index(ui_env):
    at = app()
    other = ui_env / "other-index"
    at.sidebar.text_input(key="set_new_index").input(str(other)).run()
    assert at.sidebar.selectbox(key="set_index").value == str(other)
    assert at.session_state["config"].index_dir == other
    assert "No index here yet" in at.sidebar.caption[0].value


def test_documents_upload_ingest_and_delete(ui_env):
    at = app("documents")
    assert "No documents yet" in at.info[0].value
    at.file_uploader[0].set_value([
        ("../../escape.txt", b"Penguins live in Antarctica and eat krill.", "text/plain"),
        ("熊猫.md", "# 熊猫\n大熊猫生活在中国四川的竹林里。".encode(), "text/markdown"),
        ("broken.pdf", b"not a pdf", "application/pdf"),
    ])
    at.form_submit_button[0].click().run()
    wait_for_job(at)
    uploads = ui_env / "xdg" / "deeprag" / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == ["broken.pdf", "escape.txt", "熊猫.md"]
    assert not (ui_env / "escape.txt").exists()
    assert "2 added" in at.success[0].value
    assert "Skipped broken.pdf" in at.warning[0].value  # the bad file's reason; the others went in
    table = at.dataframe[0].value
    assert sorted(table["document"]) == ["escape.txt", "熊猫.md"]

    at.multiselect[0].select(str(uploads / "escape.txt")).run()
    [b for b in at.button if b.label == "Delete"][0].click().run()
    wait_for_job(at)
    assert list(at.dataframe[0].value["document"]) == ["熊猫.md"]


def test_documents_reingest_folder_reports_missing_path(ui_env):
    at = app("documents")
    at.text_input[0].input(str(ui_env / "nowhere")).run()
    [b for b in at.button if b.label == "Ingest"][0].click().run()
    assert "does not exist" in at.error[0].value


def test_benchmarks_lists_and_compares_runs(ui_env):
    runs = ui_env / "runs"
    write(runs / "bm25" / "metrics.json", json.dumps({"kind": "retrieval", "dataset": "scifact", "queries": 300, "ndcg@10": 0.662}))
    write(runs / "hybrid" / "metrics.json", json.dumps({"kind": "retrieval", "dataset": "scifact", "queries": 300, "ndcg@10": 0.691}))
    at = app("benchmarks")
    overview = at.dataframe[0].value
    assert sorted(overview["run"]) == ["bm25", "hybrid"]
    comparison = at.dataframe[2].value.set_index("metric")
    a, b = at.selectbox(key="bench_a").value, at.selectbox(key="bench_b").value
    assert comparison.loc["ndcg@10", "b − a"] == pytest.approx(comparison.loc["ndcg@10", b] - comparison.loc["ndcg@10", a])
    assert {a, b} == {"bm25", "hybrid"}
    assert (comparison.loc["ndcg@10", "bm25"], comparison.loc["ndcg@10", "hybrid"]) == (0.662, 0.691)


def test_benchmarks_without_runs_says_how_to_make_one(ui_env):
    at = app("benchmarks")
    assert "deeprag eval" in at.info[0].value


# -- chat ---------------------------------------------------------------------------------------------

PENGUINS = "Emperor penguins breed in the Antarctic winter. They eat krill and fish caught in deep dives."
PANDAS = "# 大熊猫\n大熊猫生活在中国四川的竹林里。它们几乎只吃竹子，每天要吃十几个小时。"


@pytest.fixture
def small_index(ui_env, embedder) -> Path:
    """The test's own English and Chinese documents, ingested into the app's index."""
    from ground.config import load_config
    from ingest.pipeline import Ingestor

    docs = ui_env / "docs"
    write(docs / "penguins.txt", PENGUINS)
    write(docs / "pandas.md", PANDAS)
    Ingestor.for_config(load_config(), embedder=embedder).run([docs])
    return ui_env / "index"


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


def test_chat_on_empty_index_points_to_documents(ui_env):
    at = ask(app(), "What do penguins eat?")
    assert "no documents yet" in at.info[0].value
    assert at.get("page_link")[0].proto.page.endswith("documents")


def test_chat_with_llm_down_says_so_once_and_shows_sources(small_index):
    at = ask(app(), "What do penguins eat?")
    assert len(at.warning) == 1 and "cannot reach the LLM server at http://127.0.0.1:9/v1" in at.warning[0].value
    cards = [m.value for m in at.markdown if m.value.startswith("**[")]
    assert cards and "penguins" in cards[0]  # the best passage is still shown, first
    assert at.session_state["messages"][0].problem


def test_cited_answer_links_to_highlighted_card(small_index):
    """A stored turn as the pipeline leaves it: [1] links to card 1, whose supporting sentence is marked."""
    from app.ui.resources import searcher_for
    from app.ui.turn import Turn

    at = app()
    config = at.session_state["config"]
    hits = searcher_for(config).search("penguins krill", k=2, mode="bm25", rerank=False).hits
    at.session_state["messages"] = [Turn(1, "What do penguins eat?", text="They eat krill and fish [1].", hits=hits,
                                         cited=[1], timings_ms={"retrieve": 12.0, "total": 900.0})]
    at.run()
    assert not at.exception, at.exception
    answer = [m.value for m in at.markdown if "krill" in m.value and "#t1-source-1" in m.value]
    assert answer == ["They eat krill and fish [\\[1\\]](#t1-source-1)."]
    card = [m.value for m in at.markdown if "<mark>" in m.value][0]
    assert "<mark>They eat krill and fish caught in deep dives.</mark>" in card
    assert "retrieve 12 ms · total 900 ms" in [c.value for c in at.caption]


def test_sessions_do_not_share_chats(small_index):
    first, second = app(), app()
    ask(first, "What do penguins eat?")
    second.run()
    assert len(first.session_state["messages"]) == 1
    assert "messages" not in second.session_state or second.session_state["messages"] == []


def test_chat_with_real_llm_streams_answer_and_shows_sources(small_index, vllm_url, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DEEPRAG_LLM__BASE_URL", vllm_url)
    monkeypatch.setenv("DEEPRAG_LLM__MAX_TOKENS", "24")
    at = app()
    assert at.sidebar.markdown[-1].value == "🟢 LLM serving tiny-deepseek-v3"
    ask(at, "大熊猫吃什么？")
    turn = at.session_state["messages"][0]
    assert not turn.problem and turn.text and turn.tokens[1] > 0
    assert Path(turn.hits[0].chunk.source).name == "pandas.md"  # the Chinese document answers the Chinese question
    caption = [c.value for c in at.caption if "first token" in c.value]
    assert caption and "total" in caption[0]
    assert any(m.value.startswith("**[1] 大熊猫") for m in at.markdown)
    ask(at, "And what about penguins?")  # a follow-up: rewritten by the LLM, answered in the same session
    assert len(at.session_state["messages"]) == 2 and at.session_state["messages"][1].timings_ms.get("rewrite")
