"""Ingestion and deletion in a background thread, so the chat keeps answering while documents are added.

One `JobRunner` exists per server process (the UI keeps it in ``st.cache_resource``) and runs one job at a
time: the index has a single writer anyway (ingest/index_dir.write_lock). A job ingests its files in small
batches; each batch is a full `Ingestor.run`, which commits and publishes, so searchers see the first new
documents as soon as their batch lands (`Searcher.refresh`) and the progress bar moves per batch.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from ground.config import Config
from ingest.discovery import discover
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
        if self.state == "failed":
            return f"{self.label} failed: {self.message}"
        seconds = (self.finished or time.time()) - self.started
        parts = [f"{self.added} added", f"{self.updated} updated", f"{self.unchanged} unchanged"]
        if self.removed:
            parts.append(f"{self.removed} removed")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        return f"{self.label}: " + ", ".join(parts) + f"; {self.chunks} chunks in {seconds:.1f} s"


class JobRunner:
    """Runs one ingestion or deletion at a time in a daemon thread; `current` is safe to read any time."""

    def __init__(self, embedder_for: Callable[[Config], Embedder]):
        self._embedder_for = embedder_for
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._thread: threading.Thread | None = None

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
        return self._start(Job(label, total=len(files)), lambda job: self._ingest(config, batches, job))

    def delete(self, config: Config, sources: list[str], label: str) -> Job:
        """Start removing the chunks of ``sources`` (paths as stored in the index)."""
        return self._start(Job(label, total=len(sources)), lambda job: self._delete(config, sources, job))

    def wait(self, timeout: float | None = None) -> Job | None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._job

    def _start(self, job: Job, work: Callable[[Job], None]) -> Job:
        with self._lock:
            if self.busy:
                raise JobBusy(f"'{self._job.label if self._job else 'a job'}' is still running; wait for it to finish")
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
            job.finished = time.time()

    def _ingest(self, config: Config, batches: list[list[Path]], job: Job) -> None:
        ingestor = Ingestor.for_config(config, embedder=self._embedder_for(config))
        for batch in batches:
            summary = ingestor.run(batch)
            job.added += summary.added
            job.updated += summary.updated
            job.unchanged += summary.unchanged
            job.chunks += summary.chunks_embedded
            job.skipped.extend(summary.skipped)
            job.done += len(batch)

    def _delete(self, config: Config, sources: list[str], job: Job) -> None:
        ingestor = Ingestor.for_config(config, embedder=self._embedder_for(config))
        for source in sources:
            job.chunks += ingestor.delete(source)
            job.removed += 1
            job.done += 1
