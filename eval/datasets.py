"""Evaluation sets: where they live and how to read them.

Two shapes: a BEIR directory (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) for retrieval, and
question/answer lists (NQ-open, TriviaQA, and nq-oracle's queries, which carry ``metadata.answers``) for QA.
Files are read where they are; nothing is copied. Derived sets (nq-wiki) are built from them on first use into
the user's data folder (``ground.config.user_data_dir()/datasets``), never into the repository.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from data import nq_wiki
from ground.config import user_data_dir
from ground.errors import DeepragError

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DerivedSet:
    """A BEIR set deeprag builds from files of the data directory (idempotently) rather than reads as it is."""

    sources: tuple[str, ...]  # relative to the data directory; all must be under the same one
    build: Callable[[Path, Path], Path]  # (data directory, output folder) -> the built BEIR folder
    questions_from: str  # the named set whose questions (and answers) it keeps


# Named BEIR sets: a folder relative to the data directory, or a set built from such folders.
BEIR_SETS: dict[str, str | DerivedSet] = {
    "scifact": "scifact",
    "nq-oracle": "nq-open-oracle/beir",
    "nq-wiki": DerivedSet(nq_wiki.SOURCES, nq_wiki.build_nq_wiki, questions_from="nq-oracle"),
    # CMRC 2018 trial (Chinese Wikipedia reading comprehension): its paragraphs as the pool, answers in the
    # queries' metadata, scored with CMRC's own character-level EM/F1 (eval.metrics.cmrc_em / cmrc_f1).
    "cmrc2018-trial": "cmrc2018-trial",
}
# The qrels split a named set is read with unless another is asked for (CMRC's trial set is a dev set).
DEFAULT_SPLITS = {"cmrc2018-trial": "dev"}
# Named BEIR sets whose queries carry gold answers (metadata.answers): QA sets too.
BEIR_QA_SETS = ("nq-oracle", "cmrc2018-trial")
# Named QA sets: file relative to the data directory, and the field holding the answer aliases.
QA_SETS = {
    "nq-open": ("nq-open/NQ-open.dev.jsonl", "answer"),  # the split DPR/FiD call "test" (3,610 questions)
    "triviaqa": ("triviaqa-open/triviaqa.test.jsonl", "answers"),  # DPR's open test split (11,313)
}


class DatasetMissing(DeepragError):
    """An evaluation set is not where deeprag looked."""


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answers: tuple[str, ...] = ()


@dataclass
class BeirSet:
    name: str
    root: Path
    corpus: Path
    queries: dict[str, Question]  # only the queries that appear in the split's qrels
    qrels: dict[str, dict[str, int]]


def data_dir_candidates(data_dir: Path | None, env: dict[str, str] | None = None) -> list[Path]:
    """Where evaluation data may be, in order: ``data_dir`` from the config, ``$DEEPRAG_DATA_DIR``,
    and ``../shared/data`` next to the repository."""
    env = dict(os.environ) if env is None else env
    found = []
    if data_dir:
        found.append(Path(data_dir))
    if env.get("DEEPRAG_DATA_DIR"):
        found.append(Path(env["DEEPRAG_DATA_DIR"]))
    found.append(REPO_ROOT.parent / "shared" / "data")
    return found


def resolve(data_dir: Path | None, relative: str, env: dict[str, str] | None = None) -> Path:
    """The first data directory holding ``relative``; else DatasetMissing listing every path tried."""
    tried = [base / relative for base in data_dir_candidates(data_dir, env)]
    for path in tried:
        if path.exists():
            return path
    raise DatasetMissing(
        f"dataset '{relative}' not found; looked at: {', '.join(map(str, tried))}. "
        "Set --data-dir / DEEPRAG_DATA_DIR, or fetch it with `python -m data.download NAME`"
    )


def resolve_all(data_dir: Path | None, relatives: tuple[str, ...], env: dict[str, str] | None = None) -> Path:
    """The first data directory holding every one of ``relatives`` (a derived set reads them side by side)."""
    bases = data_dir_candidates(data_dir, env)
    for base in bases:
        if all((base / relative).exists() for relative in relatives):
            return base
    raise DatasetMissing(
        f"no data directory holds all of {', '.join(relatives)}; looked in: {', '.join(map(str, bases))}. "
        "Set --data-dir / DEEPRAG_DATA_DIR to one that has them all"
    )


def derived_dir() -> Path:
    """Where derived sets are built: per user, like the default index, so never inside the repository."""
    return user_data_dir() / "datasets"


def load_beir(data_dir: Path | None, name_or_path: str, split: str | None = None) -> BeirSet:
    """A BEIR set by name (``scifact``, ``nq-oracle``, ``nq-wiki``, ``cmrc2018-trial``) or by directory path;
    ``split`` None = the set's own (``dev`` for cmrc2018-trial, else ``test``)."""
    split = split or DEFAULT_SPLITS.get(name_or_path, "test")
    source = BEIR_SETS.get(name_or_path)
    if isinstance(source, DerivedSet):
        root, name = source.build(resolve_all(data_dir, source.sources), derived_dir() / name_or_path), name_or_path
    elif source is not None:
        root, name = resolve(data_dir, source), name_or_path
    else:
        root, name = Path(name_or_path), Path(name_or_path).name
    files = {"corpus": root / "corpus.jsonl", "queries": root / "queries.jsonl", "qrels": root / "qrels" / f"{split}.tsv"}
    missing = [str(p) for p in files.values() if not p.is_file()]
    splits = sorted(path.stem for path in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
    if missing == [str(files["qrels"])] and splits:
        raise DatasetMissing(f"'{name_or_path}' has no {split} split (no {files['qrels']}); it has "
                             f"{', '.join(splits)}: pass --split {splits[0]}")
    if missing:
        raise DatasetMissing(
            f"'{name_or_path}' is not a BEIR directory: missing {', '.join(missing)}; "
            f"known names: {', '.join(BEIR_SETS)}"
        )
    qrels = read_qrels(files["qrels"])
    queries = {q.id: q for q in _read_beir_queries(files["queries"]) if q.id in qrels}
    return BeirSet(name, root, files["corpus"], queries, qrels)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV (``query-id corpus-id score`` with a header line)."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(rows, 1):
            if number == 1 and row and not row[-1].strip().lstrip("-").isdigit():
                continue  # header
            if len(row) < 3:
                raise DatasetMissing(f"{path}:{number} is not 'query-id<TAB>corpus-id<TAB>score'")
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def _read_beir_queries(path: Path) -> list[Question]:
    questions = []
    for record in _jsonl(path):
        answers = (record.get("metadata") or {}).get("answers") or []
        questions.append(Question(str(record["_id"]), str(record["text"]), tuple(map(str, answers))))
    return questions


def load_questions(data_dir: Path | None, name: str) -> list[Question]:
    """Questions with gold answers: ``nq-oracle`` and ``cmrc2018-trial`` (from their BEIR queries, in their
    default split), ``nq-wiki`` (nq-oracle's questions), ``nq-open``, ``triviaqa``."""
    source = BEIR_SETS.get(name)
    if isinstance(source, DerivedSet):
        name = source.questions_from  # no need to build the derived pool just to read its questions
    if name in BEIR_QA_SETS:
        return list(load_beir(data_dir, name).queries.values())
    if name not in QA_SETS:
        raise DatasetMissing(f"unknown QA set '{name}'; choose one of {', '.join(BEIR_QA_SETS)}, nq-wiki, "
                             f"{', '.join(QA_SETS)}")
    relative, field = QA_SETS[name]
    path = resolve(data_dir, relative)
    return [
        Question(str(record.get("id", f"{name}-{number}")), str(record["question"]), tuple(map(str, record[field])))
        for number, record in enumerate(_jsonl(path))
    ]


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
