"""Typed errors of ingestion and index handling. Each message says what went wrong and how to fix it."""

import contextlib
import errno
import os
import sqlite3
from pathlib import Path
from typing import Iterator

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


class IndexDamaged(DeepragError):
    """A file of the index directory cannot be read; the message names it and the repair."""


class IndexReadOnly(DeepragError):
    """A writer was pointed at an index on a read-only file system or folder."""


class NotAnIndexDirectory(DeepragError):
    """--index names a file (or a path through a file), not a folder."""


class DiskFull(DeepragError):
    """The disk filled up during a write; what was committed before stays, the write itself is undone."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for lack of space, however the library reports it: OSError
    ENOSPC/EDQUOT, numpy's short write (an OSError without errno), SQLite's SQLITE_FULL, FAISS's
    RuntimeError carrying strerror(ENOSPC)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT) or (
            exc.errno is None and "requested and" in str(exc) and "written" in str(exc))
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc)
    if isinstance(exc, RuntimeError):
        return os.strerror(errno.ENOSPC) in str(exc) or os.strerror(errno.EDQUOT) in str(exc)
    return False


def is_read_only(exc: BaseException) -> bool:
    """Whether ``exc`` is a write refused because the file system or the files are read-only."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_READONLY or "readonly database" in str(exc)
    return False


@contextlib.contextmanager
def guarded_write(what: str, directory: Path) -> Iterator[None]:
    """Turn a full disk or a read-only index during the write of ``what`` into a one-line error."""
    try:
        yield
    except DeepragError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise DiskFull(f"disk full while writing {what} in {directory}; free space and run again") from exc
        if is_read_only(exc):
            raise read_only_error(directory) from exc
        raise


def read_only_error(directory: Path) -> IndexReadOnly:
    return IndexReadOnly(
        f"index at {directory} is read-only; list and search work, but to change it copy it to a writable "
        "place or use another --index"
    )
