"""A run directory and the loop that fills it: resumable, bounded-parallel, with a live metric.

``runs/<name>/`` holds ``config.json`` (everything needed to reproduce the run), ``results.jsonl`` (one line
per query, appended and flushed as each finishes), ``metrics.json`` and ``report.md`` with PNG plots. A run
that is interrupted keeps every finished line; running the same command again skips those queries.
"""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Sequence, TypeVar

from tqdm import tqdm

from ground.config import Config, as_dict
from ground.errors import DeepragError
from ground.files import write_json_atomically

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"
T = TypeVar("T")


class RunConflict(DeepragError):
    """A run directory already holds a run with other settings."""


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.path.name

    def start(self, settings: dict[str, Any], unused: Collection[str] = ()) -> None:
        """Create the directory and write config.json, or check that an existing run used the same settings
        (resuming a run under other settings would mix two experiments in one file).

        ``unused`` names settings (dotted paths such as ``config.retrieval``) that this run does not read: they
        are neither recorded nor compared, so that changing them (a closed-book run and the retrieval defaults)
        does not stop a resume."""
        self.path.mkdir(parents=True, exist_ok=True)
        config_file = self.path / "config.json"
        settings = _without(settings, unused)
        record = {**settings, "git_commit": git_commit()}
        if config_file.exists():
            old = _without(json.loads(config_file.read_text(encoding="utf-8")), unused)
            # "limit" may change: records are per query, so a longer or shorter run reuses what is done.
            differing = sorted(k for k in settings if k != "limit" and not _same(old.get(k), settings[k]))
            if differing:
                raise RunConflict(
                    f"run {self.path} was started with other settings ({', '.join(differing)}); "
                    "choose another --name, or delete the directory to start over"
                )
        write_json_atomically(config_file, record)

    def done(self) -> dict[str, dict]:
        """Finished records by id. A torn last line (the process died mid-write) is ignored and redone."""
        results = self.path / RESULTS
        records: dict[str, dict] = {}
        if not results.exists():
            return records
        with open(results, encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("ignoring a torn line in %s; that query runs again", results)
                    continue
                records[str(record["id"])] = record
        return records

    def append(self, record: dict) -> None:
        with self._lock, open(self.path / RESULTS, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()

    def write_metrics(self, metrics: dict) -> None:
        write_json_atomically(self.path / "metrics.json", metrics)


def _without(settings: dict[str, Any], paths: Collection[str]) -> dict[str, Any]:
    """A copy of ``settings`` without the dotted ``paths``."""
    settings = copy.deepcopy(settings)
    for path in paths:
        *parents, last = path.split(".")
        section: Any = settings
        for parent in parents:
            section = section.get(parent) if isinstance(section, dict) else None
        if isinstance(section, dict):
            section.pop(last, None)
    return settings


def _same(old: Any, new: Any) -> bool:
    """Settings equal, where a setting added to the record since the run started counts as unchanged when it is
    unset (None), and so does one no longer recorded that was unset then: None means "as before", so a run can
    resume across that change."""
    if isinstance(old, dict) and isinstance(new, dict):
        return all(_same(old.get(key), new[key]) if key in old else new[key] is None for key in new) and all(
            key in new or old[key] is None for key in old)
    return old == new


def run_items(
    run: RunDir,
    items: Sequence[T],
    key: Callable[[T], str],
    work: Callable[[T], dict],
    workers: int = 1,
    running: Callable[[list[dict]], str] | None = None,
    desc: str = "queries",
) -> list[dict]:
    """Apply ``work`` to every item not yet in the run, at most ``workers`` at a time, appending each
    result as it finishes; returns all records (earlier and new) in ``items`` order.

    ``running`` turns the records so far into a short string for the progress bar (e.g. "nDCG@10 0.66").
    """
    done = run.done()
    records = list(done.values())
    todo = [item for item in items if key(item) not in done]
    if done:
        log.info("resuming %s: %d of %d already done", run.path, len(items) - len(todo), len(items))
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc, file=sys.stderr, disable=None)
    try:
        for record in _bounded_map(work, todo, workers):
            run.append(record)
            records.append(record)
            bar.update(1)
            if running is not None:
                bar.set_postfix_str(running(records), refresh=False)
    finally:
        bar.close()
    order = {key(item): position for position, item in enumerate(items)}
    return sorted((r for r in records if str(r["id"]) in order), key=lambda r: order[str(r["id"])])


def _bounded_map(work: Callable[[T], dict], items: Iterable[T], workers: int) -> Iterable[dict]:
    """Results in completion order with at most ``workers`` calls in flight (a plain loop for one worker,
    so single-threaded runs have simple tracebacks)."""
    if workers <= 1:
        for item in items:
            yield work(item)
        return
    pending: set[Future] = set()
    iterator = iter(items)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for item in iterator:
            pending.add(pool.submit(work, item))
            if len(pending) >= workers:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        for future in list(pending):
            yield future.result()


def git_commit() -> str | None:
    """The repository's HEAD commit, with '+dirty' when tracked files differ from it."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def public_settings(config: Config) -> dict:
    """Every setting that can change a run's results, for config.json: not the LLM API key, timeout and
    retries, not how many requests run at once (a run may resume with other parallelism; metrics.json records it), not the
    server, UI and adapt sections, and not the abstention floors."""
    settings = as_dict(config)
    for key in ("api_key", "timeout_s", "max_retries"):  # how long to wait and how often to retry: not what
        settings["llm"].pop(key, None)                     # the answers are
    settings["eval"].pop("workers", None)
    # How servers are started, the UI is reached and `deeprag adapt` trains: no run reads them (an adaptation
    # in force is a property of the index, which search applies and reports).
    for section in ("serve", "ui", "adapt"):
        settings.pop(section, None)
    for floor in ("min_rerank_score", "min_dense_score"):  # no run abstains: QA answers every question, and
        settings["grounding"].pop(floor, None)             # `eval abstain` fits the floors itself
    return settings


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (numpy's linear interpolation); 0.0 for no values."""
    import numpy as np

    return float(np.percentile(values, q)) if len(values) else 0.0
