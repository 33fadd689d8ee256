"""The UI's plain logic: session settings, the chat's conversation thread and store, the source-card
highlighter, safe uploads, background ingestion jobs, eval runs."""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from pathlib import Path

import pytest

from app.ui.chat_store import INTERRUPTED, ChatStore, StoredChat, valid_id
from app.ui.citations import highlighted_html, preview, support_spans, supporting_claims
from app.ui.conversation import Conversations
from app.ui.jobs import JobBusy, JobRunner
from app.ui.runs import compare, list_runs
from app.ui.settings import UISettings
from app.ui.turn import Turn
from app.ui.uploads import NameTaken, UploadRejected, safe_name, save_upload
from generation.grounding import CheckedSentence, CitationChecker
from ingest.index_dir import open_docstore
from ingest.models import Chunk
from retrieval.hits import SearchHit
from retrieval.searcher import Searcher
from tests.conftest import write


# -- settings -----------------------------------------------------------------------------------------

def test_settings_start_from_the_configuration_and_apply_to_a_copy(config):
    settings = UISettings.from_config(config)
    assert (settings.k, settings.mode, settings.index_dir) == (config.retrieval.k, "hybrid", str(config.index_dir))
    settings.k, settings.mode, settings.temperature, settings.llm_model = 7, "bm25", 0.6, "tiny"
    applied = settings.apply(config)
    assert (applied.retrieval.k, applied.retrieval.mode, applied.llm.temperature, applied.llm.model) == (7, "bm25", 0.6, "tiny")
    assert config.retrieval.k == 3  # the shared base config is never changed
    assert UISettings.from_config(config).k == 3  # and the next session starts from it, not from this one


# -- the chat: conversation thread, store, marks --------------------------------------------------------

class ScriptedJob:
    """A stand-in for answer_turn: writes its tokens one at a time, each only when the test releases it, so
    the test decides exactly when a question arrives or Stop is pressed."""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.release = threading.Semaphore(0)
        self.history: list | None = None

    def __call__(self, turn, history, stop) -> bool:
        self.history = history
        for token in self.tokens:
            self.release.acquire()
            if stop.is_set():
                return False
            turn.text += token
        return True


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_second_question_while_answering_is_queued_and_both_are_kept(tmp_path):
    store = ChatStore(tmp_path / "chats")
    chat = Conversations(store).get("chat-one-test")
    first, second = ScriptedJob(["Krill", " and fish."]), ScriptedJob(["Bamboo."])
    chat.ask("What do penguins eat?", first)
    wait_until(lambda: chat.turns[0].state == "answering")
    first.release.release()
    wait_until(lambda: chat.turns[0].text == "Krill")
    chat.ask("And pandas?", second)  # while the first is mid-answer
    assert [t.state for t in chat.turns] == ["answering", "queued"]
    assert store.load("chat-one-test").turns[1].question == "And pandas?"  # saved before it is answered
    first.release.release()
    second.release.release()
    wait_until(lambda: not chat.live)
    assert [(t.question, t.text, t.state) for t in chat.turns] == [
        ("What do penguins eat?", "Krill and fish.", "done"), ("And pandas?", "Bamboo.", "done")]
    # The queued follow-up was asked with the first answer as its history.
    assert second.history == [{"role": "user", "content": "What do penguins eat?"},
                              {"role": "assistant", "content": "Krill and fish."}]
    wait_until(lambda: [t.text for t in store.load("chat-one-test").turns] == ["Krill and fish.", "Bamboo."])


