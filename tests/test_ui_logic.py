"""The UI's plain logic: settings file, safe uploads, background ingestion jobs, eval runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.ui.jobs import JobBusy, JobRunner
from app.ui.runs import compare, list_runs
from app.ui.settings import UISettings, load_settings, save_settings
from app.ui.uploads import UploadRejected, safe_name, save_upload
from ingest.index_dir import open_docstore
from retrieval.searcher import Searcher
from tests.conftest import write


# -- settings -----------------------------------------------------------------------------------------

def test_settings_round_trip_and_apply(config, tmp_path):
    path = tmp_path / "ui.json"
    settings = load_settings(config, path)
    assert settings == UISettings.from_config(config)  # no file yet: the configuration's values
    settings.k, settings.mode, settings.temperature, settings.llm_model = 7, "bm25", 0.6, "tiny"
    save_settings(settings, path)
    again = load_settings(config, path)
    assert again == settings
    applied = again.apply(config)
    assert (applied.retrieval.k, applied.retrieval.mode, applied.llm.temperature, applied.llm.model) == (7, "bm25", 0.6, "tiny")
    assert config.retrieval.k == 5  # the shared base config is never changed


def test_damaged_settings_are_ignored_key_by_key(config, tmp_path, caplog):
    path = tmp_path / "ui.json"
    path.write_text(json.dumps({"k": "many", "mode": "psychic", "temperature": 1, "rerank": False}))
    settings = load_settings(config, path)
    assert (settings.k, settings.mode, settings.temperature, settings.rerank) == (5, "hybrid", 1.0, False)
    assert "ignoring stored UI setting k" in caplog.text and "psychic" in caplog.text
    path.write_text("{not json")
    assert load_settings(config, path) == UISettings.from_config(config)


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
    other = save_upload("evil.txt", b"two", folder, max_mb=1)
    assert other.path == folder / "evil (2).txt" and other.renamed and not other.duplicate
    assert first.path.read_bytes() == b"one" and other.path.read_bytes() == b"two"


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
