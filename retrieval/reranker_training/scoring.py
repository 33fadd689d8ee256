"""Hybrid candidates for a BEIR set and the cross-encoder's scores on them (the heavy half of evaluation).

Writes one gzip JSON per set: for each query the top ``depth`` candidates of RRF(BM25, dense) with their
fused, BM25 and dense scores and the reranker's score. Metrics are computed from it by ``report``, anywhere.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from pathlib import Path

from retrieval.fusion import reciprocal_rank_fusion
from retrieval.reranker_training.retrievers import Bm25, Dense
from retrieval.reranker_training.sources import BeirSet

log = logging.getLogger(__name__)


def hybrid_candidates(data: BeirSet, bi_encoder, depth: int, rrf_k: int = 60) -> dict[str, dict]:
    doc_ids = list(data.corpus)
    texts = [data.corpus[d] for d in doc_ids]
    qids = list(data.queries)
    questions = [data.queries[q] for q in qids]
    bm25_ids, bm25_scores = Bm25(texts).search(questions, depth)
    dense_ids, dense_scores = Dense(bi_encoder, texts).search(questions, depth)
    out = {}
    for row, qid in enumerate(qids):
        fused = reciprocal_rank_fusion([[int(i) for i in dense_ids[row]], [int(i) for i in bm25_ids[row]]], rrf_k)
        fused = fused[:depth]
        bm25 = dict(zip(map(int, bm25_ids[row]), map(float, bm25_scores[row])))
        dense = dict(zip(map(int, dense_ids[row]), map(float, dense_scores[row])))
        out[qid] = {
            "docs": [doc_ids[i] for i, _ in fused],
            "fused": [float(s) for _, s in fused],
            "bm25": [bm25.get(i) for i, _ in fused],
            "dense": [dense.get(i) for i, _ in fused],
        }
    return out


def score_candidates(data: BeirSet, candidates: dict[str, dict], reranker, batch_size: int = 256) -> float:
    """Adds ``ce`` scores to every candidate list; returns the seconds the reranker took."""
    pairs, owners = [], []
    for qid, entry in candidates.items():
        pairs += [(data.queries[qid], data.corpus[d]) for d in entry["docs"]]
        owners.append((qid, len(entry["docs"])))
    start = time.perf_counter()
    scores = reranker.predict(pairs, batch_size=batch_size, show_progress_bar=True, convert_to_numpy=True)
    seconds = time.perf_counter() - start
    offset = 0
    for qid, n in owners:
        candidates[qid]["ce"] = [float(s) for s in scores[offset : offset + n]]
        offset += n
    return seconds


def write_scores(path: Path, name: str, data: BeirSet, candidates: dict[str, dict], meta: dict) -> None:
    payload = {"set": name, "meta": meta, "qrels": data.qrels, "answers": data.answers, "queries": candidates}
    # Keep the candidate texts only where answers must be matched in them (nq-oracle: recall@5).
    if data.answers:
        used = {d for entry in candidates.values() for d in entry["docs"]}
        payload["texts"] = {d: data.corpus[d] for d in used}
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(payload, handle)