def test_stop_keeps_the_partial_answer_and_the_queue_goes_on(tmp_path):
    chat = Conversations(ChatStore(tmp_path / "chats")).get("chat-stop-test")
    first, second = ScriptedJob(["Krill", " and", " fish."]), ScriptedJob(["Bamboo."])
    chat.ask("What do penguins eat?", first)
    chat.ask("And pandas?", second)
    wait_until(lambda: chat.turns[0].state == "answering")
    first.release.release()
    wait_until(lambda: chat.turns[0].text == "Krill")
    chat.stop(2)  # Stop on the queued turn: it will never start
    chat.stop(1)
    first.release.release()
    wait_until(lambda: not chat.live)
    assert [(t.text, t.state) for t in chat.turns] == [("Krill", "stopped"), ("", "stopped")]
    chat.stop(1)  # a late click stops nothing
    assert chat.turns[0].state == "stopped"


def test_stored_chat_reads_back_whole_and_an_interrupted_turn_as_stopped(tmp_path):
    store = ChatStore(tmp_path / "chats")
    hit = SearchHit(Chunk("a.txt", "d1", "A", "Penguins eat krill.", None, 0, 19, 0, 7), 1.5, dense_score=0.8)
    checked = CheckedSentence("They eat krill [1].", 0, 19, (1,), (1,), "supported", 1.0)
    turns = [Turn(1, "q1", "They eat krill [1].", [hit], [1], {"total": 9.0}, (10, 5), checked=[checked],
                  grounded=True),
             Turn(2, "q2", "Half an ans", [hit], state="answering")]
    store.save(StoredChat("stored-chat-1", "q1", 1.0, turns, owner="browser-aaaa"))
    again = store.load("stored-chat-1")
    assert again.turns[0] == turns[0]
    interrupted = again.turns[1]
    assert (interrupted.state, interrupted.text, interrupted.problem) == ("stopped", "Half an ans", INTERRUPTED)
    assert again.owner == "browser-aaaa"
    assert store.load("no-such-chat") is None
    store.path("broken-chat-1").write_text("{not json")
    assert store.load("broken-chat-1") is None  # the chat starts empty...
    assert [p.name.split(".unreadable-")[0] for p in store.directory.glob("broken-chat-1*")] == ["broken-chat-1.json"]
    assert not store.path("broken-chat-1").exists()  # ...and its next save cannot overwrite what was there


def test_each_browser_lists_only_its_own_chats(tmp_path):
    chats = Conversations(ChatStore(tmp_path / "chats"))
    mine, theirs = chats.get("chat-mine-1", owner="browser-mine"), chats.get("chat-theirs-1", owner="browser-them")
    mine.ask("What do penguins eat?", None)
    theirs.ask("What is my salary?", None)
    chats.get("chat-mine-2", owner="browser-mine").ask("And pandas?", None)
    chats.get("chat-mine-1", owner="browser-them")  # opened by its link elsewhere: still not theirs
    assert [c.title for c in chats.store.recent("browser-mine")] == ["And pandas?", "What do penguins eat?"]
    assert [c.title for c in chats.store.recent("browser-them")] == ["What is my salary?"]
    assert [c.id for c in chats.store.recent("browser-mine", limit=1)] == ["chat-mine-2"]
    assert chats.store.recent("") == [] and chats.store.recent("browser-nobody") == []


def test_a_chat_nobody_holds_is_dropped_and_reopened_whole(tmp_path):
    chats = Conversations(ChatStore(tmp_path / "chats"))
    empty = weakref.ref(chats.get("chat-empty-1", owner="browser-mine"))  # a page load that asked nothing
    assert empty() is None  # not kept for the life of the server
    chat, job = chats.get("chat-kept-1", owner="browser-mine"), ScriptedJob(["Krill."])
    chat.ask("What do penguins eat?", job)
    while_answering = weakref.ref(chat)
    del chat
    assert chats.get("chat-kept-1") is while_answering()  # its answering thread holds it: one object for all
    job.release.release()
    wait_until(lambda: while_answering() is None)  # answered and let go of
    again = chats.get("chat-kept-1")
    assert [(t.question, t.text, t.state) for t in again.turns] == [("What do penguins eat?", "Krill.", "done")]
    assert again.owner == "browser-mine" and again.title == "What do penguins eat?"


