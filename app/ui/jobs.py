"""Ingestion and deletion in a background thread, so the chat keeps answering while documents are added.

One `JobRunner` exists per server process (the UI keeps it in ``st.cache_resource``) and runs one job at a
time: the index has a single writer anyway (ingest/index_dir.write_lock). A job ingests its files in small
batches; each batch is a full `Ingestor.run`, which commits and publishes, so searchers see the first new
documents as soon as their batch lands (`Searcher.refresh`) and the progress bar moves per batch.

The runner also keeps the per-document status board (app/ui/doc_status.py): what is being ingested or deleted,
and which files failed and why, until dismissed; and it counts finished jobs, so a page that drew its table
before the last job ended knows to draw it again, however fast the job was.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from app.ui.doc_status import StatusBoard
from app.ui.texts import t
from app.ui.uploads import remove_upload
from ground.config import Config
from ingest.discovery import absolute, discover
from ingest.embedder import Embedder
from ground.errors import DeepragError
from ingest.models import SkippedFile
from ingest.pipeline import Ingestor

log = logging.getLogger(__name__)

MAX_STEPS = 20  # progress updates per job; more batches would re-publish the index needlessly often

State = Literal["running", "done", "failed"]


class JobBusy(DeepragError):
    """A second job was asked for while one runs."""


@dataclass
class Job:
    """What the Documents page shows: progress while running, then the outcome."""

    label: str
    total: int
    index_dir: str = ""
    sources: list[str] = field(default_factory=list)  # the paths it works on, as the index keys them
    done: int = 0
    state: State = "running"
    message: str = ""
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float | None = None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def summary_line(self) -> str:
        """The outcome, in the language of the session that reads it (``label`` stays in its starter's)."""
        if self.state == "failed":
            return t("job.failed", label=self.label, message=self.message)
        seconds = (self.finished or time.time()) - self.started
        more = ((t("job.removed", count=self.removed) if self.removed else "")
                + (t("job.skipped", count=len(self.skipped)) if self.skipped else ""))
        return t("job.done", label=self.label, added=self.added, updated=self.updated, unchanged=self.unchanged,
                 more=more, chunks=self.chunks, seconds=f"{seconds:.1f}")


class JobRunner:
    """Runs one ingestion or deletion at a time in a daemon thread; `current` is safe to read any time."""

    def __init__(self, embedder_for: Callable[[Config], Embedder]):
        self._embedder_for = embedder_for
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._thread: threading.Thread | None = None
        self.board = StatusBoard()
        self.finished = 0  # jobs ended so far (done or failed)

    @property
    def current(self) -> Job | None:
        return self._job

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ingest(self, config: Config, paths: list[Path], label: str) -> Job:
        """Start ingesting ``paths`` (files or folders) into ``config.index_dir``."""
        files = discover(paths, config.ingest.include, config.ingest.exclude)
        size = max(1, math.ceil(len(files) / MAX_STEPS))
        batches = [files[i:i + size] for i in range(0, len(files), size)]
        job = Job(label, total=len(files), index_dir=_key(config), sources=[str(f) for f in files])
        return self._start(job, lambda job: self._ingest(config, batches, job), "ingesting")

    def delete(self, config: Config, sources: list[str], label: str, uploads: Path | None = None) -> Job:
        """Start removing the chunks of ``sources`` (paths as stored in the index). A source stored in the
        ``uploads`` folder is deeprag's own copy of an upload: its file is deleted too."""
        job = Job(label, total=len(sources), index_dir=_key(config), sources=list(sources))
        return self._start(job, lambda job: self._delete(config, sources, job, uploads), "deleting")

    def wait(self, timeout: float | None = None) -> Job | None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._job

    def _start(self, job: Job, work: Callable[[Job], None], state: Literal["ingesting", "deleting"]) -> Job:
        with self._lock:
            if self.busy:
                raise JobBusy(f"'{self._job.label if self._job else 'a job'}' is still running; wait for it to finish")
            self.board.mark(job.index_dir, job.sources, state)  # before the page draws its table
            self._job = job
            self._thread = threading.Thread(target=self._run, args=(job, work), name="deeprag-ingest", daemon=True)
            self._thread.start()
        return job

    def _run(self, job: Job, work: Callable[[Job], None]) -> None:
        try:
            work(job)
            job.state = "done"
        except DeepragError as exc:
            job.message, job.state = str(exc), "failed"
        except Exception as exc:  # the thread must always end in a visible state, never silently
            log.exception("background job %s failed", job.label)
            job.message, job.state = f"unexpected {type(exc).__name__}: {exc}", "failed"
        finally:
            if job.state == "failed":
                self.board.fail_unfinished(job.index_dir, job.sources, job.message)
            job.finished = time.time()
            self.finished += 1

    def _ingest(self, config: Config, batches: list[list[Path]], job: Job) -> None:
        ingestor = Ingestor.for_config(config, embedder=self._embedder_for(config))
        for batch in batches:
            summary = ingestor.run(batch)
            job.added += summary.added
            job.updated += summary.updated
            job.unchanged += summary.unchanged
            job.chunks += summary.chunks_embedded
            job.skipped.extend(summary.skipped)
            failed = {skipped.path: skipped.reason for skipped in summary.skipped}
            for path, reason in failed.items():
                self.board.mark(job.index_dir, [path], "failed", reason)
            self.board.clear(job.index_dir, [str(path) for path in batch if str(path) not in failed])
            job.done += len(batch)

    def _delete(self, config: Config, sources: list[str], job: Job, uploads: Path | None) -> None:
        ingestor = Ingestor.for_config(config, embedder=LazyEmbedder(lambda: self._embedder_for(config)))
        for source in sources:
            job.chunks += ingestor.delete(source)
            if uploads is not None:
                remove_upload(source, uploads)  # after the index let go of it: a failed delete keeps the file
            self.board.clear(job.index_dir, [source])
            job.removed += 1
            job.done += 1


class LazyEmbedder:
    """A delete job's embedder, loaded only if it is used. Deleting never embeds (the Ingestor takes the
    dimension from the index's manifest), and loading a model into a fresh server process takes seconds,
    minutes on a busy small machine, during which the delete would show no progress. (An ingestion loads it
    first thing: resolving which model needs the manifest, which a new index only has once the writer has
    begun.)"""

    def __init__(self, load: Callable[[], Embedder]):
        self._load = load
        self._real: Embedder | None = None

    def __getattr__(self, name: str):  # name, dimension, max_tokens, count_tokens, embed_passages, ...
        if self._real is None:
            self._real = self._load()
        return getattr(self._real, name)


def _key(config: Config) -> str:
    """The status board's key for the index a job works on."""
    return absolute(config.index_dir)
