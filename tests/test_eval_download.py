"""Dataset download against a real HTTP server on localhost serving archives built here."""

import gzip
import hashlib
import http.server
import json
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

from data.download import DownloadError, download, load_descriptors
from tests.conftest import shared_data

CORPUS = b'{"_id": "d1", "title": "T", "text": "hello"}\n'
QRELS = b"query-id\tcorpus-id\tscore\nq1\td1\t1\n"


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def make_zip(path: Path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return hashlib.md5(path.read_bytes()).hexdigest()


def toy_spec(url: str, md5: str | None, corpus_sha: str | None = None) -> dict:
    return {"toy": {
        "url": url, "format": "zip", "strip_prefix": "toy/", "target": "toy", "archive_md5": md5,
        "files": {"corpus.jsonl": corpus_sha or hashlib.sha256(CORPUS).hexdigest(), "qrels/test.tsv": None},
    }}


def test_zip_is_downloaded_verified_and_extracted(server, tmp_path):
    root, base = server
    md5 = make_zip(root / "toy.zip", {"toy/corpus.jsonl": CORPUS, "toy/qrels/test.tsv": QRELS})
    target = download("toy", tmp_path / "data", toy_spec(f"{base}/toy.zip", md5))
    assert (target / "corpus.jsonl").read_bytes() == CORPUS
    assert (target / "qrels" / "test.tsv").read_bytes() == QRELS
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["toy"]  # no staging folder left
    # Present and verified: a second call fetches nothing (the server no longer has the file).
    (root / "toy.zip").unlink()
    assert download("toy", tmp_path / "data", toy_spec(f"{base}/toy.zip", md5)) == target


def test_corrupt_archive_leaves_nothing_behind(server, tmp_path):
    root, base = server
    make_zip(root / "toy.zip", {"toy/corpus.jsonl": CORPUS, "toy/qrels/test.tsv": QRELS})
    with pytest.raises(DownloadError, match="md5"):
        download("toy", tmp_path / "data", toy_spec(f"{base}/toy.zip", "0" * 32))
    assert list((tmp_path / "data").iterdir()) == []


def test_member_with_wrong_checksum_is_refused_and_old_copy_kept(server, tmp_path):
    root, base = server
    md5 = make_zip(root / "toy.zip", {"toy/corpus.jsonl": CORPUS, "toy/qrels/test.tsv": QRELS})
    good = download("toy", tmp_path / "data", toy_spec(f"{base}/toy.zip", md5))
    with pytest.raises(DownloadError, match="sha256"):
        download("toy", tmp_path / "data", toy_spec(f"{base}/toy.zip", md5, corpus_sha="f" * 64), force=True)
    assert (good / "corpus.jsonl").read_bytes() == CORPUS
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["toy"]


def test_path_traversal_members_are_refused(server, tmp_path):
    root, base = server
    md5 = make_zip(root / "evil.zip", {"toy/corpus.jsonl": CORPUS, "../../escape.txt": b"x"})
    with pytest.raises(DownloadError, match="outside"):
        download("toy", tmp_path / "data", toy_spec(f"{base}/evil.zip", md5))
    assert not (tmp_path / "escape.txt").exists()


def test_missing_url_is_a_clear_error(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match="cannot download .*404"):
        download("toy", tmp_path / "data", toy_spec(f"{base}/absent.zip", None))


def test_nq_oracle_is_converted_to_beir(server, tmp_path):
    root, base = server
    rows = [
        {"question": "q zero", "answers": ["A"], "ctxs": [{"title": "T0", "text": "passage zero"}]},
        {"question": "q one", "answers": ["B", "b2"], "ctxs": [{"title": "T0", "text": "passage zero"}]},
        {"question": "q two", "answers": ["Ç"], "ctxs": [{"title": "T2", "text": "passage two"}]},
    ]
    with gzip.open(root / "nq-open-oracle.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    spec = {"nq": {"url": f"{base}/nq-open-oracle.jsonl.gz", "format": "file", "target": "nq",
                   "derive": {"beir": "nq-oracle-beir"},
                   "files": {"nq-open-oracle.jsonl.gz": None, "beir/corpus.jsonl": None}}}
    target = download("nq", tmp_path / "data", spec)
    corpus = [json.loads(line) for line in (target / "beir" / "corpus.jsonl").read_text().splitlines()]
    assert [c["_id"] for c in corpus] == ["p0", "p1"]
    assert (target / "beir" / "qrels" / "test.tsv").read_text().splitlines()[1:] == ["q0\tp0\t1", "q1\tp0\t1", "q2\tp1\t1"]
    queries = (target / "beir" / "queries.jsonl").read_text(encoding="utf-8")
    assert '"answers": ["Ç"]' in queries


def test_shipped_descriptors_name_url_target_and_checksums():
    for name, spec in load_descriptors().items():
        assert spec["url"].startswith("https://"), name
        assert spec["format"] in ("zip", "file") and spec["target"], name
        assert any(spec["files"].values()), f"{name} records no checksum"


def test_nq_oracle_conversion_reproduces_the_shared_beir_files(tmp_path):
    shared = shared_data("nq-open-oracle/nq-open-oracle.jsonl.gz").parent
    from data.download import nq_oracle_beir, verify_files

    (tmp_path / "nq-open-oracle.jsonl.gz").symlink_to(shared / "nq-open-oracle.jsonl.gz")
    nq_oracle_beir(tmp_path, tmp_path / "beir")
    verify_files(tmp_path, load_descriptors()["nq-open-oracle"]["files"])  # sha256 of every beir/ file
