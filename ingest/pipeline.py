"""An ingestion run: find files, decide what changed, read → chunk → embed the changed ones, commit, publish.

The run is a story in four steps (see ``Ingestor.run``). Work is committed to the docstore in groups of
files, so a killed run keeps what it finished and the next run picks up the rest: files whose stored hash
matches are not embedded again. ``Ingestor.run_documents`` takes the same steps for documents another
library has already read (llama-index's readers, for one), each kept under a stable source key with a digest
of its text in place of the file hash.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from ground.config import ChunkingConfig, Config, EmbeddingConfig, IndexConfig, IngestConfig, updated
from ground.errors import DeepragError
from ground.files import file_sha256
from ingest.checkpoints import checkpoint
from ingest.chunker import ChunkingPlan, chunk_document
from ingest.corpus_languages import CorpusLanguages, measure, of_chunks
from ingest.discovery import absolute, discover
from ingest.docstore import Docstore, FileRecord, FileUpdate
from ingest.embedder import Embedder, load_embedder
from ingest.errors import IndexDamaged, IndexMismatch, IndexMissing, UnreadableFile, guarded_write
from ingest.index_dir import (
    MANIFEST, MANIFEST_COPY, Manifest, clear_leftovers, open_docstore, publish, require_index, write_lock,
)
from ingest.language import LanguageCounts, describe
from ingest.models import Chunk, Document, IngestSummary, SkippedFile
from ingest.readers import read_file

log = logging.getLogger(__name__)

PLAIN_PROGRESS_EVERY_S = 10  # without a terminal: a plain progress line this often
EMBED_CALL = 128  # texts per encode call: large enough for the model, small enough for a lively progress bar


@dataclass(frozen=True)
class DocumentSource:
    """Documents read by something other than deeprag's readers, under a stable ``key`` (the docstore's file
    key: an absolute file path, or an id that is not one, which ``--prune`` leaves alone). ``digest`` stands in
    for the file hash: a key stored with the same digest is not embedded again, a new digest replaces the key's
    chunks. Each document's ``source`` must be ``key``, since chunks are replaced and deleted by source."""

    key: str
    digest: str
    documents: list[Document]


@dataclass
class _Pending:
    path: Path
    record: FileRecord
    is_update: bool
    documents: list[Document] | None = None  # already read (DocumentSource); None: read the file at ``path``


@dataclass(frozen=True)
class ReembedSummary:
    """What ``Ingestor.reembed`` did: ``chunks`` embedded by this run (``resumed`` were staged by an earlier,
    interrupted one), ``too_long`` chunks longer than the new model reads (their end is not embedded)."""

    old: str
    new: str
    chunks: int
    resumed: int
    too_long: int
    seconds: float


# What a run changes, decided inside the write lock: files or sources to embed, keys to remove.
_Plan = Callable[[Docstore, dict[str, FileRecord], IngestSummary], tuple[list[_Pending], list[str]]]


