"""Download evaluation sets from their official sources into a data directory, verified and atomic.

    python -m data.download scifact nq-open nq-open-oracle [--data-dir DIR] [--force]

Each set is described in ``data/datasets.json`` (URL, format, checksums). A set is fetched into a temporary
folder beside its target, its checksums are verified, and only then is the folder renamed into place: an
interrupted or corrupt download never leaves a half-filled dataset that the evaluation would read.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from data.dpr_wiki import dpr_wiki_jsonl
from ground.errors import DeepragError
from ground.files import file_digest

log = logging.getLogger(__name__)

DESCRIPTORS = Path(__file__).with_name("datasets.json")


class DownloadError(DeepragError):
    """A dataset could not be fetched or did not verify."""


def load_descriptors(path: Path = DESCRIPTORS) -> dict[str, dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def download(name: str, data_dir: Path, descriptors: dict[str, dict] | None = None, force: bool = False) -> Path:
    """Fetch one dataset into ``data_dir / descriptor.target``; returns that folder.

    An existing folder whose checksummed files verify is kept (nothing is fetched) unless ``force``."""
    descriptors = load_descriptors() if descriptors is None else descriptors
    if name not in descriptors:
        raise DownloadError(f"unknown dataset '{name}'; known: {', '.join(sorted(descriptors))}")
    spec = descriptors[name]
    data_dir = Path(data_dir)
    target = data_dir / spec["target"]
    if target.exists() and not force:
        verify_files(target, spec["files"])
        log.info("%s already present and verified at %s", name, target)
        return target
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec['target']}-", dir=data_dir))
    try:
        archive = staging / ".download"
        fetch(spec["url"], archive)
        verify_archive(archive, spec)
        unpack(archive, staging, spec)
        archive.unlink(missing_ok=True)  # a single-file download was moved into place
        for output, converter in spec.get("derive", {}).items():
            CONVERTERS[converter](staging, staging / output)
        verify_files(staging, spec["files"])
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("%s downloaded and verified → %s", name, target)
    return target


def fetch(url: str, destination: Path) -> None:
    """Stream ``url`` to ``destination`` with a progress bar."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=destination.parent.name, disable=None) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DownloadError(f"cannot download {url}: {exc}; check the network or fetch it by hand") from None


def verify_archive(archive: Path, spec: dict) -> None:
    for algorithm in ("sha256", "md5"):
        expected = spec.get(f"archive_{algorithm}")
        if expected and file_digest(archive, algorithm) != expected:
            raise DownloadError(
                f"{spec['url']} does not match its recorded {algorithm} ({expected}); the file changed upstream "
                "or the download was corrupted. Retry; if it persists, update data/datasets.json after checking"
            )


def unpack(archive: Path, destination: Path, spec: dict) -> None:
    """Extract a zip (refusing members that would land outside ``destination``) or place a single file (moved,
    not copied: DPR's passages are 4.7 GB)."""
    if spec["format"] == "file":
        os.replace(archive, destination / PurePosixPath(spec["url"]).name)
        return
    if spec["format"] != "zip":
        raise DownloadError(f"unknown format '{spec['format']}' in data/datasets.json; use 'zip' or 'file'")
    prefix = spec.get("strip_prefix", "")
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            path = PurePosixPath(member.filename)
            if path.is_absolute() or ".." in path.parts:
                raise DownloadError(f"archive member '{member.filename}' points outside the dataset; refusing it")
            if member.is_dir() or not member.filename.startswith(prefix):
                continue
            out = destination / member.filename[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, open(out, "wb") as sink:
                shutil.copyfileobj(source, sink)


def verify_files(folder: Path, files: dict[str, str | None]) -> None:
    """Every listed file must exist; those with a recorded sha256 must match it."""
    for relative, expected in files.items():
        path = folder / relative
        if not path.is_file():
            raise DownloadError(f"{path} is missing after download; the archive layout changed or the copy is partial")
        if expected and file_digest(path, "sha256") != expected:
            raise DownloadError(f"{path} does not match its recorded sha256; delete the folder and download again")


def _swap_into_place(staging: Path, target: Path) -> None:
    """Rename the verified folder to its final name (atomic on one file system); an old copy is removed
    only after the new one is in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def nq_oracle_beir(folder: Path, output: Path) -> None:
    """nq-open-oracle.jsonl.gz as a BEIR set: each distinct gold passage becomes a corpus document (p0, p1, …
    in first-seen order), each question a query (q<line>) carrying its answers, judged relevant to its passage."""
    (output / "qrels").mkdir(parents=True, exist_ok=True)
    passages: dict[tuple[str, str], str] = {}
    with gzip.open(folder / "nq-open-oracle.jsonl.gz", "rt", encoding="utf-8") as source, \
            open(output / "corpus.jsonl", "w", encoding="utf-8") as corpus, \
            open(output / "queries.jsonl", "w", encoding="utf-8") as queries, \
            open(output / "qrels" / "test.tsv", "w", encoding="utf-8") as qrels:
        qrels.write("query-id\tcorpus-id\tscore\n")
        for number, line in enumerate(source):
            record = json.loads(line)
            gold = record["ctxs"][0]
            key = (gold["title"], gold["text"])
            if key not in passages:
                passages[key] = f"p{len(passages)}"
                corpus.write(json.dumps({"_id": passages[key], "title": gold["title"], "text": gold["text"],
                                         "metadata": {}}, ensure_ascii=False) + "\n")
            queries.write(json.dumps({"_id": f"q{number}", "text": record["question"],
                                      "metadata": {"answers": record["answers"]}}, ensure_ascii=False) + "\n")
            qrels.write(f"q{number}\t{passages[key]}\t1\n")


CONVERTERS = {"nq-oracle-beir": nq_oracle_beir, "dpr-wiki-jsonl": dpr_wiki_jsonl}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.download", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help=f"datasets: {', '.join(sorted(load_descriptors()))}")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DEEPRAG_DATA_DIR", "data-sets")))
    parser.add_argument("--force", action="store_true", help="download again even if present")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        for name in args.names:
            print(download(name, args.data_dir, force=args.force))
    except DeepragError as exc:
        print(f"deeprag: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
