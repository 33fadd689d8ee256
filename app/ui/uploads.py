"""Saving uploaded files safely before they are ingested.

The index keys chunks on a file's absolute path, so uploads are kept on disk in one folder
(``ui.upload_dir``). Three rules protect that folder:
- the name is reduced to one safe path component (no ``../``, no separators, no hidden or reserved names);
- only types the readers understand, up to ``ingest.max_file_mb``;
- never overwrite: the same content under the same name is the same document (re-upload is a no-op for the
  index), other content under a taken name gets ``name (2).ext``.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pathvalidate import sanitize_filename

from ground.config import Config, user_data_dir
from ground.errors import DeepragError
from ingest.readers import READERS

ALLOWED_SUFFIXES: tuple[str, ...] = tuple(sorted(READERS))


class UploadRejected(DeepragError):
    """An uploaded file that is not saved; the message says why and what to do."""


@dataclass(frozen=True)
class SavedUpload:
    original_name: str
    path: Path
    renamed: bool  # saved under another name because the first one held different content
    duplicate: bool  # identical to a file already uploaded under this name


def upload_dir(config: Config) -> Path:
    return Path(config.ui.upload_dir) if config.ui.upload_dir else user_data_dir() / "uploads"


def safe_name(name: str) -> str:
    """One harmless file name from whatever the browser sent; Chinese and other letters are kept."""
    last = re.split(r"[\\/]", name)[-1]
    cleaned = sanitize_filename(last, platform="universal").strip().lstrip(".").strip()
    stem, suffix = os.path.splitext(cleaned)
    if not stem:
        cleaned = f"upload{suffix}"
    return cleaned


def save_upload(name: str, data: bytes, directory: Path, max_mb: float) -> SavedUpload:
    """Check and store one upload; raises UploadRejected with the reason."""
    clean = safe_name(name)
    suffix = Path(clean).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise UploadRejected(
            f"{name}: file type '{suffix or 'none'}' is not supported; upload one of {', '.join(ALLOWED_SUFFIXES)}"
        )
    if len(data) > max_mb * 1024 * 1024:
        raise UploadRejected(
            f"{name}: {len(data) / 2**20:.1f} MB is over the limit of {max_mb:g} MB (ingest.max_file_mb); "
            "split the file or raise the limit"
        )
    if not data:
        raise UploadRejected(f"{name}: the file is empty")
    directory.mkdir(parents=True, exist_ok=True)
    stem, suffix = os.path.splitext(clean)
    digest = hashlib.sha256(data).digest()
    for attempt in range(1, 1000):
        candidate = directory / (clean if attempt == 1 else f"{stem} ({attempt}){suffix}")
        try:
            # O_EXCL: two sessions uploading the same name at once cannot overwrite each other.
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if hashlib.sha256(candidate.read_bytes()).digest() == digest:
                return SavedUpload(name, candidate, renamed=attempt > 1, duplicate=True)
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return SavedUpload(name, candidate, renamed=attempt > 1, duplicate=False)
    raise UploadRejected(f"{name}: too many files named like this in {directory}; rename it and upload again")
