"""Mine hard negatives for each training question and pack the result compactly.

Candidates come from both retrievers over the pooled paragraphs (SQuAD + NQ, so negatives cross sources):
BM25 finds word-overlap traps, the dense model finds paraphrase-level ones; the two lists are interleaved.
A candidate whose dense similarity to the question is within ``margin`` (relative) of the positive's is
dropped as a likely unlabelled positive (NV-Retriever's TopK-PercPos; sentence-transformers'
``mine_hard_negatives`` does the same with one retriever only, which is why it is not used here).
WikiQA questions keep their own labelled negative sentences first.

Packed form (one folder): ``passages.jsonl.gz`` (every passage used, once; an inverse-cloze (trimmed) passage only
by id, rebuilt from its paragraph on reading, see ``ict.py``), ``train.jsonl.gz`` and
``heldout.jsonl.gz`` (``{"qid","query","source","positive","negatives"}`` with passage ids) and
``manifest.json`` (settings, counts, input sha256s).
"""

from __future__ import annotations

import gzip
import json
import logging
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from retrieval.reranker_training import ict
from retrieval.reranker_training.retrievers import Bm25, Dense
from retrieval.reranker_training.sources import Question, TrainingSources, pooled_ids, read_jsonl

log = logging.getLogger(__name__)


@dataclass
class Mined:
    qid: str
    query: str
    source: str
    positive: str
    negatives: list[str]


def mine(
    sources: TrainingSources, questions: list[Question], dense: Dense | None, bm25: Bm25,
    ids: list[str], num_negatives: int, depth: int, margin: float, seed: int, pick: str = "top",
) -> list[Mined]:
    """Hard negatives (passage ids) for each question; ``ids[i]`` names row ``i`` of both retrievers.

    ``pick="top"`` takes the best-ranked candidates (the hardest negatives); ``"random"`` draws them from the
    whole top ``depth``: easier on average, fewer unlabelled positives, and less of a lesson in word overlap.
    """
    rng = random.Random(seed)
    texts = [q.text for q in questions]
    bm25_ids, _ = bm25.search(texts, depth)
    if dense is not None:
        dense_ids, dense_scores = dense.search(texts, depth)
        positive_sims = dense.similarity(texts, [sources.passages[q.positive] for q in questions])
    mined = []
    for row, q in enumerate(questions):
        own = list(sources.wikiqa_negatives.get(q.qid, []))
        rng.shuffle(own)
        lists = [list(bm25_ids[row])]
        blocked: set[int] = set()
        if dense is not None:
            lists.insert(0, list(dense_ids[row]))
            limit = positive_sims[row] - margin * abs(positive_sims[row])
            blocked = {int(i) for i, s in zip(dense_ids[row], dense_scores[row]) if s > limit}
        positive_text = sources.passages[q.positive]
        chosen: list[str] = own[:num_negatives]
        candidates = [i for pair in zip(*lists) for i in pair]
        if pick == "random":
            rng.shuffle(candidates)
        for i in candidates:
            if len(chosen) >= num_negatives:
                break
            pid = ids[int(i)]
            taken = int(i) in blocked or pid in chosen or pid in (q.positive, q.origin)
            if taken or sources.passages[pid] == positive_text:
                continue
            chosen.append(pid)
        while len(chosen) < num_negatives:  # a tiny pool or an unusual question: fill with random passages
            pid = ids[rng.randrange(len(ids))]
            if pid not in chosen and pid not in (q.positive, q.origin):
                chosen.append(pid)
        if q.source == "ict":
            chosen = [ict.trim_like_a_positive(sources.passages, pid, rng) for pid in chosen]
        mined.append(Mined(q.qid, q.text, q.source, q.positive, chosen))
    return mined


def write_packed(folder: Path, passages: dict[str, str], train: list[Mined], heldout: list[Mined], manifest: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    used = {pid for m in train + heldout for pid in [m.positive, *m.negatives]}
    used |= {ict.origin_of(pid) for pid in used if ict.is_ict_passage(pid)}
    # mtime=0: the same inputs give byte-identical files, so their sha256 can be recorded and compared.
    with gzip.GzipFile(folder / "passages.jsonl.gz", "wb", mtime=0) as handle:
        for pid in sorted(used):
            row = {"_id": pid} if ict.is_ict_passage(pid) else {"_id": pid, "text": passages[pid]}
            handle.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
    for name, rows in (("train", train), ("heldout", heldout)):
        with gzip.GzipFile(folder / f"{name}.jsonl.gz", "wb", mtime=0) as handle:
            for m in rows:
                handle.write((json.dumps(asdict(m), ensure_ascii=False) + "\n").encode())
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def read_packed(folder: Path) -> tuple[dict[str, str], list[Mined], list[Mined]]:
    rows = list(read_jsonl(folder / "passages.jsonl.gz"))
    passages = {r["_id"]: r["text"] for r in rows if "text" in r}
    passages.update({r["_id"]: ict.rebuild_passage(passages, r["_id"]) for r in rows if "text" not in r})
    train = [Mined(**r) for r in read_jsonl(folder / "train.jsonl.gz")]
    heldout = [Mined(**r) for r in read_jsonl(folder / "heldout.jsonl.gz")]
    return passages, train, heldout


def build_retrievers(sources: TrainingSources, bi_encoder) -> tuple[list[str], Bm25, Dense | None]:
    """Index the pooled paragraphs (``sources.pooled_ids``)."""
    ids = pooled_ids(sources.passages)
    texts = [sources.passages[pid] for pid in ids]
    log.info("indexing %d pooled paragraphs", len(ids))
    dense = Dense(bi_encoder, texts) if bi_encoder is not None else None
    return ids, Bm25(texts), dense


def source_counts(rows: list[Mined]) -> dict[str, int]:
    return {s: int(n) for s, n in zip(*np.unique([m.source for m in rows], return_counts=True))} if rows else {}