class Ingestor:
    """Writes one index directory: the embedder and chunking decide its content, ``index`` its FAISS kind,
    ``ingest`` which files are taken and how often work is committed."""

    def __init__(
        self,
        index_dir: Path,
        embedding: EmbeddingConfig | None = None,
        chunking: ChunkingConfig | None = None,
        index: IndexConfig | None = None,
        ingest: IngestConfig | None = None,
        embedder: Embedder | None = None,
    ):
        self.directory = Path(index_dir)
        self.embedding = embedding or EmbeddingConfig()
        self.chunking = chunking or ChunkingConfig()
        self.index = index or IndexConfig()
        self.ingest = ingest or IngestConfig()
        self._embedder = embedder
        self._dimension = 0  # set from the manifest when the index is opened
        self._manifest: Manifest | None = None  # the manifest this run wrote (set when the index is opened)
        # The index's languages as of the start of this run when they were current then (updated by the files
        # a run changes); None = unknown, measured again after the run.
        self._languages: CorpusLanguages | None = None
        self._changed_languages: dict[str, LanguageCounts] = {}

    @classmethod
    def for_config(cls, config: Config, embedder: Embedder | None = None) -> "Ingestor":
        """An ingestor for ``config.index_dir`` with the sections it reads."""
        return cls(config.index_dir, config.embedding, config.chunking, config.index, config.ingest, embedder)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = load_embedder(self.embedding)
        return self._embedder

    def manifest(self) -> Manifest:
        """The manifest these settings produce. An existing index built with the configured model supplies
        the dimension, so a run with nothing to embed never loads the model."""
        return self._wanted_manifest(Manifest.read(self.directory) if (self.directory / MANIFEST).exists() else None)

    def _wanted_manifest(self, existing: Manifest | None) -> Manifest:
        if existing is not None and existing.embedder == self.embedding.model:
            name, dimension = existing.embedder, existing.dimension
        else:
            name, dimension = self.embedder.name, self.embedder.dimension
        return Manifest(
            embedder=name,
            dimension=dimension,
            max_tokens=self.chunking.max_tokens,
            overlap_tokens=self.chunking.overlap_tokens,
            index_kind=self.index.kind,
            languages=existing.languages if existing is not None else None,  # observed, not wanted: carried
            adapted=existing.adapted if existing is not None else None,  # made by `deeprag adapt`: carried
        )

    def run(self, paths: Iterable[Path], prune: bool = False) -> IngestSummary:
        """Ingest ``paths`` (files or folders); with ``prune``, drop indexed files that no longer exist (keys
        that are not absolute paths, such as DocumentSource ids, are not files and are kept)."""
        files = discover(list(paths), self.ingest.include, self.ingest.exclude)

        def plan(docstore: Docstore, known: dict[str, FileRecord], summary: IngestSummary):
            removals = [p for p in known if prune and os.path.isabs(p) and not Path(p).exists()]
            return self._changed_files(files, known, docstore, summary), removals

        return self._update(plan)

    def run_documents(self, sources: Iterable[DocumentSource]) -> IngestSummary:
        """Ingest documents that are already read, each source under its key: unchanged digests are counted
        and skipped, new and changed ones are chunked, embedded and committed as files are."""

        def plan(docstore: Docstore, known: dict[str, FileRecord], summary: IngestSummary):
            return self._changed_sources(sources, known, summary), []

        return self._update(plan)

    def _update(self, plan: _Plan) -> IngestSummary:
        """One writing run: under the lock, with a checked manifest, embed and commit what ``plan`` picks
        and remove what it names, then publish FAISS and BM25 for the new docstore generation."""
        started = time.perf_counter()
        summary = IngestSummary()
        with write_lock(self.directory):
            self._clear_leftovers()
            docstore = self._open_checked()
            try:
                pending, removals = plan(docstore, docstore.files(), summary)
                summary.removed = len(removals)
                self._embed_and_commit(pending, removals, docstore, summary)
                publish(self.directory, docstore, self.index, self._dimension)
                self._record_languages(docstore, removals)
            finally:
                docstore.close()
        summary.seconds = time.perf_counter() - started
        return summary

    def delete(self, source: Path | str) -> int:
        """Remove one file's chunks (or a DocumentSource's, by its key as stored); returns how many were
        removed. Only an existing index is opened: a mistyped --index must not create one."""
        require_index(self.directory)  # IndexMissing before the lock would create the directory
        with write_lock(self.directory):
            self._clear_leftovers()
            docstore = self._open_checked()
            try:
                files = docstore.files()
                key = str(source) if str(source) in files else absolute(source)
                record = files.get(key)
                if record is None:
                    raise DeepragError(f"{key} is not in the index at {self.directory}; `deeprag list` shows what is")
                docstore.apply([], [key])
                publish(self.directory, docstore, self.index, self._dimension)
                self._record_languages(docstore, [key])
                return record.chunk_count
            finally:
                docstore.close()

    def reembed(self) -> ReembedSummary:
        """Embed every chunk of the index again with the configured embedder (``embedding.model``), keeping the
        chunks as they are (their text, offsets and files; no file is read again, so documents whose files are
        gone are kept too). Chunks are not re-cut for the new model's token budget: one longer than it reads
        loses its end in the vector (BM25 still reads it all), and is counted in ``too_long``.

        Crash safety: the new vectors are committed to a staging table in groups (a killed run resumes where
        it stopped), then swapped in for all chunks at once in one SQLite transaction together with the
        docstore's copy of the manifest, so the index is wholly old or wholly new; manifest.json, FAISS and
        BM25 follow as after any commit (a reader finding manifest.json behind trusts the docstore's copy).
        Swapped chunks get new ids, so no FAISS file of the old vectors can pass for current."""
        require_index(self.directory)
        started = time.perf_counter()
        with write_lock(self.directory):
            self._clear_leftovers()
            docstore = open_docstore(self.directory, writable=True)
            try:
                return self._reembed(docstore, started)
            finally:
                docstore.close()

    def _reembed(self, docstore: Docstore, started: float) -> ReembedSummary:
        existing, problem = self._stored_manifest(docstore)
        if existing is None:
            raise IndexMissing(f"the index at {self.directory} is empty; nothing to re-embed")
        if problem:
            log.warning("%s; restored it from the docstore's copy", problem)
            self._write_manifest(existing, docstore)
        embedder = self.embedder
        staging_key = json.dumps({"embedder": embedder.name, "dimension": embedder.dimension}, sort_keys=True)
        if existing.embedder == embedder.name:
            docstore.abandon_reembedding()  # one started towards another model and not finished
            log.info("the index at %s is already embedded with %s; nothing to re-embed", self.directory, embedder.name)
            self._dimension = existing.dimension
            return ReembedSummary(existing.embedder, embedder.name, 0, 0, 0, time.perf_counter() - started)
        resumed = docstore.begin_reembedding(staging_key)
        todo = docstore.unstaged_chunk_ids()
        log.info("re-embedding %d chunks of %s with %s (was %s)%s", resumed + len(todo), self.directory,
                 embedder.name, existing.embedder, f"; {resumed} already done by an interrupted run" if resumed else "")
        too_long = 0
        bar = tqdm(total=len(todo), unit="chunk", desc="re-embedding", disable=not sys.stderr.isatty(), file=sys.stderr)
        self._dimension = embedder.dimension
        try:
            for start in range(0, len(todo), self.ingest.commit_every_chunks):
                ids = todo[start:start + self.ingest.commit_every_chunks]
                found = docstore.chunks(ids)
                chunks = [found[int(i)] for i in ids]
                too_long += sum(n > embedder.max_tokens for n in embedder.count_tokens([c.indexed_text() for c in chunks]))
                vectors = self._embed(chunks, bar)
                docstore.stage_embeddings(ids, vectors)
                checkpoint("reembed-staged")
        finally:
            bar.close()
        recorded = existing.corpus_languages
        generation = docstore.generation() + 1  # the swap's own commit
        languages = (CorpusLanguages(generation, recorded.files)  # the same chunks' text: still true
                     if recorded is not None and recorded.is_current(docstore.generation()) else None)
        new = replace(existing, embedder=embedder.name, dimension=embedder.dimension, index_kind=self.index.kind,
                      languages=languages.to_json() if languages else None)
        docstore.swap_in_staged({MANIFEST_COPY: new.to_json()}, before_commit=lambda: checkpoint("reembed-in-swap"))
        checkpoint("reembed-after-swap")
        self._write_manifest(new, docstore)
        publish(self.directory, docstore, self.index, new.dimension)
        self._start_languages(new, docstore)
        if self._languages is None:
            self._record_languages(docstore, [])
        if too_long:
            log.warning("%d chunks are longer than %s reads (%d tokens); their ends are not embedded (BM25 reads "
                        "them whole). Re-ingest into a new --index to cut chunks for %s.",
                        too_long, embedder.name, embedder.max_tokens, embedder.name)
        return ReembedSummary(existing.embedder, embedder.name, len(todo), resumed, too_long,
                              time.perf_counter() - started)

    def repair(self) -> list[str]:
        """Bring a damaged index back: clear temporary leftovers, restore manifest.json from the docstore's
        copy, rewrite FAISS and BM25 files that are missing, damaged or behind. Returns what was done."""
        require_index(self.directory)
        done = []
        with write_lock(self.directory):
            if removed := clear_leftovers(self.directory):
                done.append(f"removed temporary files left by an interrupted run: {', '.join(removed)}")
            docstore = open_docstore(self.directory, writable=True)
            try:
                manifest, problem = self._stored_manifest(docstore)
                if manifest is None:
                    raise IndexMissing(f"the index at {self.directory} is empty; add documents with "
                                       f"`deeprag ingest PATH --index {self.directory}`")
                if problem:
                    self._write_manifest(manifest, docstore)
                    done.append(f"{problem}; restored it from the docstore's copy")
                else:
                    self._write_manifest(manifest, docstore, file=False)
                index = updated(self.index, {"kind": manifest.index_kind})
                if publish(self.directory, docstore, index, manifest.dimension):
                    done.append(f"rewrote the FAISS and BM25 files for docstore generation {docstore.generation()}")
                self._start_languages(manifest, docstore)
                if self._languages is None:
                    self._record_languages(docstore, [])
                    done.append(f"recorded the languages of the indexed text ({self._languages_line()})")
            finally:
                docstore.close()
        return done

    # -- steps ---------------------------------------------------------------------------------------

    def _clear_leftovers(self) -> None:
        if removed := clear_leftovers(self.directory):
            log.info("removed temporary files left by an interrupted run: %s", ", ".join(removed))

    def _open_checked(self) -> Docstore:
        """Open the docstore after checking (or writing) the manifest: one index, one embedder. A damaged or
        missing manifest.json is restored from the docstore's copy, and said so once."""
        docstore = open_docstore(self.directory, writable=True)
        try:
            existing, problem = self._stored_manifest(docstore)
            if problem:
                log.warning("%s; restored it from the docstore's copy", problem)
            wanted = self._wanted_manifest(existing)
            if existing is not None:
                existing.require_same_content(wanted, self.directory)
            self._write_manifest(wanted, docstore)
        except BaseException:
            docstore.close()
            raise
        self._dimension = wanted.dimension
        self._start_languages(wanted, docstore)
        return docstore

    # -- languages of the indexed text ---------------------------------------------------------------

    def _start_languages(self, manifest: Manifest, docstore: Docstore) -> None:
        """Remember the manifest and, where its languages describe the docstore as it is now, those languages
        (a run then updates only the files it changes)."""
        self._manifest = manifest
        recorded = manifest.corpus_languages
        if recorded is None and docstore.chunk_count() == 0:
            recorded = CorpusLanguages(docstore.generation())  # a new index: nothing to measure
        self._languages = recorded if recorded is not None and recorded.is_current(docstore.generation()) else None
        self._changed_languages = {}

    def _record_languages(self, docstore: Docstore, removed: list[str]) -> None:
        """Write the languages of the index as of the docstore's generation now into the manifest: the
        recorded ones updated with this run's changes, or (unknown at the start) one pass over every chunk."""
        assert self._manifest is not None
        generation = docstore.generation()
        if self._languages is not None:
            languages = self._languages.updated(self._changed_languages, removed, generation)
        else:
            started = time.perf_counter()
            languages = measure(docstore)
            log.info("measured the languages of the indexed text in %.1f s: %s", time.perf_counter() - started,
                     describe(languages.totals()))
        self._languages, self._changed_languages = languages, {}
        manifest = replace(self._manifest, languages=languages.to_json())
        if manifest != self._manifest:
            self._write_manifest(manifest, docstore)
            self._manifest = manifest

    def _languages_line(self) -> str:
        return describe(self._languages.totals()) if self._languages is not None else "unknown"

    def _stored_manifest(self, docstore: Docstore) -> tuple[Manifest | None, str]:
        """The index's manifest (None for a new, empty index) and, where manifest.json was missing or damaged
        and the docstore's copy stands in, what was wrong with it."""
        try:
            manifest = Manifest.read(self.directory)
        except (IndexMissing, IndexDamaged) as exc:
            path = self.directory / MANIFEST
            copy = Manifest.stored_in(docstore, self.directory)
            if copy is not None:
                return copy, f"{path} was {'damaged' if path.exists() else 'missing'}"
            if docstore.chunk_count() == 0:
                return None, ""  # nothing indexed yet: a new index (or one killed while being created)
            raise IndexDamaged(
                f"{exc}; the docstore holds no copy of it (written by a deeprag before copies were kept): "
                "re-ingest into a new --index"
            ) from exc
        try:
            copy = Manifest.stored_in(docstore, self.directory)
        except (IndexDamaged, IndexMismatch):
            return manifest, ""  # manifest.json is sound; the copy is rewritten from it
        if copy is not None and not copy.same_vectors(manifest):  # a re-embedding killed after its commit
            return copy, (f"{self.directory / MANIFEST} named embedder {manifest.embedder!r}, the docstore's "
                          f"vectors are {copy.embedder!r}")
        return manifest, ""

    def _write_manifest(self, manifest: Manifest, docstore: Docstore, file: bool = True) -> None:
        """manifest.json, and its copy in the docstore (from which a damaged manifest.json is restored)."""
        if file:
            with guarded_write(MANIFEST, self.directory):
                manifest.write(self.directory)
        docstore.set_meta(MANIFEST_COPY, manifest.to_json())

    def _changed_files(
        self, files: list[Path], known: dict[str, FileRecord], docstore: Docstore, summary: IngestSummary
    ) -> list[_Pending]:
        limit = int(self.ingest.max_file_mb * 1024 * 1024)
        pending = []
        for path in files:
            key = str(path)
            try:
                stat = path.stat()
            except OSError as exc:
                summary.skipped.append(SkippedFile(key, f"cannot read ({exc.strerror or exc})"))
                continue
            if stat.st_size > limit:
                summary.skipped.append(SkippedFile(
                    key, f"file too large ({stat.st_size / 2**20:.0f} MB > ingest.max_file_mb = "
                         f"{self.ingest.max_file_mb:g}); raise the limit or split the file"))
                continue
            old = known.get(key)
            if old and old.size == stat.st_size and old.mtime_ns == stat.st_mtime_ns:
                summary.unchanged += 1
                continue
            try:
                digest = file_sha256(path)
            except OSError as exc:
                summary.skipped.append(SkippedFile(key, f"cannot read ({exc.strerror or exc})"))
                continue
            if old and old.sha256 == digest:
                docstore.touch(key, stat.st_mtime_ns)
                summary.unchanged += 1
                continue
            record = FileRecord(key, digest, stat.st_size, stat.st_mtime_ns, 0, 0.0)
            pending.append(_Pending(path, record, is_update=old is not None))
        return pending

    @staticmethod
    def _changed_sources(
        sources: Iterable[DocumentSource], known: dict[str, FileRecord], summary: IngestSummary
    ) -> list[_Pending]:
        pending = []
        for source in sources:
            old = known.get(source.key)
            if old is not None and old.sha256 == source.digest:
                summary.unchanged += 1
                continue
            size = sum(len(s.text.encode("utf-8")) for document in source.documents for s in document.sections)
            record = FileRecord(source.key, source.digest, size, 0, 0, 0.0)
            pending.append(_Pending(Path(source.key), record, old is not None, source.documents))
        return pending

    def _embed_and_commit(
        self, pending: list[_Pending], removals: list[str], docstore: Docstore, summary: IngestSummary
    ) -> None:
        bar = tqdm(total=0, unit="chunk", desc="embedding", disable=not sys.stderr.isatty(), file=sys.stderr)
        files_done = 0
        try:
            for group in self._chunked_groups(pending, summary):
                chunks = [chunk for _, file_chunks in group for chunk in file_chunks]
                bar.total += len(chunks)
                bar.refresh()
                vectors = self._embed(chunks, bar)
                updates, offset = [], 0
                for item, file_chunks in group:
                    updates.append(FileUpdate(item.record, file_chunks, vectors[offset:offset + len(file_chunks)]))
                    offset += len(file_chunks)
                checkpoint("before-commit")
                docstore.apply(updates, removals, before_commit=lambda: checkpoint("in-transaction"))
                removals = []
                checkpoint("after-commit")
                for item, file_chunks in group:
                    summary.updated += item.is_update
                    summary.added += not item.is_update
                    self._changed_languages[item.record.path] = of_chunks(c.text for c in file_chunks)
                summary.chunks_embedded += len(chunks)
                files_done += len(group)
                log.info("committed %d chunks (%d of %d changed files done)", len(chunks), files_done, len(pending))
            if removals:
                docstore.apply([], removals)
        finally:
            bar.close()

    def _chunked_groups(
        self, pending: list[_Pending], summary: IngestSummary
    ) -> Iterator[list[tuple[_Pending, list[Chunk]]]]:
        """Read and chunk files lazily, yielding groups of about ingest.commit_every_chunks chunks."""
        if not pending:
            return
        embedder = self.embedder
        plan = ChunkingPlan(min(self.chunking.max_tokens, embedder.max_tokens), self.chunking.overlap_tokens)
        group: list[tuple[_Pending, list[Chunk]]] = []
        size = 0
        for item in pending:
            key = item.record.path
            try:
                documents = item.documents if item.documents is not None else read_file(item.path)
                chunks = [c for document in documents for c in chunk_document(document, plan, embedder.count_tokens)]
                if not chunks:
                    raise UnreadableFile("no text in file")
            except UnreadableFile as exc:
                summary.skipped.append(SkippedFile(key, str(exc)))
                continue
            except Exception as exc:  # a reader library's own bug must not stop the other files
                log.debug("reader failure for %s", key, exc_info=True)
                summary.skipped.append(SkippedFile(key, f"unexpected {type(exc).__name__}: {exc}"))
                continue
            group.append((item, chunks))
            size += len(chunks)
            if size >= self.ingest.commit_every_chunks:
                yield group
                group, size = [], 0
        if group:
            yield group

    def _embed(self, chunks: list[Chunk], bar: tqdm) -> np.ndarray:
        texts = [chunk.indexed_text() for chunk in chunks]
        parts = []
        last_line = time.monotonic()
        for start in range(0, len(texts), EMBED_CALL):
            parts.append(self.embedder.embed_passages(texts[start:start + EMBED_CALL]))
            bar.update(len(parts[-1]))
            if bar.disable and time.monotonic() - last_line > PLAIN_PROGRESS_EVERY_S:
                log.info("embedded %d of %d chunks in this group", start + len(parts[-1]), len(texts))
                last_line = time.monotonic()
        return np.concatenate(parts) if parts else np.zeros((0, self._dimension), dtype=np.float32)

