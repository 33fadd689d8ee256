"""Run directories: resume after an interruption, torn lines, settings conflicts, bounded parallelism."""

import json
import threading
import time

import pytest

from eval.runner import RunConflict, RunDir, run_items


class Interrupted(Exception):
    pass


def test_an_interrupted_run_resumes_without_redoing_finished_items(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start({"dataset": "toy"})
    calls: list[str] = []

    def failing(item: str) -> dict:
        if item == "c":
            raise Interrupted  # stands in for Ctrl-C / a killed process
        calls.append(item)
        return {"id": item, "value": item.upper()}

    with pytest.raises(Interrupted):
        run_items(run, ["a", "b", "c", "d"], key=str, work=failing)
    assert calls == ["a", "b"]

    calls.clear()
    records = run_items(run, ["a", "b", "c", "d"], key=str, work=lambda item: (calls.append(item), {"id": item, "value": item.upper()})[1])
    assert calls == ["c", "d"]
    assert [r["id"] for r in records] == ["a", "b", "c", "d"]
    lines = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4


def test_a_torn_last_line_is_redone(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start({})
    with open(tmp_path / "run" / "results.jsonl", "w") as handle:
        handle.write(json.dumps({"id": "a"}) + "\n" + '{"id": "b", "val')
    done: list[str] = []
    run_items(run, ["a", "b"], key=str, work=lambda item: (done.append(item), {"id": item})[1])
    assert done == ["b"]


def test_resuming_with_other_settings_is_refused(tmp_path):
    RunDir(tmp_path / "run").start({"setting": "bm25"})
    with pytest.raises(RunConflict, match="setting"):
        RunDir(tmp_path / "run").start({"setting": "dense"})


def test_config_json_records_the_git_commit(tmp_path):
    RunDir(tmp_path / "run").start({"setting": "bm25"})
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["setting"] == "bm25"
    assert "git_commit" in record


def test_parallel_work_stays_within_the_bound(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start({})
    active, peak, lock = [0], [0], threading.Lock()

    def work(item: int) -> dict:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return {"id": str(item)}

    records = run_items(run, list(range(20)), key=str, work=work, workers=3)
    assert peak[0] == 3
    assert [r["id"] for r in records] == [str(i) for i in range(20)]


def test_a_run_can_be_extended_or_shortened_with_another_limit(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start({"setting": "bm25", "limit": 2})
    run_items(run, ["a", "b"], key=str, work=lambda item: {"id": item})
    RunDir(tmp_path / "run").start({"setting": "bm25", "limit": 1})
    records = run_items(run, ["a"], key=str, work=lambda item: pytest.fail("already done"))
    assert [r["id"] for r in records] == ["a"]


def test_a_setting_added_since_the_run_started_does_not_block_resuming_while_unset(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start({"kind": "qa", "config": {"retrieval": {"k": 5}}})
    RunDir(tmp_path / "run").start({"kind": "qa", "config": {"retrieval": {"k": 5, "languages": None}}})
    with pytest.raises(RunConflict, match="config"):
        RunDir(tmp_path / "run").start({"kind": "qa", "config": {"retrieval": {"k": 5, "languages": ["en"]}}})
    with pytest.raises(RunConflict, match="config"):
        RunDir(tmp_path / "run").start({"kind": "qa", "config": {"retrieval": {"k": 3}}})


def test_a_setting_no_longer_recorded_does_not_block_resuming_if_it_was_unset(tmp_path):
    """Runs from before the abstention floors left the record (they recorded them as None) still resume."""
    RunDir(tmp_path / "run").start({"kind": "qa", "config": {"grounding": {"min_rerank_score": None, "check": True}}})
    RunDir(tmp_path / "run").start({"kind": "qa", "config": {"grounding": {"check": True}}})
    RunDir(tmp_path / "other").start({"kind": "qa", "config": {"grounding": {"min_rerank_score": 0.4, "check": True}}})
    with pytest.raises(RunConflict, match="config"):
        RunDir(tmp_path / "other").start({"kind": "qa", "config": {"grounding": {"check": True}}})


def test_run_records_leave_out_what_no_run_reads():
    """Server, UI and adapt settings and the abstention floors change no evaluation's results: a run started
    before one of them existed or changed must still resume."""
    from eval.runner import public_settings
    from ground.config import load_config

    recorded = public_settings(load_config(env={}, overrides={"adapt.epochs": 3.0, "grounding.min_rerank_score": 0.3}))
    assert not {"serve", "ui", "adapt"} & set(recorded) and "retrieval" in recorded
    assert not {"min_rerank_score", "min_dense_score"} & set(recorded["grounding"])
    assert "api_key" not in recorded["llm"]


def test_settings_a_run_does_not_read_neither_block_resuming_nor_are_recorded(tmp_path):
    """A closed-book run opens no index: a new retrieval default must not stop it from resuming."""
    unused = ("config.retrieval",)
    RunDir(tmp_path / "run").start({"kind": "qa", "config": {"retrieval": {"k": 5}, "llm": {"t": 0.1}}})
    RunDir(tmp_path / "run").start({"kind": "qa", "config": {"retrieval": {"k": 3}, "llm": {"t": 0.1}}}, unused)
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "retrieval" not in record["config"]
    with pytest.raises(RunConflict, match="config"):
        RunDir(tmp_path / "run").start({"kind": "qa", "config": {"retrieval": {"k": 3}, "llm": {"t": 0.7}}}, unused)


def test_a_closed_book_run_reads_no_retrieval_settings():
    from eval.qa_run import CLOSED_BOOK_UNUSED

    assert {"config.retrieval", "config.index_dir", "config.embedding"} <= set(CLOSED_BOOK_UNUSED)
    assert not {"config.llm", "config.prompt", "config.eval"} & set(CLOSED_BOOK_UNUSED)
