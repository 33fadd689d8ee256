"""kill -9 a real `deeprag ingest` process at each commit/publish step: the index must open consistent, and
the next run must finish the work and end exactly where an uninterrupted run ends."""

import os
import signal
import subprocess
import sys

import pytest

from ingest.checkpoints import PAUSE_ENV
from ingest.index_dir import open_docstore
from ingest.pipeline import Ingestor
from tests.conftest import write
from tests.test_ingest import assert_consistent

POINTS = ["before-commit", "in-transaction", "after-commit", "mid-publish", "after-publish"]


def make_corpus(root, version="v1"):
    for n in range(6):
        write(root / f"doc{n}.txt", f"Document {n} {version}. " + " ".join(f"Fact {n}.{i} about topic {n}." for i in range(8)))


def run_until_paused(cli_args, point, commit_every_chunks):
    """Run `deeprag CLI_ARGS` until it reports reaching the pause ``point``, then SIGKILL it there."""
    env = {**os.environ, PAUSE_ENV: point, "DEEPRAG_INGEST__COMMIT_EVERY_CHUNKS": str(commit_every_chunks),
           "DEEPRAG_RETRIEVAL__RERANKER_MODEL": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *cli_args],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    try:
        for line in process.stderr:
            if line.startswith(f"DEEPRAG_PAUSED {point}"):
                break
        else:
            pytest.fail(f"`deeprag {cli_args[0]}` ended (status {process.wait()}) without reaching {point}")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    return process


def ingest_until_paused(docs, index_dir, point):
    process = run_until_paused(["ingest", str(docs), "--index", str(index_dir)], point, commit_every_chunks=2)
    assert process.returncode == -signal.SIGKILL


def contents(index_dir):
    """Each file's chunks as the index holds them: text, character offsets, title and order."""
    store = open_docstore(index_dir)
    try:
        return {path: [(c.text, c.start, c.end, c.title, c.ordinal) for c in store.chunks_of(path)]
                for path in store.files()}
    finally:
        store.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, embedder):
    """What an uninterrupted ingestion of the v2 corpus produces."""
    root = tmp_path_factory.mktemp("reference")
    make_corpus(root / "docs", "v2")
    from ground.config import load_config

    config = load_config(env={}, overrides={"index_dir": str(root / "index"), "retrieval.reranker_model": ""})
    Ingestor.for_config(config, embedder).run([root / "docs"])
    return {os.path.basename(p): chunks for p, chunks in contents(config.index_dir).items()}


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_killed_ingestion_leaves_consistent_index_and_resumes(tmp_path, config, embedder, reference, point):
    docs = tmp_path / "docs"
    make_corpus(docs, "v1")
    Ingestor.for_config(config, embedder).run([docs])
    make_corpus(docs, "v2")  # every file changed: the killed run is replacing content
    ingest_until_paused(docs, config.index_dir, point)

    files = assert_consistent(config.index_dir)  # opens, and docstore = FAISS = BM25
    for path, chunks in contents(config.index_dir).items():  # each file is wholly old or wholly new
        version = {"v1" in chunks[0][0], "v2" in chunks[0][0]}
        assert len(chunks) == files[path].chunk_count and version in ({True, False}, {False, True})

    summary = Ingestor.for_config(config, embedder).run([docs])
    assert not summary.skipped
    assert_consistent(config.index_dir)
    assert {os.path.basename(p): t for p, t in contents(config.index_dir).items()} == reference
