"""Ingestion end to end with the real MiniLM model, FAISS and bm25s: incremental, prune, delete, bad files."""

import json
import os

import numpy as np
import pytest

from app.cli import main
from ground.config import IndexConfig, updated
from ground.errors import DeepragError
from ingest import vector_index
from ingest.errors import IndexBusy, IndexMismatch
from ingest.index_dir import ArtifactState, open_docstore, open_snapshot, write_lock
from ingest.lexical_index import LexicalIndex
from ingest.pipeline import Ingestor
from tests.conftest import write


def corpus(root):
    write(root / "a.txt", "Apples are red fruit. They grow on trees in orchards.")
    write(root / "b.md", "# Bananas\nBananas are yellow and grow in tropical climates.")
    write(root / "sub" / "c.html", "<title>Cherries</title><p>Cherries are small stone fruit.</p>")
    write(root / ".hidden" / "d.txt", "hidden folders are excluded by default")
    write(root / "notes.xyz", "unsupported types inside folders are ignored")


def assert_consistent(directory, config=IndexConfig()):
    """Docstore, FAISS and BM25 hold exactly the same chunk ids, once each."""
    snapshot = open_snapshot(directory, config)
    ids = snapshot.docstore.chunk_ids()
    assert len(ids) == len(np.unique(ids))
    assert np.array_equal(np.sort(vector_index.stored_ids(snapshot.vectors)), ids)
    assert np.array_equal(np.sort(snapshot.lexical.ids), ids)
    files = snapshot.docstore.files()
    assert sum(f.chunk_count for f in files.values()) == len(ids)
    snapshot.docstore.close()
    return files


def test_first_run_then_nothing_to_embed(tmp_path, config, embedder):
    corpus(tmp_path / "docs")
    first = Ingestor.for_config(config, embedder).run([tmp_path / "docs"])
    assert (first.added, first.skipped) == (3, [])
    files = assert_consistent(config.index_dir)
    assert sorted(os.path.basename(p) for p in files) == ["a.txt", "b.md", "c.html"]
    again = Ingestor.for_config(config, embedder).run([tmp_path / "docs"])
    assert (again.added, again.updated, again.unchanged, again.chunks_embedded) == (0, 0, 3, 0)


def test_touched_but_identical_file_is_not_embedded(tmp_path, config, embedder):
    corpus(tmp_path / "docs")
    Ingestor.for_config(config, embedder).run([tmp_path / "docs"])
    os.utime(tmp_path / "docs" / "a.txt", ns=(1, 1))
    summary = Ingestor.for_config(config, embedder).run([tmp_path / "docs"])
    assert (summary.unchanged, summary.chunks_embedded) == (3, 0)


def test_changed_file_replaces_its_chunks(tmp_path, config, embedder):
    corpus(tmp_path / "docs")
    Ingestor.for_config(config, embedder).run([tmp_path / "docs"])
    write(tmp_path / "docs" / "a.txt", "Apricots replaced the apples entirely.")
    summary = Ingestor.for_config(config, embedder).run([tmp_path / "docs"])
    assert (summary.updated, summary.unchanged) == (1, 2)
    assert_consistent(config.index_dir)
    store = open_docstore(config.index_dir)
    texts = [c.text for c in store.chunks_of(str(tmp_path / "docs" / "a.txt"))]
    assert texts == ["Apricots replaced the apples entirely."]


def test_prune_and_delete(tmp_path, config, embedder):
    corpus(tmp_path / "docs")
    Ingestor.for_config(config, embedder).run([tmp_path / "docs"])
    (tmp_path / "docs" / "a.txt").unlink()
    kept = Ingestor.for_config(config, embedder).run([tmp_path / "docs"])
    assert kept.removed == 0 and len(assert_consistent(config.index_dir)) == 3  # no --prune: nothing removed
    pruned = Ingestor.for_config(config, embedder).run([tmp_path / "docs"], prune=True)
    assert pruned.removed == 1 and len(assert_consistent(config.index_dir)) == 2
    assert Ingestor.for_config(config, embedder).delete(tmp_path / "docs" / "b.md") == 1
    assert [os.path.basename(p) for p in assert_consistent(config.index_dir)] == ["c.html"]
    with pytest.raises(DeepragError, match="not in the index"):
        Ingestor.for_config(config, embedder).delete(tmp_path / "docs" / "b.md")


