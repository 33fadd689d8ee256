"""File helpers shared by ingestion, evaluation runs and the UI: content hashes and atomic JSON writes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any


def file_sha256(path: Path) -> str:
    """Content hash, read in 1 MiB blocks: what decides whether a file changed, and what run records cite."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomically(path: Path, data: Any) -> None:
    """Write through a temporary file, fsync, then rename: a reader (or a crash) never sees half a file.
    A ``.gz`` path gets compact, gzip-compressed JSON (large machine-read files); any other, indented text."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw:
        if path.suffix == ".gz":
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
                handle.write(json.dumps(data, ensure_ascii=False).encode("utf-8"))
        else:
            raw.write((json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