@pytest.mark.parametrize("chat_id", ["../../etc/passwd", "a/b", "x", "", "chat.json", None])
def test_chat_ids_from_the_url_never_name_another_file(chat_id):
    assert not valid_id(chat_id)
    with pytest.raises(ValueError):
        ChatStore(Path("/tmp")).path(chat_id)


def test_highlight_uses_the_check_ignores_filler_and_works_past_600_characters():
    filler = " ".join(f"Colony {i} of emperor penguins gathers on the sea ice." for i in range(14))
    passage = filler + " Emperor penguins eat krill, fish and squid. They dive deeper than 500 metres."
    assert len(passage) > 700 and passage.index("eat krill") > 600
    answer = "Emperor penguins eat krill and squid [1]. The passage states this [1]."
    checked = CitationChecker(0.5).check(answer, [passage])
    assert [c.status for c in checked] == ["supported", "no_claim"]
    claims = supporting_claims(checked, answer, 1)
    assert claims == ["Emperor penguins eat krill and squid ."]  # the filler sentence is not a claim
    spans = support_spans(passage, claims)
    assert [passage[a:b] for a, b in spans] == ["Emperor penguins eat krill, fish and squid."]
    shown, moved = preview(passage, spans, 600)
    assert len(shown) < len(passage) and [shown[a:b] for a, b in moved] == [passage[a:b] for a, b in spans]
    assert "<mark>Emperor penguins eat krill, fish and squid.</mark>" in highlighted_html(shown, moved)


def test_highlight_marks_each_of_several_claims_one_passage_supports():
    passage = "MLA stores one latent vector per token. Keys and values are recovered by up-projections."
    claims = ["MLA stores a latent vector per token.", "Keys and values come back through up-projections."]
    spans = support_spans(passage, claims)  # a second claim once crashed the source card ('set' not callable)
    assert [passage[a:b] for a, b in spans] == ["MLA stores one latent vector per token.",
                                                "Keys and values are recovered by up-projections."]


def test_a_passage_cited_by_several_sentences_gets_one_source_card():
    from app.ui.source_cards import _cited

    turn = Turn(1, "q", "A [2]. B [1]. C [1].", [], [2, 1, 1])  # duplicate card keys once crashed the chat
    assert _cited(turn) == [2, 1]


# -- uploads ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sent, kept", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\me\\notes.md", "notes.md"),
    ("..", "upload"),
    (".hidden.txt", "hidden.txt"),
    ("报告 2024.pdf", "报告 2024.pdf"),
    ("a\x00b.txt", "ab.txt"),
])
def test_safe_name_keeps_one_harmless_component(sent, kept):
    assert safe_name(sent) == kept


def test_save_upload_never_escapes_or_overwrites(tmp_path):
    folder = tmp_path / "uploads"
    first = save_upload("../../evil.txt", b"one", folder, max_mb=1)
    assert first.path == folder / "evil.txt" and not (tmp_path / "evil.txt").exists()
    same = save_upload("evil.txt", b"one", folder, max_mb=1)
    assert same.path == first.path and same.duplicate
    with pytest.raises(NameTaken):  # a different file under a taken name: replaced only when confirmed
        save_upload("evil.txt", b"two", folder, max_mb=1)
    assert first.path.read_bytes() == b"one" and sorted(folder.iterdir()) == [first.path]


@pytest.mark.parametrize("name, data, reason", [
    ("tool.exe", b"MZ", "file type '.exe' is not supported"),
    ("big.txt", b"x" * 2_000_000, "over the limit of 1 MB"),
    ("empty.txt", b"", "empty"),
])
def test_save_upload_rejects_with_reason(tmp_path, name, data, reason):
    with pytest.raises(UploadRejected, match=reason):
        save_upload(name, data, tmp_path, max_mb=1)
    assert not any(tmp_path.iterdir())


# -- background jobs (real ingestion, real embedder) --------------------------------------------------

