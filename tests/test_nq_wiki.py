"""nq-wiki (nq-oracle's questions over gold passages + Wikipedia distractors) and the DPR passage converter."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from data import nq_wiki
from data.download import CONVERTERS, load_descriptors
from data.dpr_wiki import DPR_PASSAGES, SHARD_PASSAGES, PassageFileError, shard_name, tsv_to_beir_shards
from data.nq_wiki import NqWikiError, build_nq_wiki
from eval.datasets import load_beir, load_questions, read_qrels
from ingest.readers import read_beir_jsonl
from tests.conftest import shared_data

GOLD = {
    "p0": ("Nobel Prize in Physics", "The first Nobel Prize in Physics was awarded in 1901 to Wilhelm Conrad Röntgen, "
                                     "of Germany, who received 150,782 SEK."),
    "p1": ("Deadpool 2", "Deadpool 2 was released in the United States on May 18, 2018, by 20th Century Fox."),
    "p2": ("Climate of Nigeria", "The south west wind blows across Nigeria from the Atlantic between March and "
                                 "the end of September."),
}
SQUAD = [
    # kept; its slug title becomes words
    {"_id": "squad-p0", "title": "Jehovah%27s_Witnesses", "text": "Jehovah's Witnesses is a millenarian restorationist "
     "Christian denomination with nontrinitarian beliefs distinct from mainstream Christianity."},
    # the gold passage p0 again, tokenised and cased differently: must go (it would turn a hit into a miss)
    {"_id": "squad-p1", "title": "Nobel_Prize", "text": "the first nobel prize in physics was awarded in 1901 to "
     "Wilhelm Conrad Röntgen , of Germany , who received 150,782 SEK ."},
    # the same raw id as a gold passage: kept, and the prefix keeps it apart
    {"_id": "p1", "title": "Rhine", "text": "The Rhine is a European river that begins in the Swiss canton of "
     "Graubünden and flows into the North Sea."},
    # a longer paragraph holding the whole gold passage p2
    {"_id": "squad-p3", "title": "Nigeria", "text": "Nigeria has a tropical climate. The south west wind blows across "
     "Nigeria from the Atlantic between March and the end of September. It brings rain."},
]
QED = [
    # a piece of the gold passage p1 (at least 8 words)
    {"_id": "qed-p0", "title": "Deadpool 2", "text": "Deadpool 2 was released in the United States on May 18 , 2018"},
    # the same text as the kept squad "p1" distractor
    {"_id": "qed-p1", "title": "Rhine", "text": "The Rhine is a European river that begins in the Swiss canton of "
     "Graubünden and flows into the North Sea."},
    # short: only equality is checked, and it equals nothing
    {"_id": "qed-p2", "title": "Yes", "text": "Deadpool 2"},
    {"_id": "qed-p3", "title": "Webbed toes",
     "text": "Webbed toes is the common name for syndactyly affecting the feet."},
]
QUERIES = [{"_id": f"q{n}", "text": f"question {n}", "metadata": {"answers": [f"answer {n}"]}} for n in range(3)]
QRELS = "query-id\tcorpus-id\tscore\nq0\tp0\t1\nq1\tp1\t1\nq2\tp2\t1\n"
KEPT_IDS = ["p0", "p1", "p2", "squad:squad-p0", "squad:p1", "qed:qed-p2", "qed:qed-p3"]


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def make_sources(root: Path, squad: list[dict] = SQUAD, qed: list[dict] = QED) -> Path:
    """A data directory holding a tiny nq-open-oracle/beir and reranker-train/ in the real layouts."""
    oracle = root / nq_wiki.ORACLE
    (oracle / "qrels").mkdir(parents=True)
    (oracle / "corpus.jsonl").write_text(
        _jsonl([{"_id": pid, "title": title, "text": text, "metadata": {}} for pid, (title, text) in GOLD.items()]),
        encoding="utf-8")
    (oracle / "queries.jsonl").write_text(_jsonl(QUERIES), encoding="utf-8")
    (oracle / "qrels" / "test.tsv").write_text(QRELS, encoding="utf-8")
    for source, records in zip(nq_wiki.DISTRACTORS, (squad, qed)):
        path = root / source.path
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(_jsonl(records))
    return root


def corpus_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]


def test_build_keeps_gold_verbatim_prefixes_distractors_and_drops_duplicates(tmp_path):
    data = make_sources(tmp_path / "data")
    out = build_nq_wiki(data, tmp_path / "cache" / "nq-wiki")

    corpus = corpus_of(out)
    assert [record["_id"] for record in corpus] == KEPT_IDS
    oracle = data / nq_wiki.ORACLE
    gold_lines = (oracle / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    assert (out / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:3] == gold_lines  # byte for byte
    assert (out / "queries.jsonl").read_bytes() == (oracle / "queries.jsonl").read_bytes()
    assert (out / "qrels" / "test.tsv").read_bytes() == (oracle / "qrels" / "test.tsv").read_bytes()
    by_id = {record["_id"]: record for record in corpus}
    assert by_id["squad:squad-p0"]["title"] == "Jehovah's Witnesses"
    assert by_id["qed:qed-p3"]["title"] == "Webbed toes"

    build = json.loads((out / "build.json").read_text(encoding="utf-8"))
    assert build["counts"] == {
        "oracle_passages": 3,
        "distractors_read": {"squad": 4, "qed": 4},
        "distractors_kept": 4,
        "distractors_kept_by_source": {"squad": 2, "qed": 2},
        "dropped": {"equals_gold": 1, "contains_gold": 1, "inside_gold": 1, "duplicate_distractor": 1},
        "corpus": 7,
    }
    assert set(build["sources"]) == {f"{nq_wiki.ORACLE}/{name}" for name in nq_wiki.ORACLE_FILES} | {
        source.path for source in nq_wiki.DISTRACTORS}
    assert build["sources"][nq_wiki.DISTRACTORS[0].path] == hashlib.sha256(
        (data / nq_wiki.DISTRACTORS[0].path).read_bytes()).hexdigest()
    assert "equals" in build["dedup_rule"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["nq-wiki"]  # no staging folder left


def test_second_build_reuses_the_first_and_a_changed_source_rebuilds(tmp_path, monkeypatch):
    data = make_sources(tmp_path / "data")
    out = build_nq_wiki(data, tmp_path / "nq-wiki")
    before = (out / "corpus.jsonl").stat().st_mtime_ns

    def no_rebuild(*args):
        raise AssertionError("rebuilt although nothing changed")

    with monkeypatch.context() as patch:
        patch.setattr(nq_wiki, "_write_set", no_rebuild)
        assert build_nq_wiki(data, out) == out
    assert (out / "corpus.jsonl").stat().st_mtime_ns == before

    shutil.rmtree(data)
    make_sources(data, qed=QED[:2])  # one distractor file changed: its sha256 no longer matches build.json
    build_nq_wiki(data, out)
    assert [record["_id"] for record in corpus_of(out)] == KEPT_IDS[:5]


def test_interrupted_build_leaves_no_set_and_keeps_an_older_one(tmp_path, monkeypatch):
    data = make_sources(tmp_path / "data")
    out = tmp_path / "cache" / "nq-wiki"
    real_read = nq_wiki._read_jsonl_gz

    def killed_after_one(path):
        for record in real_read(path):
            yield record
            raise KeyboardInterrupt  # what Ctrl-C (or a kill the process can see) raises mid-write

    monkeypatch.setattr(nq_wiki, "_read_jsonl_gz", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        build_nq_wiki(data, out)
    assert list((tmp_path / "cache").iterdir()) == []  # neither a half-built set nor its staging folder

    monkeypatch.setattr(nq_wiki, "_read_jsonl_gz", real_read)
    build_nq_wiki(data, out)
    shutil.rmtree(data)
    make_sources(data, qed=QED[:2])
    monkeypatch.setattr(nq_wiki, "_read_jsonl_gz", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        build_nq_wiki(data, out)
    assert [record["_id"] for record in corpus_of(out)] == KEPT_IDS  # the previous build, whole
    assert sorted(p.name for p in out.parent.iterdir()) == ["nq-wiki"]


def test_missing_source_names_what_to_fetch(tmp_path):
    data = make_sources(tmp_path / "data")
    (data / nq_wiki.DISTRACTORS[1].path).unlink()
    with pytest.raises(NqWikiError, match="nq-qed-train.passages.jsonl.gz.*DEEPRAG_DATA_DIR"):
        build_nq_wiki(data, tmp_path / "nq-wiki")
    assert not (tmp_path / "nq-wiki").exists()


def test_duplicate_distractor_id_is_refused(tmp_path):
    twin = {**SQUAD[0], "text": "A different paragraph under the same id, which only a damaged file would have."}
    data = make_sources(tmp_path / "data", squad=[SQUAD[0], twin])
    with pytest.raises(NqWikiError, match="'squad-p0' twice"):
        build_nq_wiki(data, tmp_path / "nq-wiki")


def test_nq_wiki_is_a_named_set_built_outside_the_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    data = make_sources(tmp_path / "data")
    dataset = load_beir(data, "nq-wiki")
    assert dataset.name == "nq-wiki"
    assert dataset.root == tmp_path / "xdg" / "deeprag" / "datasets" / "nq-wiki"
    assert dataset.qrels == read_qrels(data / nq_wiki.ORACLE / "qrels" / "test.tsv")
    assert [q.answers for q in dataset.queries.values()] == [("answer 0",), ("answer 1",), ("answer 2",)]
    assert load_questions(data, "nq-wiki") == load_questions(data, "nq-oracle")


def test_dpr_tsv_becomes_beir_corpus_shards(tmp_path):
    source = tmp_path / "psgs_w100.tsv.gz"
    with gzip.open(source, "wt", encoding="utf-8", newline="") as handle:
        handle.write('id\ttext\ttitle\n'
                     '1\t"Aaron Aaron ( or ; ""Ahärôn"") is a prophet, high priest"\tAaron\n'
                     '2\tplain text, no quotes\t"Title, with comma"\n'
                     '3\tthird\tC\n')
    assert tsv_to_beir_shards(source, tmp_path / "passages", shard_passages=2) == 3
    assert sorted(p.name for p in (tmp_path / "passages").iterdir()) == [shard_name(0), shard_name(1)]
    records = [json.loads(line) for shard in (shard_name(0), shard_name(1))
               for line in (tmp_path / "passages" / shard).read_text(encoding="utf-8").splitlines()]
    assert records == [
        {"_id": "1", "title": "Aaron", "text": 'Aaron Aaron ( or ; "Ahärôn") is a prophet, high priest'},
        {"_id": "2", "title": "Title, with comma", "text": "plain text, no quotes"},
        {"_id": "3", "title": "C", "text": "third"},
    ]
    # The records are what deeprag's own BEIR reader accepts.
    assert [d.doc_id for d in read_beir_jsonl(tmp_path / "passages" / shard_name(0))] == ["1", "2"]


@pytest.mark.parametrize("content, message", [
    ("passage\ttitle\n1\tx\tT\n", "not the DPR header"),
    ("id\ttext\ttitle\n1\tfine\tT\n2\tonly two\n", "passage row 2 has 2 fields"),
])
def test_malformed_dpr_tsv_is_refused(tmp_path, content, message):
    source = tmp_path / "psgs.tsv"
    source.write_text(content, encoding="utf-8")
    with pytest.raises(PassageFileError, match=message):
        tsv_to_beir_shards(source, tmp_path / "passages")


def test_dpr_download_entry_names_the_official_file_its_checksum_and_converter():
    spec = load_descriptors()["dpr-wiki"]
    assert spec["url"] == "https://dl.fbaipublicfiles.com/dpr/wikipedia_split/psgs_w100.tsv.gz"
    assert spec["format"] == "file" and spec["target"] == "dpr-wiki"
    assert re.fullmatch("[0-9a-f]{64}", spec["archive_sha256"])
    assert spec["files"]["psgs_w100.tsv.gz"] == spec["archive_sha256"]
    assert spec["archive_bytes"] > 4_000_000_000
    assert all(converter in CONVERTERS for converter in spec["derive"].values())
    last = (DPR_PASSAGES - 1) // SHARD_PASSAGES  # its presence shows the conversion ran to the end
    assert set(spec["files"]) == {"psgs_w100.tsv.gz", f"passages/{shard_name(0)}", f"passages/{shard_name(last)}"}


def test_dpr_download_is_moved_converted_and_verified(tmp_path, monkeypatch):
    """The real descriptor end to end, with the fetch served from a local file (no network in tests)."""
    import data.download as download_module

    fixture = tmp_path / "fixture.tsv.gz"
    with gzip.open(fixture, "wt", encoding="utf-8") as handle:
        handle.write("id\ttext\ttitle\n1\tfirst passage\tA\n2\tsecond passage\tB\n")
    digest = hashlib.sha256(fixture.read_bytes()).hexdigest()
    spec = {**load_descriptors()["dpr-wiki"], "archive_sha256": digest,
            "files": {"psgs_w100.tsv.gz": digest, f"passages/{shard_name(0)}": None}}
    monkeypatch.setattr(download_module, "fetch", lambda url, destination: shutil.copyfile(fixture, destination))

    target = download_module.download("dpr-wiki", tmp_path / "data", {"dpr-wiki": spec})
    assert sorted(p.name for p in target.iterdir()) == ["passages", "psgs_w100.tsv.gz"]  # moved, no .download left
    assert (target / "passages" / shard_name(0)).read_text(encoding="utf-8").count("\n") == 2


def test_real_nq_wiki_holds_every_judged_passage(tmp_path):
    """The real build from ../shared/data: 2,600 gold passages plus ~25,700 paragraphs less the dropped ones."""
    data = shared_data(nq_wiki.ORACLE).parents[1]
    for source in nq_wiki.DISTRACTORS:
        shared_data(source.path)
    out = build_nq_wiki(data, tmp_path / "nq-wiki")

    counts = json.loads((out / "build.json").read_text(encoding="utf-8"))["counts"]
    ids = [record["_id"] for record in corpus_of(out)]
    assert len(ids) == len(set(ids)) == counts["corpus"]
    assert counts["oracle_passages"] == 2600
    assert sum(counts["distractors_read"].values()) == 18_891 + 6_854
    dropped = sum(counts["dropped"].values())
    assert 0 < dropped < 1_000  # a few hundred NQ-train paragraphs repeat gold text; thousands would be a bug
    assert counts["corpus"] == 2600 + 25_745 - dropped
    judged = {doc for docs in read_qrels(out / "qrels" / "test.tsv").values() for doc in docs}
    assert judged <= set(ids) and len(read_qrels(out / "qrels" / "test.tsv")) == 2655
