"""The index directory: manifest, docstore, and the derived FAISS and BM25 files, kept consistent.

Layout::

    manifest.json        embedder name and dimension, chunking, index kind, format version
    docstore.sqlite      chunks, embeddings, files (the source of truth)
    artifacts.json       which FAISS file and BM25 folder match which docstore generation
    faiss-<gen>.index    vectors by chunk id
    bm25-<gen>/          BM25 over the same chunks
    .lock                held by the one writer

The docstore also keeps a copy of the manifest (meta key ``manifest``), so a damaged or deleted
manifest.json can be restored (``deeprag repair``; ingestion does it by itself). Temporary files
(``faiss-<gen>.index.tmp``, ``bm25-<gen>.tmp/``, ``.<name>.json.*.tmp``) that a killed run or a full disk
leaves are cleared by the next writer, under the lock. Readers open the docstore read-only and write nothing,
so an index on a read-only mount can be listed and searched.

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
import re
import shutil
import sqlite3
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

import faiss
import numpy as np

from ground.config import IndexConfig, updated
from ingest import vector_index
from ingest.checkpoints import checkpoint
from ingest.corpus_languages import CorpusLanguages
from ingest.docstore import Docstore
from ingest.errors import IndexBusy, IndexDamaged, IndexMismatch, IndexMissing, NotAnIndexDirectory, guarded_write
from ground.files import write_json_atomically
from ingest.lexical_index import LexicalIndex

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DOCSTORE = "docstore.sqlite"
ARTIFACTS = "artifacts.json"
LOCK = ".lock"
MANIFEST_COPY = "manifest"  # the docstore's meta key holding a copy of manifest.json
# What a killed or failed writer can leave behind: FAISS and BM25 being written, atomic JSON temp files.
TEMPORARY = re.compile(r"(faiss-\d+\.index|bm25-\d+|\.(manifest|artifacts)\.json\..*)\.tmp")


def check_index_path(directory: Path) -> None:
    """--index must name a folder (existing or to be created), not a file."""
    if directory.exists() and not directory.is_dir():
        raise NotAnIndexDirectory(
            f"--index {directory} is a file, not an index directory; give --index a folder "
            "(an existing index, or a new one to create)"
        )


def no_index(directory: Path) -> IndexMissing:
    return IndexMissing(f"no index at {directory}; create one with `deeprag ingest PATH --index {directory}`")


def require_index(directory: Path) -> None:
    """An index is there (manifest or docstore), without creating anything."""
    check_index_path(directory)
    if not (directory / MANIFEST).exists() and not (directory / DOCSTORE).exists():
        raise no_index(directory)


@dataclass(frozen=True)
class Manifest:
    """What an index was built with; readers refuse an index whose manifest disagrees with their settings."""

    embedder: str
    dimension: int
    max_tokens: int
    overlap_tokens: int
    index_kind: str
    format_version: int = FORMAT_VERSION
    # The languages of the indexed text (CorpusLanguages.to_json): units per language per file, as of one
    # docstore generation. Absent in indexes written before deeprag recorded it: unknown until the next
    # ingestion records it (or a reader measures it, see ingest.corpus_languages).
    languages: dict | None = None
    # The adaptation `deeprag adapt` made for this corpus (retrieval.adaptation.store.Adaptation.to_json): its
    # reranker's folder under adapted/, what it was trained from and on, and the stage shares it chose. Absent
    # until adapt runs; carried unchanged by ingestion, which only makes it stale.
    adapted: dict | None = None

    @property
    def corpus_languages(self) -> CorpusLanguages | None:
        return CorpusLanguages.from_json(self.languages)

    @classmethod
    def read(cls, directory: Path) -> "Manifest":
        """manifest.json; a missing or damaged one is named with the fix (readers never write)."""
        check_index_path(directory)
        path = directory / MANIFEST
        if not path.is_file():
            if (directory / DOCSTORE).is_file():
                raise IndexDamaged(
                    f"{path} is missing; run `deeprag repair --index {directory}` to restore it from the docstore"
                )
            raise no_index(directory)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise IndexDamaged(
                f"{path} cannot be read ({exc}); run `deeprag repair --index {directory}` to restore it from the docstore"
            ) from exc
        return cls.parse(text, directory, f"{path} is damaged ({{}}); run `deeprag repair --index {directory}` "
                                          "to restore it from the docstore")

    @classmethod
    def parse(cls, text: str, directory: Path, damaged: str) -> "Manifest":
        """A manifest from JSON text; ``damaged`` (with {} for the reason) is the message if it is not one."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise IndexDamaged(damaged.format(f"not valid JSON: {exc}" if text.strip() else "empty")) from exc
        if not isinstance(data, dict):
            raise IndexDamaged(damaged.format(f"a JSON {type(data).__name__}, not an object"))
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexMismatch(
                f"index at {directory} has format {data.get('format_version')}, this deeprag reads {FORMAT_VERSION}; "
                "re-ingest into a new --index directory"
            )
        try:
            manifest = cls(**data)
        except TypeError as exc:
            raise IndexDamaged(damaged.format(exc)) from exc
        if not isinstance(manifest.embedder, str) or not isinstance(manifest.dimension, int):
            raise IndexDamaged(damaged.format("embedder or dimension of the wrong type"))
        if manifest.languages is not None and manifest.corpus_languages is None:
            manifest = replace(manifest, languages=None)  # descriptive only: unknown, measured again
        return manifest

    @classmethod
    def stored_in(cls, docstore: Docstore, directory: Path) -> "Manifest | None":
        """The copy of the manifest the docstore keeps (None before the first write of this deeprag)."""
        text = docstore.meta(MANIFEST_COPY)
        if text is None:
            return None
        return cls.parse(text, directory, f"the manifest copy in {directory / DOCSTORE} is damaged ({{}}); "
                                          "re-ingest into a new --index")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def write(self, directory: Path) -> None:
        write_json_atomically(directory / MANIFEST, asdict(self))

    def same_vectors(self, other: "Manifest") -> bool:
        """Whether both describe vectors of the same embedder (what a re-embedding changes)."""
        return (self.embedder, self.dimension) == (other.embedder, other.dimension)

    def require_same_content(self, other: "Manifest", directory: Path) -> None:
        """Embedder and chunking decide what is stored; a different setting needs a different index, or (for
        the embedder) re-embedding this one."""
        if self.embedder != other.embedder:
            raise IndexMismatch(
                f"index at {directory} was built with embedding.model = {self.embedder!r}, but the settings ask for "
                f"{other.embedder!r}; re-embed its chunks with {other.embedder!r} by adding --reembed "
                f"(`deeprag ingest --reembed --embedder {other.embedder} --index {directory}`), or use the same "
                "setting, or another --index directory"
            )
        for field_name, label in (("dimension", "embedding dimension"),
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
        """None where artifacts.json is missing or damaged: readers then rebuild in memory, writers rewrite."""
        try:
            state = cls(**json.loads((directory / ARTIFACTS).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):  # ValueError: bad JSON or bad UTF-8
            return None
        names_ok = all(isinstance(n, str) and n and "/" not in n for n in (state.faiss_file, state.bm25_dir))
        return state if isinstance(state.generation, int) and names_ok else None


@contextlib.contextmanager
def write_lock(directory: Path) -> Iterator[None]:
    """One writer at a time. flock is released by the kernel when a writer dies, even by SIGKILL. A read-only
    index, a full disk, or an --index through a file end in one line here, before anything is written."""
    check_index_path(directory)
    try:
        with guarded_write(LOCK, directory):
            directory.mkdir(parents=True, exist_ok=True)
            handle = open(directory / LOCK, "a+")
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = next((p for p in (*reversed(directory.parents), directory) if p.exists() and not p.is_dir()), None)
        raise NotAnIndexDirectory(
            f"--index {directory} cannot be a folder: {blocker or exc.filename} is a file; give --index a folder path"
        ) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise IndexBusy(f"another ingestion (pid {holder}) is writing to {directory}; wait for it to finish") from None
        with guarded_write(LOCK, directory):
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record_adaptation(directory: Path, entry: dict | None) -> None:
    """Set (or, with None, remove) the manifest's ``adapted`` entry in manifest.json and the docstore's copy,
    under the write lock: the one step that switches search to an adaptation or back, so it comes last."""
    require_index(directory)
    with write_lock(directory):
        manifest = replace(Manifest.read(directory), adapted=entry)
        docstore = open_docstore(directory, writable=True)
        try:
            with guarded_write(MANIFEST, directory):
                manifest.write(directory)
            docstore.set_meta(MANIFEST_COPY, manifest.to_json())
        finally:
            docstore.close()


def clear_leftovers(directory: Path) -> list[str]:
    """Remove the temporary files of runs that were killed or failed; only under the write lock (a live
    writer's temporary files are its own). Returns their names."""
    removed = []
    for path in sorted(directory.iterdir()):
        if TEMPORARY.fullmatch(path.name):
            _remove(path)
            removed.append(path.name)
    return removed


def open_docstore(directory: Path, *, writable: bool = False) -> Docstore:
    """The docstore, read-only (what every reader gets: it writes nothing, not even SQLite's -shm file where
    it cannot) or, for the one writer under the lock, writable (created if missing)."""
    path = directory / DOCSTORE
    if not writable and not path.is_file():
        raise IndexDamaged(f"{path} is missing, and with it every chunk of the index at {directory}; "
                           f"re-ingest with `deeprag ingest PATH --index {directory}`")
    # The writer's full disk or read-only folder ends in one line; a reader's failure means a damaged file.
    opening = guarded_write(f"the docstore ({DOCSTORE})", directory) if writable else contextlib.nullcontext()
    try:
        with opening:
            return Docstore(path, read_only=not writable)
    except sqlite3.DatabaseError as exc:
        raise IndexDamaged(f"{path} cannot be read ({exc}); it holds the index's chunks: restore it from a "
                           "backup, or re-ingest into a new --index") from exc


def publish(directory: Path, docstore: Docstore, config: IndexConfig, dimension: int) -> bool:
    """Write FAISS and BM25 files matching the docstore's current generation, then switch to them. Files of
    the current generation are kept only if they are on disk, load, and hold the docstore's chunks. Returns
    whether files were written."""
    generation = docstore.generation()
    state = ArtifactState.read(directory)
    previous = _load_faiss(directory, state)
    if (state and state.generation == generation and previous is not None
            and vector_index.kind_of(previous) == config.kind and _sound_on_disk(directory, state, previous, docstore)):
        _remove_stale_artifacts(directory, state)  # a run killed after switching left the old ones
        return False
    vectors = vector_index.synced(previous, config, docstore, dimension)
    lexical = LexicalIndex.build(docstore.iter_indexed_texts())
    new_state = ArtifactState(generation, f"faiss-{generation}.index", f"bm25-{generation}")
    faiss_tmp, bm25_tmp = directory / f"{new_state.faiss_file}.tmp", directory / f"{new_state.bm25_dir}.tmp"
    written = (faiss_tmp, bm25_tmp, directory / new_state.faiss_file, directory / new_state.bm25_dir)
    for leftover in written:
        _remove(leftover)  # from an earlier run killed at this very point, or damaged files being replaced
    try:
        with guarded_write(f"the FAISS index {new_state.faiss_file}", directory):
            faiss.write_index(vectors, str(faiss_tmp))
        checkpoint("faiss-tmp-written")
        os.replace(faiss_tmp, directory / new_state.faiss_file)
        with guarded_write(f"the BM25 index {new_state.bm25_dir}", directory):
            lexical.save(bm25_tmp)
        checkpoint("bm25-tmp-written")
        os.replace(bm25_tmp, directory / new_state.bm25_dir)
        checkpoint("mid-publish")
        with guarded_write(ARTIFACTS, directory):
            write_json_atomically(directory / ARTIFACTS, asdict(new_state))
    except BaseException:
        current = ArtifactState.read(directory)  # leave what artifacts.json names; remove the rest written here
        for path in written:
            if current is None or path.name not in (current.faiss_file, current.bm25_dir):
                _remove(path)
        raise
    checkpoint("after-publish")
    _remove_stale_artifacts(directory, new_state)
    return True


def _sound_on_disk(directory: Path, state: ArtifactState, vectors: faiss.Index, docstore: Docstore) -> bool:
    try:
        _require_same_chunks(vectors, LexicalIndex.load(directory / state.bm25_dir), docstore)
    except Exception as exc:  # bm25s and numpy raise many types for a damaged folder
        log.warning("index files in %s are damaged (%s); rewriting them", directory, exc)
        return False
    return True


def _require_same_chunks(vectors: faiss.Index, lexical: LexicalIndex, docstore: Docstore) -> None:
    wanted = docstore.chunk_ids()
    if not np.array_equal(np.sort(vector_index.stored_ids(vectors)), wanted):
        raise ValueError("the FAISS file holds other chunks than the docstore")
    if not np.array_equal(np.sort(lexical.ids), wanted):
        raise ValueError("the BM25 folder holds other chunks than the docstore")


def _load_faiss(directory: Path, state: ArtifactState | None) -> faiss.Index | None:
    if state is None:
        return None
    try:
        return faiss.read_index(str(directory / state.faiss_file))
    except (RuntimeError, OSError):
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


def _vectors_manifest(manifest: Manifest, docstore: Docstore, directory: Path) -> Manifest:
    """The manifest that describes the docstore's vectors. A re-embedding commits its vectors together with
    the docstore's copy of the manifest, then rewrites manifest.json; between the two (a killed run) the copy
    is the truth, and searching with the file's embedder would compare vectors of two different models."""
    try:
        copy = Manifest.stored_in(docstore, directory)
    except (IndexDamaged, IndexMismatch):
        return manifest
    if copy is None or copy.same_vectors(manifest):
        return manifest
    log.warning("%s names embedder %r but the docstore's vectors are %r (a re-embedding was interrupted after "
                "its commit); searching with %r. Run `deeprag repair --index %s` to rewrite the manifest.",
                directory / MANIFEST, manifest.embedder, copy.embedder, copy.embedder, directory)
    return copy


def open_snapshot(directory: Path, config: IndexConfig) -> IndexSnapshot:
    """Open an index for searching. Never writes (the docstore is opened read-only); repairs a stale or
    damaged one in memory."""
    manifest = Manifest.read(directory)
    docstore = open_docstore(directory)
    generation = docstore.begin_snapshot()  # chunk text is read as of this generation for the snapshot's life
    manifest = _vectors_manifest(manifest, docstore, directory)
    state = ArtifactState.read(directory)
    search_config = updated(config, {"kind": manifest.index_kind})
    if state is not None and state.generation == generation:
        try:
            vectors = faiss.read_index(str(directory / state.faiss_file))
            vector_index.configure_search(vectors, search_config)
            lexical = LexicalIndex.load(directory / state.bm25_dir)
            _require_same_chunks(vectors, lexical, docstore)
            return IndexSnapshot(directory, manifest, docstore, vectors, lexical, generation)
        except Exception as exc:  # faiss, bm25s and numpy raise many types for a damaged file
            log.warning(
                "index files in %s are damaged (%s); rebuilding them in memory. Run `deeprag ingest` or "
                "`deeprag repair --index %s` to rewrite them.", directory, exc, directory,
            )
    elif state is None and (directory / ARTIFACTS).exists():
        log.warning("%s is damaged; rebuilding the index files in memory. Run `deeprag ingest` or "
                    "`deeprag repair --index %s` to rewrite them.", directory / ARTIFACTS, directory)
    else:
        log.warning(
            "index files in %s are behind the docstore (an ingestion was interrupted); rebuilding them in memory. "
            "Run `deeprag ingest` again to finish and persist them.", directory,
        )
    vectors = vector_index.synced(None, search_config, docstore, manifest.dimension)
    lexical = LexicalIndex.build(docstore.iter_indexed_texts())
    return IndexSnapshot(directory, manifest, docstore, vectors, lexical, generation)
