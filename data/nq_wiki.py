"""nq-wiki: the nq-oracle questions over a pool where the gold passages hide among ~25,700 Wikipedia paragraphs.

nq-oracle's retrieval pool is only its 2,600 gold passages, so retrieval there is easier than open-domain QA.
nq-wiki keeps its questions, answers and qrels unchanged and adds, as distractors, the SQuAD v1.1 train and NQ
train (QED) paragraphs from ``reranker-train/``: real Wikipedia text on the same kinds of topics, ten times the
pool, and still small enough to index on a laptop. Built from files already in the data directory, into a cache
folder outside the repository; nothing is downloaded.

A distractor that is the same text as a gold passage would turn a correct hit into a miss, so distractors whose
normalised words equal, contain or lie inside a gold passage's are dropped, as are repeats of an earlier
distractor (see ``DEDUP_RULE``); ``build.json`` records how many of each, and the sha256 of every source file.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import shutil
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO
from urllib.parse import unquote

from tqdm import tqdm

from ground.errors import DeepragError
from ground.files import file_sha256, write_json_atomically

log = logging.getLogger(__name__)

ORACLE = "nq-open-oracle/beir"  # relative to the data directory
ORACLE_FILES = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")
BUILD_VERSION = 1  # bump when the output for the same sources would change
SHINGLE = 8  # words: containment is checked for texts at least this long; shorter ones only for equality
DEDUP_RULE = (
    f"text normalised as NFKC, casefolded, reduced to its \\w+ words joined by single spaces; a distractor is "
    f"dropped if its normalised text equals a gold passage's, or (both having at least {SHINGLE} words) contains "
    f"one or lies inside one, or equals an earlier kept distractor's"
)


@dataclass(frozen=True)
class DistractorSource:
    prefix: str  # ids become "<prefix>:<original id>", so they can never collide with the oracle's p0, p1, ...
    path: str  # relative to the data directory
    slug_titles: bool = False  # titles are URL slugs ("Jehovah%27s_Witnesses"): shown as words like the others


DISTRACTORS = (
    DistractorSource("squad", "reranker-train/squad-v1.1-train.passages.jsonl.gz", slug_titles=True),
    DistractorSource("qed", "reranker-train/nq-qed-train.passages.jsonl.gz"),
)
SOURCES = (ORACLE, *(source.path for source in DISTRACTORS))  # what must be in the data directory


class NqWikiError(DeepragError):
    """nq-wiki could not be built from the data directory."""


def build_nq_wiki(data_dir: Path, out_dir: Path) -> Path:
    """Build the nq-wiki BEIR directory at ``out_dir`` from ``data_dir`` (which holds ``SOURCES``); returns it.

    Idempotent: an ``out_dir`` whose ``build.json`` names the same sources, version and rule is returned as it
    is (hashing ~10 MB of sources, well under a second). Otherwise the set is built in a temporary folder beside
    ``out_dir`` and renamed into place only when complete, so an interrupted build leaves nothing that looks done.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    expected = _expected_record(data_dir)
    if _is_built(out_dir, expected):
        log.debug("nq-wiki already built at %s", out_dir)
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        counts = _write_set(data_dir, staging)
        write_json_atomically(staging / "build.json", {**expected, "counts": counts})
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the set from other readers of a shared data folder
        if _is_built(out_dir, expected):  # another process finished the same build meanwhile: keep its copy
            shutil.rmtree(staging, ignore_errors=True)
            return out_dir
        _replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("nq-wiki built in %.1f s → %s: %d passages (%d gold + %d distractors; %d distractors dropped)",
             time.perf_counter() - started, out_dir, counts["corpus"], counts["oracle_passages"],
             counts["distractors_kept"], sum(counts["dropped"].values()))
    return out_dir


def _expected_record(data_dir: Path) -> dict:
    """What ``build.json`` must say for a built set to be reused: version, rule, and every source's sha256."""
    files = [f"{ORACLE}/{name}" for name in ORACLE_FILES] + [source.path for source in DISTRACTORS]
    missing = [str(data_dir / relative) for relative in files if not (data_dir / relative).is_file()]
    if missing:
        raise NqWikiError(
            f"cannot build nq-wiki: missing {', '.join(missing)}. It needs nq-open-oracle/beir "
            "(`python -m data.download nq-open-oracle`) and reranker-train/ in the same data directory "
            "(--data-dir / DEEPRAG_DATA_DIR)"
        )
    return {
        "name": "nq-wiki",
        "version": BUILD_VERSION,
        "dedup_rule": DEDUP_RULE,
        "sources": {relative: file_sha256(data_dir / relative) for relative in files},
    }


