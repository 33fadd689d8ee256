"""Evaluation sets: where they live and how to read them.

Two shapes: a BEIR directory (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) for retrieval, and
question/answer lists (NQ-open, TriviaQA, and nq-oracle's queries, which carry ``metadata.answers``) for QA.
Files are read where they are; nothing is copied.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ground.errors import DeepragError

REPO_ROOT = Path(__file__).resolve().parents[1]

# Named BEIR sets, relative to the data directory.
BEIR_SETS = {"scifact": "scifact", "nq-oracle": "nq-open-oracle/beir"}
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


def load_beir(data_dir: Path | None, name_or_path: str, split: str = "test") -> BeirSet:
    """A BEIR set by name (``scifact``, ``nq-oracle``) or by directory path."""
    if name_or_path in BEIR_SETS:
        root, name = resolve(data_dir, BEIR_SETS[name_or_path]), name_or_path
    else:
        root, name = Path(name_or_path), Path(name_or_path).name
    files = {"corpus": root / "corpus.jsonl", "queries": root / "queries.jsonl", "qrels": root / "qrels" / f"{split}.tsv"}
    missing = [str(p) for p in files.values() if not p.is_file()]
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
    """Questions with gold answers: ``nq-oracle`` (from its BEIR queries), ``nq-open``, ``triviaqa``."""
    if name == "nq-oracle":
        return list(load_beir(data_dir, name).queries.values())
    if name not in QA_SETS:
        raise DatasetMissing(f"unknown QA set '{name}'; choose one of nq-oracle, {', '.join(QA_SETS)}")
    relative, field = QA_SETS[name]
    path = resolve(data_dir, relative)
    return [
        Question(str(record.get("id", f"{name}-{number}")), str(record["question"]), tuple(map(str, record[field])))
        for number, record in enumerate(_jsonl(path))
    ]


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
