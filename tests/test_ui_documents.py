"""A Documents page that tells the truth: per-document status kept until dismissed, failed files listed with
their reason, same-name uploads replaced only when confirmed, Delete removing the stored upload, names made
safe and refused types reported on the page, a chunk preview; and a Benchmarks page that opens on the newest
finished run. Plain logic directly, the page through Streamlit's AppTest with real ingestion (the browser
tests for refreshing after delete and for a failed upload are in test_ui_browser.py)."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.ui.doc_status import DocStatus
from app.ui.doc_table import document_rows
from app.ui.jobs import JobRunner
from app.ui.resources import job_runner
from app.ui.runs import default_runs, list_runs, run_label
from app.ui.uploads import NameTaken, remove_upload, save_upload
from ingest.discovery import absolute
from ingest.docstore import FileRecord
from tests.conftest import REPO, write

MAIN = str(REPO / "app" / "ui" / "main.py")


# -- uploads ------------------------------------------------------------------------------------------

def test_same_name_is_replaced_only_when_asked(tmp_path):
    folder = tmp_path / "uploads"
    first = save_upload("notes.md", b"one", folder, max_mb=1)
    assert first.path == folder / "notes.md" and not first.renamed and not first.duplicate
    assert save_upload("notes.md", b"one", folder, max_mb=1).duplicate  # the same file again: nothing to do
    with pytest.raises(NameTaken, match="a different file is already uploaded as notes.md; confirm to replace"):
        save_upload("notes.md", b"two", folder, max_mb=1)
    assert first.path.read_bytes() == b"one"
    again = save_upload("notes.md", b"two", folder, max_mb=1, replace=True)
    assert again.replaced and again.path == first.path and first.path.read_bytes() == b"two"
    assert sorted(p.name for p in folder.iterdir()) == ["notes.md"]  # no "notes (2).md", no temporary file


def test_a_name_made_safe_is_flagged(tmp_path):
    saved = save_upload("../../evil.txt", b"x", tmp_path / "uploads", max_mb=1)
    assert saved.path == tmp_path / "uploads" / "evil.txt" and saved.renamed
    assert not (tmp_path / "evil.txt").exists()


def test_remove_upload_touches_only_the_upload_folder(tmp_path):
    folder = tmp_path / "uploads"
    stored = save_upload("a.txt", b"x", folder, max_mb=1).path
    mine = write(tmp_path / "docs" / "a.txt", "the user's own file")
    assert not remove_upload(mine, folder) and mine.exists()
    assert remove_upload(stored, folder) and not stored.exists()
    assert not remove_upload(stored, folder)  # already gone


# -- the status board and the jobs that fill it (real ingestion, real embedder) -----------------------

def test_jobs_keep_each_documents_status(config, embedder, tmp_path):
    uploads = tmp_path / "uploads"
    good = save_upload("penguins.txt", b"Penguins live in Antarctica and eat krill.", uploads, max_mb=1).path
    bad = save_upload("broken.pdf", b"not a pdf", uploads, max_mb=1).path
    own = write(tmp_path / "docs" / "otters.txt", "Sea otters hold hands while they sleep.")
    gate = threading.Event()

    def embedder_after_gate(_config):
        gate.wait(60)
        return embedder

    runner = JobRunner(embedder_after_gate)
    index = absolute(config.index_dir)
    before = runner.finished

    job = runner.ingest(config, [good, bad, own], "test")
    assert {p: s.state for p, s in runner.board.statuses(index).items()} == {
        str(good): "ingesting", str(bad): "ingesting", str(own): "ingesting"}
    gate.set()
    runner.wait(120)
    assert job.state == "done" and runner.finished == before + 1
    statuses = runner.board.statuses(index)
    assert list(statuses) == [str(bad)] and statuses[str(bad)].state == "failed"
    assert statuses[str(bad)].reason  # the reader's reason, kept

    runner.delete(config, [str(good), str(own)], "delete", uploads=uploads)
    assert runner.wait(120).state == "done" and runner.finished == before + 2
    assert not good.exists()  # deeprag's stored copy of the upload is gone with the document
    assert own.exists()  # a file ingested from the user's folder is never deleted
    assert runner.board.dismiss_failed(index) == [str(bad)] and runner.board.statuses(index) == {}


def test_a_failed_job_marks_its_unfinished_files_failed(config, tmp_path):
    def no_embedder(_config):
        raise RuntimeError("no model here")

    runner = JobRunner(no_embedder)
    doc = write(tmp_path / "a.txt", "text")
    runner.ingest(config, [doc], "doomed")
    assert runner.wait(60).state == "failed"
    status = runner.board.statuses(absolute(config.index_dir))[str(doc)]
    assert status.state == "failed" and "no model here" in status.reason


def test_a_delete_loads_no_model(config, embedder, tmp_path):
    from ingest.pipeline import Ingestor

    doc = write(tmp_path / "a.txt", "Penguins eat krill.")
    Ingestor.for_config(config, embedder=embedder).run([doc])

    def no_model(_config):
        raise AssertionError("a delete needs no embedding model")

    runner = JobRunner(no_model)
    runner.delete(config, [str(doc)], "delete")
    job = runner.wait(60)
    assert job.state == "done" and job.removed == 1, job.message


def test_table_rows_merge_the_index_with_the_board(tmp_path):
    record = FileRecord(str(tmp_path / "a.txt"), "0" * 64, 2048, 0, 3, 1_700_000_000.0)
    failed_new = str(write(tmp_path / "b.pdf", b"junk"))
    rows = document_rows(
        {record.path: record},
        {failed_new: DocStatus("failed", "not a PDF"), record.path: DocStatus("failed", "cannot read")},
    )
    assert [(r["document"], r["status"]) for r in rows] == [
        ("a.txt", "failed: cannot read; the previous version is still indexed"),
        ("b.pdf", "failed: not a PDF"),
    ]
    assert rows[1]["chunks"] is None and rows[1]["size (KB)"] == 0.0
    rows = document_rows({record.path: record}, {})
    assert rows[0]["status"] == "indexed" and rows[0]["chunks"] == 3


# -- the page (AppTest) -------------------------------------------------------------------------------

@pytest.fixture
def ui_env(tmp_path, monkeypatch) -> Path:
    """A private user data dir, index and runs folder; no reranker, no LLM, no config file."""
    for name in list(os.environ):
        if name.startswith("DEEPRAG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("DEEPRAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("DEEPRAG_RETRIEVAL__RERANKER_MODEL", "")
    monkeypatch.setenv("DEEPRAG_LLM__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("DEEPRAG_EVAL__RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def page(name: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.switch_page(f"views/{name}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, *files: tuple[str, bytes]) -> None:
    """Submit the upload form with ``files`` and wait for the ingestion it starts (if any)."""
    at.file_uploader[0].set_value([(name, data, "application/octet-stream") for name, data in files])
    at.form_submit_button[0].click().run()
    job_runner().wait(120)
    at.run()
    assert not at.exception, at.exception


def table(at: AppTest) -> dict[str, str]:
    frame = at.dataframe[0].value
    return dict(zip(frame["document"], frame["status"]))


def texts(elements) -> list[str]:
    """What the user reads in these alerts: the page escapes markdown in file names and reasons."""
    return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_refused_types_and_safe_names_are_said_on_the_page_until_dismissed(ui_env):
    at = page("documents")
    upload(at, ("tool.exe", b"MZ"), ("../../evil.txt", b"Penguins eat krill."))
    errors = texts(at.error)
    assert any("tool.exe: file type '.exe' is not supported" in e and ".pdf" in e for e in errors)  # says why
    assert "../../evil.txt was saved as evil.txt: uploaded names are reduced to one plain file name (no folders, " \
           "no leading dots or reserved characters)" in texts(at.info)
    at.run()
    at.run()  # redraws (a job's end, the poller) keep them
    assert any("not supported" in e for e in texts(at.error)) and any("saved as" in i for i in texts(at.info))
    button(at, "Dismiss all messages").click().run()
    assert not any("not supported" in e for e in texts(at.error)) and not any("saved as" in i for i in texts(at.info))
    assert table(at) == {"evil.txt": "indexed"}


def test_a_failed_upload_stays_listed_with_its_reason_until_dismissed(ui_env):
    at = page("documents")
    upload(at, ("broken.pdf", b"not a pdf"), ("fine.txt", b"Emperor penguins breed in winter."))
    status = table(at)
    assert status["fine.txt"] == "indexed" and status["broken.pdf"].startswith("failed: ")
    assert "1 documents · 1 chunks · 1 failed" in [c.value for c in at.caption]
    at.run()
    assert table(at)["broken.pdf"].startswith("failed: ")
    stored = ui_env / "xdg" / "deeprag" / "uploads" / "broken.pdf"
    assert stored.exists()
    button(at, "Dismiss 1 failed").click().run()
    assert table(at) == {"fine.txt": "indexed"} and not stored.exists()  # a useless stored copy goes too


def test_same_name_upload_asks_then_replaces(ui_env):
    at = page("documents")
    upload(at, ("notes.md", b"# Notes\nPenguins eat krill."))
    upload(at, ("notes.md", b"# Notes\nOtters hold hands while they sleep."))
    assert any("already uploaded under each of these names" in w for w in texts(at.warning))
    stored = ui_env / "xdg" / "deeprag" / "uploads"
    assert sorted(p.name for p in stored.iterdir()) == ["notes.md"]
    assert b"krill" in (stored / "notes.md").read_bytes()  # nothing replaced before the user says so
    at.checkbox[0].check().run()
    button(at, "Replace ticked files and ingest").click().run()
    job_runner().wait(120)
    at.run()
    assert b"Otters" in (stored / "notes.md").read_bytes() and sorted(p.name for p in stored.iterdir()) == ["notes.md"]
    assert table(at) == {"notes.md": "indexed"}
    assert "updated" in at.success[0].value
    at.selectbox(key="preview_doc").select(str(stored / "notes.md")).run()
    assert any("Otters hold hands" in c.value for c in at.code)  # the chunk preview shows the new text

    upload(at, ("notes.md", b"something else entirely"))
    button(at, "Keep the existing files").click().run()
    assert b"Otters" in (stored / "notes.md").read_bytes()
    assert any("Kept the existing notes.md" in i for i in texts(at.info))


def test_delete_removes_the_document_and_its_stored_upload(ui_env):
    at = page("documents")
    upload(at, ("a.txt", b"Penguins eat krill."), ("b.txt", b"Otters hold hands."))
    stored = ui_env / "xdg" / "deeprag" / "uploads"
    at.multiselect(key="delete_choice").select(str(stored / "a.txt")).run()
    button(at, "Delete").click().run()
    job_runner().wait(120)
    at.run()
    assert table(at) == {"b.txt": "indexed"}
    assert sorted(p.name for p in stored.iterdir()) == ["b.txt"]
    assert any(c.value.startswith("1 files ·") for c in at.sidebar.caption)  # the sidebar's count too


def test_chunk_preview_shows_a_documents_first_chunks(ui_env):
    at = page("documents")
    long_text = " ".join(f"Sentence number {n} is about penguins and krill." for n in range(200))
    upload(at, ("long.txt", long_text.encode()))
    at.selectbox(key="preview_doc").select(str(ui_env / "xdg" / "deeprag" / "uploads" / "long.txt")).run()
    shown = [c.value for c in at.code]
    assert len(shown) == 3 and shown[0].startswith("Sentence number 0 ")
    assert any(c.value.startswith("The first 3 of ") for c in at.caption)


# -- benchmarks ---------------------------------------------------------------------------------------

def _runs(root: Path) -> Path:
    runs = root / "runs"
    write(runs / "old" / "metrics.json", json.dumps({"kind": "retrieval", "ndcg@10": 0.60}))
    write(runs / "new" / "metrics.json", json.dumps({"kind": "retrieval", "ndcg@10": 0.70}))
    write(runs / "running" / "config.json", "{}")  # no metrics.json yet: newest, but unfinished
    os.utime(runs / "old" / "metrics.json", (1e9, 1e9))
    os.utime(runs / "new" / "metrics.json", (1.5e9, 1.5e9))
    os.utime(runs / "running" / "config.json", (2e9, 2e9))
    return runs


def test_default_runs_are_the_newest_finished(tmp_path):
    runs = list_runs(_runs(tmp_path))
    assert [r.name for r in runs] == ["running", "new", "old"]
    assert [r.name for r in default_runs(runs, 2)] == ["new", "old"]
    assert run_label(runs[0]) == "running (unfinished: no metrics.json yet)" and run_label(runs[1]) == "new"
    assert [r.name for r in default_runs(runs[:1], 2)] == ["running"]  # none finished: the newest anyway


def test_benchmarks_page_opens_on_the_newest_finished_run(ui_env):
    _runs(ui_env)
    at = page("benchmarks")
    assert at.selectbox(key="bench_run").value == "new"
    assert "running (unfinished: no metrics.json yet)" in at.selectbox(key="bench_run").options
    assert (at.selectbox(key="bench_a").value, at.selectbox(key="bench_b").value) == ("old", "new")
    assert not at.warning  # the opened run has its metrics
