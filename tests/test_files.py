"""The ground's file helpers: atomic JSON writes that concurrent writers cannot tear, and content hashes."""

import hashlib
import json
import threading

from ground.files import file_digest, file_sha256, write_json_atomically


def test_concurrent_writers_of_one_file_never_collide(tmp_path):
    """Two UI sessions saving settings at once: each write lands whole, none fails, no temp file is left."""
    target = tmp_path / "ui-settings.json"
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(200):
                write_json_atomically(target, {"writer": n, "i": i, "padding": "x" * 2000})
        except BaseException as exc:  # collected: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert json.loads(target.read_text())["i"] == 199
    assert [p.name for p in tmp_path.iterdir()] == ["ui-settings.json"]


def test_gzip_json_is_deterministic(tmp_path):
    write_json_atomically(tmp_path / "a.json.gz", {"b": [1, 2]})
    first = (tmp_path / "a.json.gz").read_bytes()
    write_json_atomically(tmp_path / "a.json.gz", {"b": [1, 2]})
    assert (tmp_path / "a.json.gz").read_bytes() == first  # mtime=0: same content, same bytes


def test_digests_match_hashlib(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"deeprag" * 100_000)
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_digest(path, "md5") == hashlib.md5(path.read_bytes()).hexdigest()
