"""Which files an ingestion run looks at: the given files, and folders walked recursively through
include/exclude globs."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from ground.errors import DeepragError
from ingest.readers import supported_suffixes


def absolute(path: Path | str) -> str:
    """The key a file is stored under: absolute and normalised, symlinks kept as named."""
    return os.path.normpath(os.path.abspath(os.fspath(path)))


def _matches(relative: str, pattern: str) -> bool:
    """A pattern with no '/' tests each path component ('.*' excludes hidden folders at any depth);
    one with '/' tests the whole relative path ('**/' may also match nothing)."""
    if "/" not in pattern:
        return any(fnmatch.fnmatch(part, pattern) for part in relative.split("/"))
    return fnmatch.fnmatch(relative, pattern) or (
        pattern.startswith("**/") and fnmatch.fnmatch(relative, pattern[3:])
    )


def discover(paths: list[Path], include: list[str], exclude: list[str]) -> list[Path]:
    """Files to consider, sorted and unique. Explicitly named files are always taken (an unsupported type
    is then reported by the reader); files inside folders must have a supported type (llama-index's too, where
    it is installed) and pass the globs."""
    suffixes = supported_suffixes()
    found: dict[str, Path] = {}
    for root in paths:
        if not os.path.lexists(root):
            raise DeepragError(f"{root} does not exist; check the path")
        if not root.is_dir():
            found.setdefault(absolute(root), Path(absolute(root)))
            continue
        for directory, subdirs, names in os.walk(root):
            here = Path(directory).relative_to(root).as_posix()
            subdirs[:] = sorted(
                d for d in subdirs
                if not any(_matches(d if here == "." else f"{here}/{d}", p) for p in exclude if "/" not in p)
            )
            for name in sorted(names):
                path = Path(directory) / name
                relative = path.relative_to(root).as_posix()
                if path.suffix.lower() not in suffixes:
                    continue
                if include and not any(_matches(relative, pattern) for pattern in include):
                    continue
                if any(_matches(relative, pattern) for pattern in exclude):
                    continue
                found.setdefault(absolute(path), Path(absolute(path)))
    return [found[key] for key in sorted(found)]
