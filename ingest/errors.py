"""Typed errors of ingestion and index handling. Each message says what went wrong and how to fix it."""

from ground.errors import DeepragError


class UnreadableFile(DeepragError):
    """A file that cannot be turned into text; ingestion skips it and counts the reason."""


class IndexMismatch(DeepragError):
    """The index directory was built with other settings (embedder, chunking, format) than asked for."""


class IndexMissing(DeepragError):
    """No index at the given directory."""


class IndexBusy(DeepragError):
    """Another ingestion holds the index's write lock."""


class ModelUnavailable(DeepragError):
    """A model could not be loaded (not installed offline, no internet for the hub, bad path)."""
