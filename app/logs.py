"""Logging for the CLI and the UI: deeprag's own messages at INFO, libraries' chatter only from WARNING.

A filter on the handler rather than logger levels, because some libraries set their own logger's level when
they are imported (bm25s sets DEBUG), which would undo a level set before the import.
"""

from __future__ import annotations

import logging
import sys

QUIET_LIBRARIES = ("sentence_transformers", "transformers", "httpx", "httpx2", "urllib3", "filelock", "faiss",
                   "bm25s", "openai", "streamlit")


class _LibraryChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        quiet = record.name.split(".")[0] in QUIET_LIBRARIES
        return record.levelno >= logging.WARNING or not quiet


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record, not at set-up: the CLI runs in-process
    many times under tests, each with its own captured stream, and the old ones are closed."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(verbose: bool = False) -> None:
    """One stderr handler: DEBUG for everything with ``verbose``, else INFO for deeprag, WARNING for libraries."""
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if not verbose:
        handler.addFilter(_LibraryChatter())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
