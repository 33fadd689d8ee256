"""The SQLite docstore: the index directory's source of truth.

It holds every chunk with its metadata and its embedding, and one row per ingested file with the content
hash that makes re-ingestion incremental. FAISS and BM25 are derived from it (see index_dir.py): after a
crash they can always be rebuilt from here, so a transaction here is the unit of durability. Chunk ids come
from AUTOINCREMENT and are never reused, so a stale FAISS id can never point at a different chunk.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ingest.errors import guarded_write
from ingest.models import Chunk

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    ingested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    page INTEGER,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks(source);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', '0');
"""

# A re-embedding's new vectors by chunk id, and the manifest (JSON) they are for; created on first use.
_STAGED = "reembed_staged"
_STAGED_TARGET = "reembed_target"

_CHUNK_COLUMNS = "id, source, doc_id, title, text, page, start_char, end_char, ordinal"


@dataclass(frozen=True)
class FileRecord:
    path: str
    sha256: str
    size: int
    mtime_ns: int
    chunk_count: int
    ingested_at: float


@dataclass(frozen=True)
class FileUpdate:
    """A file's new content, ready to replace whatever the docstore held for it."""

    record: FileRecord
    chunks: list[Chunk]
    embeddings: np.ndarray


class Docstore:
    """Thread-safe access to docstore.sqlite. Every write bumps `generation`, which tells readers whether
    the derived FAISS/BM25 files still match."""

    def __init__(self, path: Path, read_only: bool = False):
        """``read_only`` opens without writing anything (no pragma, no schema, no -wal/-shm needed), so a
        reader works on an index it may not change: a read-only mount, an archive, a shared folder."""
        self.path = path
        self._lock = threading.RLock()
        self._copy: tempfile.TemporaryDirectory | None = None
        if read_only:
            self._db = self._open_read_only(path)
            return
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # with WAL: safe against process crashes (kill -9)
            self._db.executescript(_SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def _open_read_only(self, path: Path) -> sqlite3.Connection:
        """mode=ro reads a WAL database where its -shm file exists or can be created. In a folder that cannot
        be written, without -shm: a database whose WAL is empty is opened immutable (nothing can change
        it); one whose WAL still holds commits (a writer was killed, then the index was archived) is read
        from a private copy, where SQLite can replay the WAL."""
        uri = path.resolve().as_uri()
        try:
            return _probed(sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, check_same_thread=False,
                                           isolation_level=None))
        except sqlite3.OperationalError:
            if _writable_dir(path.parent):
                raise  # not a read-only folder: a real error
        wal = path.with_name(path.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            log.warning("%s is read-only and its WAL holds commits not yet in the database; reading a "
                        "temporary copy", path)
            self._copy = tempfile.TemporaryDirectory(prefix="deeprag-docstore-")
            copy = Path(self._copy.name) / path.name
            shutil.copyfile(path, copy)
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            return _probed(sqlite3.connect(str(copy), timeout=30, check_same_thread=False, isolation_level=None))
        return _probed(sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, check_same_thread=False,
                                       isolation_level=None))

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._copy is not None:
                self._copy.cleanup()
                self._copy = None

    # -- reads ---------------------------------------------------------------------------------------

    def generation(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])

    def begin_snapshot(self) -> int:
        """Start a read transaction and return its generation. Every later read on this connection sees the
        docstore as of this moment (SQLite's WAL snapshot isolation), so a search snapshot reads chunk text
        that agrees with its FAISS and BM25 even while a writer commits and deletes. For read-only
        connections that live as long as one snapshot: an open read holds back WAL checkpoints until it ends."""
        with self._lock:
            self._db.execute("BEGIN")
            return self.generation()

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def files(self) -> dict[str, FileRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM files ORDER BY path").fetchall()
        return {row[0]: FileRecord(*row) for row in rows}

    def chunk_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def chunk_ids(self) -> np.ndarray:
        with self._lock:
            rows = self._db.execute("SELECT id FROM chunks ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def embeddings(self, ids: Sequence[int], dimension: int) -> np.ndarray:
        """Stored vectors for ``ids``, in that order."""
        out = np.empty((len(ids), dimension), dtype=np.float32)
        position = {int(i): n for n, i in enumerate(ids)}
        with self._lock:
            for start in range(0, len(ids), 900):
                batch = [int(i) for i in ids[start:start + 900]]
                marks = ",".join("?" * len(batch))
                for chunk_id, blob in self._db.execute(f"SELECT id, embedding FROM chunks WHERE id IN ({marks})", batch):
                    out[position[chunk_id]] = np.frombuffer(blob, dtype=np.float32)
        return out

    def iter_indexed_texts(self) -> Iterator[tuple[int, str]]:
        """(id, title + text) in id order: what BM25 indexes."""
        with self._lock:
            rows = self._db.execute("SELECT id, title, text FROM chunks ORDER BY id").fetchall()
        for chunk_id, title, text in rows:
            yield chunk_id, (f"{title}\n{text}" if title else text)

    def iter_source_texts(self) -> Iterator[tuple[str, str]]:
        """(source, chunk text) for every chunk: what the languages of the index are measured on."""
        with self._lock:
            rows = self._db.execute("SELECT source, text FROM chunks ORDER BY id").fetchall()
        yield from rows

    def chunk_sources(self) -> list[tuple[int, str]]:
        """(id, source) of every chunk, in id order: enough to sample chunks across files without their text."""
        with self._lock:
            return [(int(i), str(source)) for i, source in self._db.execute("SELECT id, source FROM chunks ORDER BY id")]

    def chunks(self, ids: Sequence[int]) -> dict[int, Chunk]:
        """Chunks by id; ids deleted since the caller's index snapshot are simply absent."""
        found: dict[int, Chunk] = {}
        with self._lock:
            for start in range(0, len(ids), 900):
                batch = [int(i) for i in ids[start:start + 900]]
                marks = ",".join("?" * len(batch))
                for row in self._db.execute(f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE id IN ({marks})", batch):
                    found[row[0]] = _row_to_chunk(row)
        return found

    def chunks_of(self, source: str) -> list[Chunk]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE source=? ORDER BY ordinal", (source,)
            ).fetchall()
        return [_row_to_chunk(row) for row in rows]

    # -- writes --------------------------------------------------------------------------------------

    def apply(self, updates: Sequence[FileUpdate], removals: Sequence[str] = (), before_commit=None) -> None:
        """Replace the chunks of each updated file and drop each removed file, in one transaction.

        ``before_commit`` runs inside the transaction (the crash tests pause there)."""
        with self._lock, self._write():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for path in removals:
                    self._db.execute("DELETE FROM chunks WHERE source=?", (path,))
                    self._db.execute("DELETE FROM files WHERE path=?", (path,))
                for update in updates:
                    record = update.record
                    self._db.execute("DELETE FROM chunks WHERE source=?", (record.path,))
                    self._db.executemany(
                        "INSERT INTO chunks (source, doc_id, title, text, page, start_char, end_char, ordinal, "
                        "embedding) VALUES (?,?,?,?,?,?,?,?,?)",
                        [
                            (c.source, c.doc_id, c.title, c.text, c.page, c.start, c.end, c.ordinal,
                             np.ascontiguousarray(vector, dtype=np.float32).tobytes())
                            for c, vector in zip(update.chunks, update.embeddings)
                        ],
                    )
                    self._db.execute(
                        "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?)",
                        (record.path, record.sha256, record.size, record.mtime_ns, len(update.chunks), time.time()),
                    )
                self._commit_generation(before_commit)
            except BaseException:
                self._rollback()
                raise

    def _commit_generation(self, before_commit) -> None:
        """End a write transaction as a new generation of the index: readers that cached anything by
        generation see the change. ``before_commit`` runs last inside the transaction (crash tests pause there)."""
        self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
        if before_commit is not None:
            before_commit()
        self._db.execute("COMMIT")

    def _write(self) -> contextlib.AbstractContextManager[None]:
        """A full disk or a read-only index during a write ends in one line naming the docstore."""
        return guarded_write(f"the docstore ({self.path.name})", self.path.parent)

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already: on SQLITE_FULL (and some I/O errors) it
        rolls back by itself, and a second ROLLBACK would replace the real error with "no transaction"."""
        if not self._db.in_transaction:
            return
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            log.debug("rollback after a failed transaction failed too", exc_info=True)

    # -- re-embedding: new vectors staged beside the chunks, then swapped in by one transaction --------------

    def begin_reembedding(self, target: str) -> int:
        """Stage vectors for ``target`` (the new manifest, as JSON). Vectors staged earlier for the same target
        (by a run that was killed) are kept; a different target starts afresh. Returns how many are staged.
        Staged vectors are keyed by chunk id, and a chunk's text never changes under its id, so vectors of
        chunks deleted meanwhile are merely unused."""
        with self._lock, self._write():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(f"CREATE TABLE IF NOT EXISTS {_STAGED} (id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)")
                if self.meta(_STAGED_TARGET) != target:
                    self._db.execute(f"DELETE FROM {_STAGED}")
                    self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_STAGED_TARGET, target))
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return self.staged_count()

    def reembedding_target(self) -> str | None:
        """The manifest (JSON) an unfinished re-embedding is staging vectors for, or None."""
        return self.meta(_STAGED_TARGET)

    def staged_count(self) -> int:
        with self._lock:
            if not self._has_table(_STAGED):
                return 0
            return int(self._db.execute(
                f"SELECT COUNT(*) FROM {_STAGED} s JOIN chunks c ON c.id = s.id").fetchone()[0])

    def unstaged_chunk_ids(self) -> np.ndarray:
        """Chunks that have no staged vector yet, in id order."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT id FROM chunks WHERE id NOT IN (SELECT id FROM {_STAGED}) ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def stage_embeddings(self, ids: Sequence[int], embeddings: np.ndarray) -> None:
        """Keep new vectors for ``ids`` (committed: a killed re-embedding resumes after them)."""
        with self._lock, self._write():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    f"INSERT OR REPLACE INTO {_STAGED} VALUES (?, ?)",
                    [(int(i), np.ascontiguousarray(v, dtype=np.float32).tobytes()) for i, v in zip(ids, embeddings)],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def swap_in_staged(self, meta: dict[str, str], before_commit=None) -> None:
        """Replace every chunk by a copy carrying its staged vector, under a new id (so FAISS files of the old
        vectors can never be taken for current), set ``meta``, drop the staging: one transaction, so the index
        is wholly old or wholly new. Refused while any chunk lacks a staged vector."""
        with self._lock, self._write():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                missing = self._db.execute(
                    f"SELECT COUNT(*) FROM chunks WHERE id NOT IN (SELECT id FROM {_STAGED})").fetchone()[0]
                if missing:
                    raise ValueError(f"{missing} chunks have no staged vector")
                last = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM chunks").fetchone()[0]
                self._db.execute(
                    "INSERT INTO chunks (source, doc_id, title, text, page, start_char, end_char, ordinal, embedding) "
                    f"SELECT c.source, c.doc_id, c.title, c.text, c.page, c.start_char, c.end_char, c.ordinal, "
                    f"s.embedding FROM chunks c JOIN {_STAGED} s ON s.id = c.id WHERE c.id <= ? ORDER BY c.id",
                    (last,),
                )
                self._db.execute("DELETE FROM chunks WHERE id <= ?", (last,))
                self._db.execute(f"DELETE FROM {_STAGED}")
                self._db.execute("DELETE FROM meta WHERE key = ?", (_STAGED_TARGET,))
                for key, value in meta.items():
                    self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
                self._commit_generation(before_commit)
            except BaseException:
                self._rollback()
                raise

    def abandon_reembedding(self) -> None:
        """Drop the vectors staged by an unfinished re-embedding."""
        with self._lock:
            if not self._has_table(_STAGED) and self.meta(_STAGED_TARGET) is None:
                return
        with self._lock, self._write():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._has_table(_STAGED):
                    self._db.execute(f"DELETE FROM {_STAGED}")
                self._db.execute("DELETE FROM meta WHERE key = ?", (_STAGED_TARGET,))
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _has_table(self, name: str) -> bool:
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` unless it is already there (no generation bump)."""
        with self._lock, self._write():
            if self.meta(key) != value:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def touch(self, path: str, mtime_ns: int) -> None:
        """Record a new mtime for a file whose content hash did not change (no generation bump)."""
        with self._lock, self._write():
            self._db.execute("UPDATE files SET mtime_ns=? WHERE path=?", (mtime_ns, path))


def _probed(db: sqlite3.Connection) -> sqlite3.Connection:
    """SQLite opens lazily: read once so that a database that cannot be read fails here."""
    try:
        db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
    except BaseException:
        db.close()
        raise
    return db


def _writable_dir(directory: Path) -> bool:
    """Whether a file can be created in ``directory`` (os.access says yes to root on a read-only mount)."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def _row_to_chunk(row: tuple) -> Chunk:
    chunk_id, source, doc_id, title, text, page, start, end, ordinal = row
    return Chunk(source, doc_id, title, text, page, start, end, ordinal, chunk_id)