def _is_built(out_dir: Path, expected: dict) -> bool:
    try:
        record = json.loads((out_dir / "build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all(record.get(key) == value for key, value in expected.items()) and all(
        (out_dir / name).is_file() for name in ORACLE_FILES
    )


def _replace_dir(staging: Path, target: Path) -> None:
    """Rename the finished folder into place; an older build is moved aside first and removed only after."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_set(data_dir: Path, folder: Path) -> dict:
    """Write corpus.jsonl (gold passages verbatim, then the kept distractors), queries and qrels; return counts."""
    oracle = data_dir / ORACLE
    (folder / "qrels").mkdir()
    shutil.copyfile(oracle / "queries.jsonl", folder / "queries.jsonl")
    shutil.copyfile(oracle / "qrels" / "test.tsv", folder / "qrels" / "test.tsv")
    dropped: Counter[str] = Counter()
    read: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as corpus:
        gold_ids, gold_texts = _copy_oracle(oracle / "corpus.jsonl", corpus)
        _check_qrels(oracle / "qrels" / "test.tsv", gold_ids)
        gold = GoldIndex(gold_texts)
        seen: set[str] = set()  # normalised texts of the kept distractors
        written: set[str] = set()
        for source in DISTRACTORS:
            records = _read_jsonl_gz(data_dir / source.path)
            for record in tqdm(records, desc=f"nq-wiki {source.prefix}", unit=" passages", disable=None):
                read[source.prefix] += 1
                key = normalise(str(record["text"]))
                reason = gold.overlap(key) or ("duplicate_distractor" if key in seen else None)
                if reason:
                    dropped[reason] += 1
                    continue
                doc_id = f"{source.prefix}:{record['_id']}"
                if doc_id in written:
                    raise NqWikiError(f"{data_dir / source.path} has the id '{record['_id']}' twice; the file is "
                                      "not the published one: restore reranker-train/ from the shared data")
                seen.add(key)
                written.add(doc_id)
                kept[source.prefix] += 1
                corpus.write(json.dumps({
                    "_id": doc_id,
                    "title": _slug_to_title(str(record["title"])) if source.slug_titles else str(record["title"]),
                    "text": str(record["text"]),
                    "metadata": {"source": source.path},
                }, ensure_ascii=False) + "\n")
    return {
        "oracle_passages": len(gold_ids),
        "distractors_read": dict(read),
        "distractors_kept": sum(kept.values()),
        "distractors_kept_by_source": dict(kept),
        "dropped": {reason: dropped[reason] for reason in GoldIndex.REASONS + ("duplicate_distractor",)},
        "corpus": len(gold_ids) + sum(kept.values()),
    }


def _copy_oracle(path: Path, corpus: TextIO) -> tuple[set[str], list[str]]:
    """Copy the gold passages line for line (byte-identical records) and return their ids and normalised texts."""
    ids: set[str] = set()
    texts: list[str] = []
    with open(path, encoding="utf-8") as source:
        for line in source:
            if not line.strip():
                continue
            record = json.loads(line)
            ids.add(str(record["_id"]))
            texts.append(normalise(str(record["text"])))
            corpus.write(line if line.endswith("\n") else line + "\n")
    return ids, texts


def _check_qrels(path: Path, gold_ids: set[str]) -> None:
    """Every judged passage must be in the corpus, or each of its questions would score zero whatever happens."""
    with open(path, encoding="utf-8") as handle:
        judged = {line.split("\t")[1] for number, line in enumerate(handle) if number and line.strip()}
    if judged - gold_ids:
        raise NqWikiError(f"{path} judges passages missing from the oracle corpus ({sorted(judged - gold_ids)[:5]}); "
                          "the nq-open-oracle files disagree: download them again")


def _read_jsonl_gz(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _slug_to_title(slug: str) -> str:
    """``Jehovah%27s_Witnesses`` → ``Jehovah's Witnesses``: a slug title would tell distractors from gold."""
    return unquote(slug).replace("_", " ")


def normalise(text: str) -> str:
    """The words of ``text`` (NFKC, casefolded, ``\\w+``) joined by spaces: equal for the same passage however it
    was tokenised (QED writes "( 1981 )" where the DPR passages write "(1981)")."""
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold()))


class GoldIndex:
    """Answers "does this normalised text equal, contain or lie inside a gold passage?" without scanning all 2,600
    gold passages per distractor: candidates come from word pairs and windows, then a substring check confirms."""

    REASONS = ("equals_gold", "contains_gold", "inside_gold")

    def __init__(self, texts: list[str]):
        self._exact = set(texts)
        self._texts = [f" {text} " for text in texts]
        self._starts: dict[tuple[str, str], list[int]] = {}  # a gold passage's first two words → passages so starting
        self._windows: dict[str, set[int]] = {}  # every SHINGLE-word window of a gold passage → passages holding it
        for number, text in enumerate(texts):
            words = text.split()
            if len(words) < SHINGLE:
                continue
            self._starts.setdefault((words[0], words[1]), []).append(number)
            for start in range(len(words) - SHINGLE + 1):
                self._windows.setdefault(" ".join(words[start:start + SHINGLE]), set()).add(number)

    def overlap(self, text: str) -> str | None:
        """The reason a distractor with normalised ``text`` must go (one of ``REASONS``), or None."""
        if text in self._exact:
            return "equals_gold"
        words = text.split()
        if len(words) < SHINGLE:
            return None
        padded = f" {text} "
        for pair in zip(words, words[1:]):  # where a gold passage could begin inside this text
            for number in self._starts.get(pair, ()):
                if self._texts[number] in padded:
                    return "contains_gold"
        for number in self._windows.get(" ".join(words[:SHINGLE]), ()):
            if padded in self._texts[number]:
                return "inside_gold"
        return None