def test_bad_files_are_skipped_counted_and_the_rest_ingested(tmp_path, config, embedder):
    docs = tmp_path / "docs"
    write(docs / "good.txt", "A perfectly good file about retrieval.")
    write(docs / "corrupt.pdf", b"%PDF-1.7 garbage")
    write(docs / "binary.txt", os.urandom(4096))
    write(docs / "empty.md", b"")
    write(docs / "undecodable.txt", b"caf\xe9 \xff\xfe")
    (docs / "dangling.txt").symlink_to(docs / "nowhere.txt")
    with open(docs / "huge.txt", "wb") as handle:  # a 200 MB single-line file
        handle.write(b"a" * (200 * 2**20))
    summary = Ingestor.for_config(config, embedder).run([docs])
    reasons = {os.path.basename(s.path): s.reason for s in summary.skipped}
    assert summary.added == 1
    assert set(reasons) == {"corrupt.pdf", "binary.txt", "empty.md", "undecodable.txt", "dangling.txt", "huge.txt"}
    assert "file too large (200 MB" in reasons["huge.txt"]
    assert all("\n" not in reason for reason in reasons.values())
    assert_consistent(config.index_dir)


def test_file_that_turns_bad_keeps_its_old_chunks(tmp_path, config, embedder):
    path = write(tmp_path / "x.txt", "Good content first.")
    Ingestor.for_config(config, embedder).run([path])
    write(path, b"\x00\x01\x02binary now")
    summary = Ingestor.for_config(config, embedder).run([path])
    assert len(summary.skipped) == 1
    assert [c.text for c in open_docstore(config.index_dir).chunks_of(str(path))] == ["Good content first."]


def test_other_embedder_or_chunking_is_refused(tmp_path, config, embedder):
    write(tmp_path / "a.txt", "text")
    Ingestor.for_config(config, embedder).run([tmp_path / "a.txt"])
    config = updated(config, {"chunking.max_tokens": 128})
    with pytest.raises(IndexMismatch, match="chunking.max_tokens = 256"):
        Ingestor.for_config(config, embedder).run([tmp_path / "a.txt"])


def test_second_writer_is_told_to_wait(tmp_path, config, embedder):
    write(tmp_path / "a.txt", "text")
    with write_lock(config.index_dir):
        with pytest.raises(IndexBusy, match="wait for it to finish"):
            Ingestor.for_config(config, embedder).run([tmp_path / "a.txt"])


def test_switching_to_hnsw_rebuilds_vectors_without_reembedding(tmp_path, config, embedder):
    corpus(tmp_path / "docs")
    Ingestor.for_config(config, embedder).run([tmp_path / "docs"])
    config = updated(config, {"index.kind": "hnsw"})
    summary = Ingestor.for_config(config, embedder).run([tmp_path / "docs"])
    assert summary.chunks_embedded == 0
    snapshot = open_snapshot(config.index_dir, config.index)
    assert vector_index.kind_of(snapshot.vectors) == "hnsw"
    Ingestor.for_config(config, embedder).delete(tmp_path / "docs" / "a.txt")  # HNSW cannot delete: rebuilt
    assert len(assert_consistent(config.index_dir, config.index)) == 2


def test_delete_from_a_missing_index_creates_nothing(tmp_path, capsys):
    target = tmp_path / "typo" / "index"
    assert main(["delete", str(tmp_path / "x.txt"), "--index", str(target)]) == 2
    assert "no index at" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()


def test_missing_path_is_an_error(tmp_path, config, embedder):
    with pytest.raises(DeepragError, match="does not exist"):
        Ingestor.for_config(config, embedder).run([tmp_path / "nope"])


def test_ivfpq_updates_in_place_by_id():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(1200, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    config = IndexConfig(kind="ivfpq", pq_m=8, ivf_nprobe=64)
    index = vector_index.build(config, 64, np.arange(1200), vectors)
    assert vector_index.kind_of(index) == "ivfpq"
    index.remove_ids(np.arange(0, 600, dtype=np.int64))
    assert sorted(vector_index.stored_ids(index)) == list(range(600, 1200))
    hits = vector_index.search(index, vectors[700:701], 5)[0]
    assert hits[0][0] == 700


def test_ivfpq_on_a_tiny_collection_says_what_to_do():
    with pytest.raises(IndexMismatch, match="needs at least 1000 chunks"):
        vector_index.build(IndexConfig(kind="ivfpq"), 8, np.arange(10), np.ones((10, 8), np.float32))


def test_bm25_matches_chinese_by_character_bigrams():
    index = LexicalIndex.build([(1, "多头潜在注意力压缩键值缓存"), (2, "混合专家模型的负载均衡"), (3, "Apples and pears")])
    assert [i for i, _ in index.search("潜在注意力", 3)] == [1]
    assert [i for i, _ in index.search("apple", 3)] == [3]  # stemmed
    assert index.search("the", 3) == []  # stop word only


def test_artifacts_state_names_existing_files(tmp_path, config, embedder):
    corpus(tmp_path / "docs")
    Ingestor.for_config(config, embedder).run([tmp_path / "docs"])
    state = ArtifactState.read(config.index_dir)
    assert (config.index_dir / state.faiss_file).is_file() and (config.index_dir / state.bm25_dir).is_dir()
    leftovers = [p.name for p in config.index_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert json.loads((config.index_dir / "manifest.json").read_text())["embedder"].endswith("all-MiniLM-L6-v2")
