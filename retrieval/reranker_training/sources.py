"""Read the reranker training sources from the shared data folder.

Files are JSON Lines, optionally gzip-compressed (``name.jsonl`` or ``name.jsonl.gz``), so a compressed copy of
the data folder (e.g. one carried to a GPU machine) reads the same as the original.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ground.files import file_sha256
from ground.errors import DeepragError


class TrainingDataMissing(DeepragError):
    pass


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    positive: str  # passage id
    source: str  # "nq", "squad", "wikiqa" or "ict"
    origin: str | None = None  # the pooled paragraph an ICT question was cut from: never one of its negatives


@dataclass
class TrainingSources:
    passages: dict[str, str]  # passage id -> "title\ntext", pooled over all sources
    questions: list[Question]
    wikiqa_negatives: dict[str, list[str]]  # WikiQA qid -> ids of its labelled negative sentences


def default_data_dir() -> Path:
    """``DEEPRAG_DATA_DIR``, else the ``../shared/data`` beside the repository root."""
    env = os.environ.get("DEEPRAG_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def resolve(path: Path) -> Path:
    """``path`` or its gzip twin ``path.gz``; a clear error naming the data folder option when neither exists."""
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.exists():
            return candidate
    raise TrainingDataMissing(f"{path} not found; pass --data-dir (or set DEEPRAG_DATA_DIR) to the shared data folder")


def read_jsonl(path: Path) -> Iterator[dict]:
    path = resolve(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def sha256(path: Path) -> str:
    return file_sha256(resolve(path))


def passage_text(title: str, text: str) -> str:
    """The same form the index shows the reranker (``Chunk.indexed_text``): title, newline, text."""
    return f"{title}\n{text}" if title else text


TRAIN_FILES = (
    "nq-qed-train.passages.jsonl.gz", "nq-qed-train.questions.jsonl.gz",
    "squad-v1.1-train.passages.jsonl.gz", "squad-v1.1-train.questions.jsonl.gz", "wikiqa-train.pairs.jsonl",
)


def load_training_sources(
    data_dir: Path, squad_max: int, squad_per_paragraph: int, seed: int, limit: int | None = None
) -> TrainingSources:
    """Pool every paragraph (the mining corpus) and pick the questions to train on.

    SQuAD's questions were written while reading their paragraph, so they share its words and teach a reranker
    to count overlaps (the first probe's failure): we keep at most ``squad_per_paragraph`` questions per
    paragraph and ``squad_max`` in all, and every NQ and WikiQA question. ``limit`` caps each source (tests).
    """
    folder = data_dir / "reranker-train"
    rng = random.Random(seed)
    passages: dict[str, str] = {}
    questions: list[Question] = []
    for prefix, source in (("nq-qed-train", "nq"), ("squad-v1.1-train", "squad")):
        own = {
            row["_id"]: passage_text(row.get("title", ""), row["text"])
            for row in read_jsonl(folder / f"{prefix}.passages.jsonl.gz")
        }
        rows = list(read_jsonl(folder / f"{prefix}.questions.jsonl.gz"))
        if source == "squad":
            rng.shuffle(rows)
            per_paragraph: dict[str, int] = {}
            kept = []
            for row in rows:
                if per_paragraph.get(row["positive"], 0) < squad_per_paragraph:
                    per_paragraph[row["positive"]] = per_paragraph.get(row["positive"], 0) + 1
                    kept.append(row)
            rows = kept[:squad_max]
        if limit:  # tiny sample: the questions' own paragraphs plus a few others as the mining pool
            rows = rows[:limit]
            keep = {r["positive"] for r in rows} | set(list(own)[: limit * 4])
            own = {pid: text for pid, text in own.items() if pid in keep}
        passages.update(own)
        questions += [Question(r["_id"], r["text"], r["positive"], source) for r in rows]

    # WikiQA: labelled sentences of one Wikipedia article per question; keep questions with a positive.
    groups: dict[str, list[dict]] = {}
    for row in read_jsonl(folder / "wikiqa-train.pairs.jsonl"):
        groups.setdefault(row["qid"], []).append(row)
    wikiqa_negatives: dict[str, list[str]] = {}
    taken = 0
    for qid, rows in groups.items():
        positives = [r for r in rows if r["label"] == 1]
        if not positives or (limit and taken >= limit):
            continue
        taken += 1
        ids = []
        for i, r in enumerate(rows):
            pid = f"wikiqa-{qid}-{i}"
            passages[pid] = r["passage"]
            ids.append(pid)
        first_positive = ids[rows.index(positives[0])]
        questions.append(Question(f"wikiqa-q{qid}", rows[0]["query"], first_positive, "wikiqa"))
        wikiqa_negatives[f"wikiqa-q{qid}"] = [pid for pid, r in zip(ids, rows) if r["label"] == 0]
    return TrainingSources(passages, questions, wikiqa_negatives)


def pooled_ids(passages: dict[str, str]) -> list[str]:
    """The SQuAD and NQ paragraphs, the corpus negatives are mined from: WikiQA's short sentences are
    negatives only for their own question, and ICT positives are rewritten copies of pooled paragraphs."""
    return [pid for pid in passages if not pid.startswith(("wikiqa-", "ict-"))]


def split_heldout(questions: list[Question], per_source: dict[str, int], seed: int) -> tuple[list[Question], list[Question]]:
    """(train, held-out): about ``per_source[source]`` random questions of each source are held out.

    Statements cut from one paragraph (ICT) stay on one side together, so that no held-out statement's
    paragraph is trained on; other questions are held out one by one.
    """
    groups: dict[str, list[Question]] = {}
    for q in questions:
        groups.setdefault(q.origin or q.qid, []).append(q)
    keys = list(groups)
    random.Random(seed + 1).shuffle(keys)
    counts: dict[str, int] = {}
    train, heldout = [], []
    for key in keys:
        group = groups[key]
        source = group[0].source
        if counts.get(source, 0) < per_source.get(source, 0):
            counts[source] = counts.get(source, 0) + len(group)
            heldout += group
        else:
            train += group
    return train, heldout
