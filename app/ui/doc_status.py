"""What happened to each document the UI was asked to ingest or delete, until the user dismisses it.

The index only knows documents that made it in; a file that failed to read leaves no trace there, and a
message printed once by the page vanishes at its next redraw. The board keeps, per index directory and file
path, the states the index cannot tell: ``ingesting`` and ``deleting`` while a job works on the file, and
``failed`` with the reason after, until the user dismisses it or the file goes in on a later try. A path the
board does not hold and the index does is simply indexed.

One board per server process (inside the shared JobRunner), so every browser session sees the same truth.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Iterable, Literal

State = Literal["ingesting", "deleting", "failed"]


@dataclass(frozen=True)
class DocStatus:
    state: State
    reason: str = ""  # why it failed; empty otherwise
    since: float = field(default_factory=time.time)


class StatusBoard:
    """Thread-safe: the job thread writes while page runs read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boards: dict[str, dict[str, DocStatus]] = {}

    def statuses(self, index_dir: str) -> dict[str, DocStatus]:
        """A copy of the index's entries, path → status."""
        with self._lock:
            return dict(self._boards.get(index_dir, {}))

    def mark(self, index_dir: str, paths: Iterable[str], state: State, reason: str = "") -> None:
        with self._lock:
            board = self._boards.setdefault(index_dir, {})
            for path in paths:
                board[path] = DocStatus(state, reason)

    def clear(self, index_dir: str, paths: Iterable[str]) -> None:
        """Forget ``paths``: done (the index now tells their state) or dismissed."""
        with self._lock:
            board = self._boards.get(index_dir, {})
            for path in paths:
                board.pop(path, None)

    def fail_unfinished(self, index_dir: str, paths: Iterable[str], reason: str) -> None:
        """A job died: those of its ``paths`` still ingesting or deleting failed, for ``reason``."""
        with self._lock:
            board = self._boards.get(index_dir, {})
            for path in paths:
                if path in board and board[path].state != "failed":
                    board[path] = DocStatus("failed", reason)

    def dismiss_failed(self, index_dir: str, paths: Iterable[str] | None = None) -> list[str]:
        """Drop failed entries (all, or those of ``paths``); returns the paths dropped."""
        with self._lock:
            board = self._boards.get(index_dir, {})
            wanted = set(board) if paths is None else set(paths)
            dropped = sorted(p for p in wanted if p in board and board[p].state == "failed")
            for path in dropped:
                del board[path]
        return dropped
