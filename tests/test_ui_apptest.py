"""The Streamlit app's behaviour through Streamlit's own AppTest (no browser): per-session sidebar settings and
the LLM light, the Documents page with real ingestion, the Benchmarks page, and the chat: fault messages,
abstaining, the citation check's marks, stored chats reopened by their URL id."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.ui.chat_store import ChatStore, StoredChat, chats_dir, valid_id
from app.ui.resources import conversations, job_runner
from app.ui.turn import Turn
from generation.grounding import ABSTAIN_EN, CitationChecker
from ingest.models import Chunk
from retrieval.hits import SearchHit
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


def app(page: str | None = None, locale: str | None = None) -> AppTest:
    """A new browser session on ``page`` (default: Chat), from a browser set to ``locale`` (default: none said)."""
    at = AppTest.from_file(MAIN, default_timeout=120)
    if locale is not None:
        at.context = {"locale": locale}
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


def test_sidebar_settings_stay_in_their_session(ui_env, monkeypatch):
    monkeypatch.setenv("DEEPRAG_RETRIEVAL__K", "3")  # the server's configuration: every session's default
    at = app()
    assert at.sidebar.markdown[-1].value.startswith("🔴 LLM unreachable")
    assert at.sidebar.slider(key="set_k").value == 3
    at.sidebar.slider(key="set_k").set_value(9)
    at.sidebar.radio(key="set_mode").set_value("bm25")
    at.run()
    assert (at.session_state["config"].retrieval.k, at.session_state["config"].retrieval.mode) == (9, "bm25")
    fresh = app()  # another browser session (or a reload): the server's defaults, not the other user's choice
    assert fresh.sidebar.slider(key="set_k").value == 3
    assert fresh.sidebar.radio(key="set_mode").value == "hybrid"
    assert fresh.session_state["config"].retrieval.k == 3
    assert not list((ui_env / "xdg").rglob("ui-settings.json"))  # nothing shared written to disk
    at.run()
    assert at.session_state["config"].retrieval.k == 9  # the first session keeps its own


def test_llm_light_tells_unreachable_from_model_not_served(ui_env, vllm_url, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DEEPRAG_LLM__BASE_URL", vllm_url)
    monkeypatch.setenv("DEEPRAG_LLM__MODEL", "no-such-model")
    at = app()
    light = at.sidebar.markdown[-1]
    assert light.value == "🟠 LLM reachable, but model 'no-such-model' is not served (it serves tiny-deepseek-v3)"
    at.sidebar.text_input(key="set_base_url").input(CLOSED_PORT_URL).run()
    assert at.sidebar.markdown[-1].value == "🔴 LLM unreachable"
    assert "cannot reach the LLM server" in at.sidebar.markdown[-1].proto.help


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
    table = at.dataframe[0].value.set_index("document")
    assert sorted(table.index) == ["broken.pdf", "escape.txt", "熊猫.md"]
    assert table.loc["broken.pdf", "status"].startswith("failed: ")  # the bad file's reason; the others went in

    at.multiselect[0].select(str(uploads / "escape.txt")).run()
    [b for b in at.button if b.label == "Delete"][0].click().run()
    wait_for_job(at)
    assert sorted(at.dataframe[0].value["document"]) == ["broken.pdf", "熊猫.md"]  # the failed one until dismissed
    assert not (uploads / "escape.txt").exists()  # Delete removed the stored upload too


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


def ask(at: AppTest, question: str, timeout_s: float = 300) -> AppTest:
    """Send ``question`` and wait for its answer: the conversation's thread answers it, and the page (rerun
    here, where no browser timer reruns its fragment) then draws it whole."""
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    chat = conversations().get(at.session_state["chat_id"])
    deadline = time.monotonic() + timeout_s
    while chat.live:
        assert time.monotonic() < deadline, f"no answer to {question!r} within {timeout_s:.0f} s"
        time.sleep(0.1)
    at.run()
    assert not at.exception, at.exception
    return at


def turns(at: AppTest) -> list[Turn]:
    """The turns of the chat the session has open."""
    return conversations().get(at.session_state["chat_id"]).turns


def open_stored_chat(chat_id: str, chat_turns: list[Turn]) -> AppTest:
    """Store a chat as the app would, then open it the way a reload does: by its id in the URL."""
    ChatStore(chats_dir()).save(StoredChat(chat_id, chat_turns[0].question, 0.0, chat_turns))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["chat"] = chat_id
    at.run()
    assert not at.exception, at.exception
    return at


def answer_markdown(at: AppTest) -> str:
    return [m.value for m in at.markdown if "#t1-source-" in m.value][0]


def test_chat_on_empty_index_points_to_documents(ui_env):
    at = ask(app(), "What do penguins eat?")
    assert "no documents yet" in at.info[0].value
    assert at.get("page_link")[0].proto.page.endswith("documents")


def test_chat_with_llm_down_says_so_once_and_shows_sources(small_index):
    at = ask(app(), "What do penguins eat?")
    assert len(at.warning) == 1 and "cannot reach the LLM server at http://127.0.0.1:9/v1" in at.warning[0].value
    cards = [m.value for m in at.markdown if m.value.startswith("**[")]
    assert cards and "penguins" in cards[0]  # the best passage is still shown, first
    assert turns(at)[0].problem and turns(at)[0].state == "failed"


def test_cited_answer_links_to_highlighted_card(small_index):
    """A stored turn as the pipeline leaves it: [1] links to card 1, whose supporting sentence is marked."""
    from app.ui.resources import searcher_for

    config = app().session_state["config"]
    hits = searcher_for(config).search("penguins krill", k=2, mode="bm25", rerank=False).hits
    text = "They eat krill and fish [1]."
    at = open_stored_chat("cited-answer-1", [Turn(
        1, "What do penguins eat?", text=text, hits=hits, cited=[1], timings_ms={"retrieve": 12.0, "total": 900.0},
        checked=CitationChecker(0.5).check(text, [h.chunk.text for h in hits]), grounded=True)])
    assert answer_markdown(at) == "They eat krill and fish [\\[1\\]](#t1-source-1)."
    card = [m.value for m in at.markdown if "<mark>" in m.value][0]
    assert "<mark>They eat krill and fish caught in deep dives.</mark>" in card
    assert "retrieve 12 ms · total 900 ms" in [c.value for c in at.caption]


LONG_PENGUINS = " ".join(f"Colony {i} of emperor penguins gathers on the sea ice." for i in range(14)) + (
    " Emperor penguins eat krill, fish and squid. They dive deeper than 500 metres.")
PANDA_FACTS = "Giant pandas live in the bamboo forests of Sichuan. This passage states the facts about them."
# One sentence of each kind the citation check tells apart: supported, repointed, unsupported, uncited, filler.
MARKED_ANSWER = ("Emperor penguins eat krill and squid [1]. Pandas live in bamboo forests [1]. "
                 "Penguins can fly to the moon [1]. The passage states this [2]. Rockets are loud.")


def _hit(name: str, text: str) -> SearchHit:
    return SearchHit(Chunk(f"/docs/{name}.txt", name, name, text, None, 0, len(text), 0), 1.0, dense_score=0.7)


def checked_turn() -> Turn:
    """MARKED_ANSWER as the pipeline leaves it: the real citation check over two constructed passages (the
    test server's random-weight model cannot be made to write such an answer). The browser test draws it too."""
    hits = [_hit("penguins", LONG_PENGUINS), _hit("pandas", PANDA_FACTS)]
    checked = CitationChecker(0.5).check(MARKED_ANSWER, [h.chunk.text for h in hits])
    return Turn(1, "What do they eat?", text=MARKED_ANSWER, hits=hits, cited=[1, 2], checked=checked, grounded=True)


def test_check_marks_each_sentence_where_it_ends(ui_env):
    """Every status gets its mark at its sentence, and the cards mark what the check found."""
    turn = checked_turn()
    assert [c.status for c in turn.checked] == ["supported", "repointed", "unsupported", "no_claim", "uncited"]
    at = open_stored_chat("marks-chat-1", [turn])
    answer = answer_markdown(at)
    assert answer.startswith("Emperor penguins eat krill and squid [\\[1\\]](#t1-source-1). Pandas")
    # Re-pointed: the link goes to the passage that says it (2), not the one the model wrote (1).
    assert 'Pandas live in bamboo forests [\\[2\\]](#t1-source-2 "The answer cited [1]; this passage' in answer
    assert ('to the moon [\\[1\\]](#t1-source-1). <span class="deeprag-badge deeprag-unsupported" '
            'title="The cited passage [1] does not say this">unsupported</span>') in answer
    assert ('Rockets are loud. <span class="deeprag-badge deeprag-uncited" '
            'title="No passage is cited for this sentence">no source</span>') in answer
    assert "The passage states this [\\[2\\]](#t1-source-2). Rockets" in answer  # filler: no mark
    assert answer.count("deeprag-badge") == 2
    assert not [w for w in at.warning if "No sentence" in w.value]
    passages = [m.value for m in at.markdown if m.value.startswith('<div class="deeprag-passage">')]
    penguins = [p for p in passages if "of emperor penguins" in p]  # card 1: its preview and its whole passage
    pandas = [p for p in passages if "Giant pandas" in p]
    # Card 1: the chunk is over 600 characters; its preview moves to the supporting sentence and marks it.
    assert len(penguins) == 2 and penguins[0].startswith('<div class="deeprag-passage">… ')
    assert all(p.count("<mark>") == 1 and "<mark>Emperor penguins eat krill, fish and squid.</mark>" in p
               for p in penguins)
    # Card 2: the re-pointed claim's sentence, and not the filler sentence that also cites [2].
    panda_mark = "<mark>Giant pandas live in the bamboo forests of Sichuan.</mark>"
    assert len(pandas) == 2 and all(p.count("<mark>") == 1 and panda_mark in p for p in pandas)


def test_answer_no_sentence_supports_is_flagged(ui_env):
    hits = [_hit("pandas", PANDA_FACTS)]
    text = "Rockets are loud [1]."
    checked = CitationChecker(0.5).check(text, [PANDA_FACTS])
    at = open_stored_chat("ungrounded-1", [Turn(1, "q", text=text, hits=hits, cited=[1], checked=checked,
                                                grounded=False)])
    assert [w.value for w in at.warning] == ["No sentence of this answer is supported by the passages"]
    assert "deeprag-unsupported" in answer_markdown(at)


def test_abstains_without_asking_the_llm_and_marks_passages_low_relevance(small_index, monkeypatch):
    monkeypatch.setenv("DEEPRAG_GROUNDING__MIN_DENSE_SCORE", "0.99")  # no passage is that close
    at = ask(app(), "What do emperor penguins eat?")  # the LLM is unreachable: asking it would show a warning
    turn = turns(at)[0]
    assert turn.abstained and turn.state == "done" and not turn.problem and not at.warning
    assert any(m.value == ABSTAIN_EN for m in at.markdown)
    assert any("**Closest passages** :orange-badge[low relevance]" == m.value for m in at.markdown)
    titles = [m.value for m in at.markdown
              if m.value.endswith(":orange-badge[low relevance]") and "Closest" not in m.value]
    assert len(titles) == len(turn.hits) == 2 and not [m for m in at.markdown if m.value.startswith("**[")]


def test_chats_survive_a_reload_and_are_listed_to_reopen(small_index):
    at = ask(app(), "What do penguins eat?")
    first_id = at.session_state["chat_id"]
    assert at.query_params["chat"] == first_id and at.query_params["browser"] == at.session_state["browser_id"]
    reloaded = AppTest.from_file(MAIN, default_timeout=120)  # a new session that has only the URL
    reloaded.query_params.update(at.query_params)
    reloaded.run()
    assert [m.value for m in reloaded.chat_message[0].markdown] == ["What do penguins eat?"]
    assert "cannot reach the LLM server" in reloaded.warning[0].value
    stored = json.loads((chats_dir() / f"{first_id}.json").read_text())
    assert [t["question"] for t in stored["turns"]] == ["What do penguins eat?"]

    reloaded.sidebar.button(key="new_chat").click().run()
    new_id = reloaded.session_state["chat_id"]
    assert new_id != first_id and reloaded.query_params["chat"] == new_id and not reloaded.chat_message
    listed = reloaded.sidebar.button(key=f"open_chat_{first_id}")
    assert listed.label == "What do penguins eat?"
    listed.click().run()
    assert reloaded.session_state["chat_id"] == first_id
    assert reloaded.chat_message[0].markdown[0].value == "What do penguins eat?"


def test_malformed_chat_id_in_the_url_opens_a_new_chat(ui_env):
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["chat"] = "../../secrets"
    at.run()
    assert not at.exception and valid_id(at.session_state["chat_id"])
    assert at.query_params["chat"] == at.session_state["chat_id"]


def chat_list(at: AppTest) -> list[str]:
    """The titles of the chats the sidebar offers to reopen."""
    return [b.label for b in at.sidebar.button if b.key.startswith("open_chat_")]


def test_sessions_do_not_share_chats(small_index):
    first, second = app(), app()
    ask(first, "What do penguins eat?")
    second.run()
    assert len(turns(first)) == 1 and chat_list(first) == ["What do penguins eat?"]
    assert turns(second) == [] and not second.chat_message
    assert chat_list(second) == []  # another browser is not offered the first one's chats
    first.switch_page("views/documents.py").run()  # the URL loses its query on another page...
    assert first.query_params["browser"] == first.session_state["browser_id"]  # ...but the browser id is put back


def test_chat_with_real_llm_streams_answer_and_shows_sources(small_index, vllm_url, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DEEPRAG_LLM__BASE_URL", vllm_url)
    monkeypatch.setenv("DEEPRAG_LLM__MAX_TOKENS", "24")
    at = app()
    assert at.sidebar.markdown[-1].value == "🟢 LLM serving tiny-deepseek-v3"
    ask(at, "大熊猫吃什么？")
    turn = turns(at)[0]
    assert not turn.problem and turn.text and turn.tokens[1] > 0 and turn.state == "done"
    assert turn.checked and turn.grounded is not None  # the citation check ran on the real answer
    assert Path(turn.hits[0].chunk.source).name == "pandas.md"  # the Chinese document answers the Chinese question
    caption = [c.value for c in at.caption if "first token" in c.value]
    assert caption and "total" in caption[0]
    assert any(m.value.startswith("**[1] 大熊猫") for m in at.markdown)
    ask(at, "And what about penguins?")  # a follow-up: rewritten by the LLM, answered in the same session
    assert len(turns(at)) == 2 and turns(at)[1].timings_ms.get("rewrite")
