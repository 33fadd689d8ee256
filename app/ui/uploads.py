"""Saving uploaded files safely before they are ingested.

The index keys chunks on a file's absolute path, so uploads are kept on disk in one folder
(``ui.upload_dir``). Three rules protect that folder:
- the name is reduced to one safe path component (no ``../``, no separators, no hidden or reserved names), and
  the page tells the user when that changed the name;
- only types the readers understand, up to ``ingest.max_file_mb``;
- never overwrite unasked: the same content under the same name is the same document (re-upload is a no-op for
  the index); other content under a taken name raises NameTaken, and only ``replace=True`` (after the user
  confirmed) replaces the file, so the document keeps its one name in the index instead of gaining a
  ``name (2).ext`` twin.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pathvalidate import sanitize_filename

from ground.config import Config, user_data_dir
from ground.errors import DeepragError
from ingest.readers import READERS

ALLOWED_SUFFIXES: tuple[str, ...] = tuple(sorted(READERS))


class UploadRejected(DeepragError):
    """An uploaded file that is not saved; the message says why and what to do."""


class NameTaken(DeepragError):
    """A different file is already uploaded under this name; nothing was written. Replacing it needs the
    user's yes (``save_upload(..., replace=True)``)."""

    def __init__(self, name: str, path: Path):
        super().__init__(f"{name}: a different file is already uploaded as {path.name}; confirm to replace it, "
                         "or rename the file and upload it again")
        self.name = name
        self.path = path


@dataclass(frozen=True)
class SavedUpload:
    original_name: str  # as the browser sent it
    path: Path
    duplicate: bool = False  # identical to the file already uploaded under this name: nothing was written
    replaced: bool = False  # a different file of this name was replaced, as the user asked

    @property
    def renamed(self) -> bool:
        """Stored under another name than the one sent, which was not a plain, safe file name."""
        return self.path.name != self.original_name


def upload_dir(config: Config) -> Path:
    """Where uploads are kept, absolute (the index keys documents on absolute paths)."""
    folder = Path(config.ui.upload_dir) if config.ui.upload_dir else user_data_dir() / "uploads"
    return Path(os.path.abspath(folder))


def is_upload(path: str | Path, directory: Path) -> bool:
    """Whether ``path`` is a file stored in the upload folder (deeprag's own copy, which it may delete), as
    opposed to a user's file ingested from a folder on the server (never deleted)."""
    return os.path.dirname(os.path.realpath(path)) == os.path.realpath(directory)


def remove_upload(path: str | Path, directory: Path) -> bool:
    """Delete the stored copy of an upload; returns whether a file was removed. Anything outside the upload
    folder is left alone."""
    if not is_upload(path, directory):
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def safe_name(name: str) -> str:
    """One harmless file name from whatever the browser sent; Chinese and other letters are kept."""
    last = re.split(r"[\\/]", name)[-1]
    cleaned = sanitize_filename(last, platform="universal").strip().lstrip(".").strip()
    stem, suffix = os.path.splitext(cleaned)
    if not stem:
        cleaned = f"upload{suffix}"
    return cleaned


def save_upload(name: str, data: bytes, directory: Path, max_mb: float, replace: bool = False) -> SavedUpload:
    """Check and store one upload; raises UploadRejected with the reason, or NameTaken when a different file
    has this name and ``replace`` is False."""
    clean = safe_name(name)
    suffix = Path(clean).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise UploadRejected(
            f"{name}: file type '{suffix or 'none'}' is not supported, so it was not uploaded; deeprag reads "
            f"{', '.join(ALLOWED_SUFFIXES)} (convert the file to one of them)"
        )
    if len(data) > max_mb * 1024 * 1024:
        raise UploadRejected(
            f"{name}: {len(data) / 2**20:.1f} MB is over the limit of {max_mb:g} MB (ingest.max_file_mb); "
            "split the file or raise the limit"
        )
    if not data:
        raise UploadRejected(f"{name}: the file is empty")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / clean
    try:
        # O_EXCL: two sessions uploading the same name at once cannot overwrite each other.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        if hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest():
            return SavedUpload(name, target, duplicate=True)
        if not replace:
            raise NameTaken(name, target) from None
        _replace_atomically(target, data)
        return SavedUpload(name, target, replaced=True)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return SavedUpload(name, target)


def _replace_atomically(target: Path, data: bytes) -> None:
    """Write next to ``target``, then rename over it: an ingestion reading the file meanwhile sees the old
    content or the new, never half of each."""
    fd, temporary = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
