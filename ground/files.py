"""File helpers shared by every layer: content hashes and atomic JSON writes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's content, streamed (hashlib.file_digest): what decides whether an indexed file
    changed, what run records cite, and what downloads are checked against."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def file_sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def write_json_atomically(path: Path, data: Any) -> None:
    """Write through a temporary file, fsync, then rename: a reader (or a crash) never sees half a file.

    The temporary file has a unique name in the target's folder, so two writers of the same file (two UI
    sessions saving settings) never share one; the last rename wins whole. A ``.gz`` path gets compact,
    gzip-compressed JSON (large machine-read files); any other, indented text."""
    if path.suffix == ".gz":
        payload = gzip.compress(json.dumps(data, ensure_ascii=False).encode("utf-8"), mtime=0)
    else:
        payload = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as raw:
            os.fchmod(raw.fileno(), 0o644)  # mkstemp's 0600 would hide a shared index's files from its readers
            raw.write(payload)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
