"""The index directory: manifest, docstore, and the derived FAISS and BM25 files, kept consistent.

Layout::

    manifest.json        embedder name and dimension, chunking, index kind, format version
    docstore.sqlite      chunks, embeddings, files (the source of truth)
    artifacts.json       which FAISS file and BM25 folder match which docstore generation
    faiss-<gen>.index    vectors by chunk id
    bm25-<gen>/          BM25 over the same chunks
    .lock                held by the one writer

Crash safety comes from ordering: the docstore commits first (one SQLite transaction), then new FAISS and
BM25 files are written under new names, then ``artifacts.json`` is replaced atomically. A reader that finds
``artifacts.json`` behind the docstore (a run was killed between the two) rebuilds both in memory from the
docstore, so what it searches always agrees with the docstore; the next ingestion persists them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import faiss

from ground.config import IndexConfig, updated
from ingest import vector_index
from ingest.checkpoints import checkpoint
from ingest.docstore import Docstore
from ingest.errors import IndexBusy, IndexMismatch, IndexMissing
from ground.files import write_json_atomically
from ingest.lexical_index import LexicalIndex

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DOCSTORE = "docstore.sqlite"
ARTIFACTS = "artifacts.json"
LOCK = ".lock"


@dataclass(frozen=True)
class Manifest:
    """What an index was built with; readers refuse an index whose manifest disagrees with their settings."""

    embedder: str
    dimension: int
    max_tokens: int
    overlap_tokens: int
    index_kind: str
    format_version: int = FORMAT_VERSION

    @classmethod
    def read(cls, directory: Path) -> "Manifest":
        path = directory / MANIFEST
        if not path.is_file():
            raise IndexMissing(f"no index at {directory}; create one with `deeprag ingest PATH --index {directory}`")
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexMismatch(
                f"index at {directory} has format {data.get('format_version')}, this deeprag reads {FORMAT_VERSION}; "
                "re-ingest into a new --index directory"
            )
        return cls(**data)

    def write(self, directory: Path) -> None:
        write_json_atomically(directory / MANIFEST, asdict(self))

    def require_same_content(self, other: "Manifest", directory: Path) -> None:
        """Embedder and chunking decide what is stored; a different setting needs a different index."""
        for field_name, label in (("embedder", "embedding.model"), ("dimension", "embedding dimension"),
                                  ("max_tokens", "chunking.max_tokens"), ("overlap_tokens", "chunking.overlap_tokens")):
            mine, theirs = getattr(self, field_name), getattr(other, field_name)
            if mine != theirs:
                raise IndexMismatch(
                    f"index at {directory} was built with {label} = {mine!r}, but the settings ask for {theirs!r}; "
                    f"use the same setting, or another --index directory"
                )


@dataclass(frozen=True)
class ArtifactState:
    generation: int
    faiss_file: str
    bm25_dir: str

    @classmethod
    def read(cls, directory: Path) -> "ArtifactState | None":
        try:
            return cls(**json.loads((directory / ARTIFACTS).read_text(encoding="utf-8")))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None


@contextlib.contextmanager
def write_lock(directory: Path) -> Iterator[None]:
    """One writer at a time. flock is released by the kernel when a writer dies, even by SIGKILL."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise IndexBusy(f"another ingestion (pid {holder}) is writing to {directory}; wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_docstore(directory: Path) -> Docstore:
    return Docstore(directory / DOCSTORE)


def publish(directory: Path, docstore: Docstore, config: IndexConfig, dimension: int) -> None:
    """Write FAISS and BM25 files matching the docstore's current generation, then switch to them."""
    generation = docstore.generation()
    state = ArtifactState.read(directory)
    previous = _load_faiss(directory, state)
    if state and state.generation == generation and previous is not None and vector_index.kind_of(previous) == config.kind:
        return
    vectors = vector_index.synced(previous, config, docstore, dimension)
    lexical = LexicalIndex.build(docstore.iter_indexed_texts())
    new_state = ArtifactState(generation, f"faiss-{generation}.index", f"bm25-{generation}")
    for leftover in (directory / new_state.faiss_file, directory / new_state.bm25_dir):
        _remove(leftover)  # from an earlier run killed at this very point
    faiss.write_index(vectors, str(directory / f"{new_state.faiss_file}.tmp"))
    os.replace(directory / f"{new_state.faiss_file}.tmp", directory / new_state.faiss_file)
    lexical.save(directory / f"{new_state.bm25_dir}.tmp")
    os.replace(directory / f"{new_state.bm25_dir}.tmp", directory / new_state.bm25_dir)
    checkpoint("mid-publish")
    write_json_atomically(directory / ARTIFACTS, asdict(new_state))
    checkpoint("after-publish")
    _remove_stale_artifacts(directory, new_state)


def _load_faiss(directory: Path, state: ArtifactState | None) -> faiss.Index | None:
    if state is None:
        return None
    try:
        return faiss.read_index(str(directory / state.faiss_file))
    except RuntimeError:
        log.warning("FAISS file %s is unreadable; rebuilding it from the docstore", state.faiss_file)
        return None


def _remove_stale_artifacts(directory: Path, keep: ArtifactState) -> None:
    for path in directory.iterdir():
        name = path.name
        if (name.startswith("faiss-") or name.startswith("bm25-")) and name not in (keep.faiss_file, keep.bm25_dir):
            _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@dataclass
class IndexSnapshot:
    """Everything a searcher reads, mutually consistent: FAISS and BM25 hold exactly the docstore's chunks
    as of ``generation``."""

    directory: Path
    manifest: Manifest
    docstore: Docstore
    vectors: faiss.Index
    lexical: LexicalIndex
    generation: int


def open_snapshot(directory: Path, config: IndexConfig) -> IndexSnapshot:
    """Open an index for searching. Never writes; repairs a stale or damaged one in memory."""
    manifest = Manifest.read(directory)
    docstore = open_docstore(directory)
    generation = docstore.generation()
    state = ArtifactState.read(directory)
    search_config = updated(config, {"kind": manifest.index_kind})
    if state is not None and state.generation == generation:
        try:
            vectors = faiss.read_index(str(directory / state.faiss_file))
            vector_index.configure_search(vectors, search_config)
            lexical = LexicalIndex.load(directory / state.bm25_dir)
            return IndexSnapshot(directory, manifest, docstore, vectors, lexical, generation)
        except (RuntimeError, OSError, ValueError) as exc:
            log.warning("index files in %s are damaged (%s); rebuilding them in memory", directory, exc)
    else:
        log.warning(
            "index files in %s are behind the docstore (an ingestion was interrupted); rebuilding them in memory. "
            "Run `deeprag ingest` again to finish and persist them.", directory,
        )
    vectors = vector_index.synced(None, search_config, docstore, manifest.dimension)
    lexical = LexicalIndex.build(docstore.iter_indexed_texts())
    return IndexSnapshot(directory, manifest, docstore, vectors, lexical, generation)