def test_job_ingests_in_background_and_searcher_sees_it(config, embedder, tmp_path):
    docs = tmp_path / "docs"
    write(docs / "a.txt", "Penguins live in Antarctica and eat krill.")
    write(docs / "b.md", "# 熊猫\n大熊猫生活在中国四川的竹林里，主要吃竹子。")
    write(docs / "broken.pdf", b"not a pdf")
    runner = JobRunner(lambda _config: embedder)
    job = runner.ingest(config, [docs], "test")
    assert runner.wait(120) is job
    assert job.state == "done", job.message
    assert (job.added, job.done, job.total) == (2, 3, 3)
    assert [Path(s.path).name for s in job.skipped] == ["broken.pdf"]  # its reason is kept, the rest went in
    searcher = Searcher.for_config(config, embedder=embedder)
    assert searcher.search("penguins krill", k=1, mode="bm25", rerank=False).hits[0].chunk.source.endswith("a.txt")

    write(docs / "c.txt", "Kangaroos carry their young in a pouch.")
    runner.ingest(config, [docs / "c.txt"], "more")
    runner.wait(120)
    assert searcher.refresh()  # a committed ingestion is picked up by a running searcher
    assert searcher.search("kangaroo pouch", k=1, mode="bm25", rerank=False).hits[0].chunk.source.endswith("c.txt")

    runner.delete(config, [str(docs / "a.txt")], "delete")
    assert runner.wait(120).state == "done"
    store = open_docstore(Path(config.index_dir))
    try:
        assert sorted(Path(p).name for p in store.files()) == ["b.md", "c.txt"]
    finally:
        store.close()


def test_job_failure_is_reported_and_second_job_refused(config, embedder, tmp_path):
    import threading

    gate = threading.Event()

    def slow_embedder(_config):
        gate.wait(30)
        return embedder

    runner = JobRunner(slow_embedder)
    write(tmp_path / "x.txt", "text")
    runner.ingest(config, [tmp_path / "x.txt"], "first")
    with pytest.raises(JobBusy, match="'first' is still running"):
        runner.ingest(config, [tmp_path / "x.txt"], "second")
    gate.set()
    runner.wait(60)
    job = runner.delete(config, [str(tmp_path / "never-ingested.txt")], "delete")
    runner.wait(60)
    assert job.state == "failed" and "is not in the index" in job.message


# -- eval runs ----------------------------------------------------------------------------------------

def test_runs_listed_and_compared(tmp_path):
    runs = tmp_path / "runs"
    write(runs / "bm25" / "metrics.json", json.dumps({"kind": "retrieval", "ndcg@10": 0.66, "latency_ms": {"p50": 3}}))
    write(runs / "bm25" / "report.md", "# bm25\n\n| a | b |\n\n![latency](latency.png)\n")
    write(runs / "bm25" / "latency.png", b"\x89PNG")
    write(runs / "hybrid" / "metrics.json", json.dumps({"kind": "retrieval", "ndcg@10": 0.69, "recall@100": 0.9}))
    write(runs / "killed" / "config.json", "{}")
    os.utime(runs / "hybrid" / "metrics.json", (2e9, 2e9))
    found = list_runs(runs)
    assert [r.name for r in found][0] == "hybrid"  # newest first
    by_name = {r.name: r for r in found}
    assert not by_name["killed"].finished and by_name["bm25"].finished
    assert by_name["bm25"].numbers() == {"ndcg@10": 0.66, "latency_ms.p50": 3.0}
    assert "![" not in by_name["bm25"].report_text() and [p.name for p in by_name["bm25"].plots] == ["latency.png"]
    rows = {row["metric"]: row for row in compare(by_name["bm25"], by_name["hybrid"])}
    assert rows["ndcg@10"]["b − a"] == pytest.approx(0.03)
    assert rows["recall@100"]["bm25"] is None and rows["recall@100"]["b − a"] is None
    assert list_runs(tmp_path / "absent") == []
