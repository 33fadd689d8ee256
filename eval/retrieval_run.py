"""`deeprag eval retrieval`: index a BEIR corpus (cached), run its test queries, score documents.

The index holds chunks and a BEIR document may become several of them, so each query's chunk ranking is
collapsed to documents (a document ranks where its best chunk ranks) before scoring. Retrieval goes through
the public ``Searcher`` like any user, asked for a deep list (``depth`` documents) so Recall@100 and
MAP@100 are meaningful.
"""

from __future__ import annotations

import hashlib
import json
import logging
import resource
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from eval.datasets import BeirSet, Question
from eval.metrics import CUTOFFS, documents_from_chunks, rank_scores, score_run
from eval.runner import RunDir, percentile, public_settings, run_items
from ground.config import Config, updated
from ground.errors import DeepragError
from ground.files import file_sha256
from retrieval.reranker import RerankerUnavailable, weights_sha256

log = logging.getLogger(__name__)

Setting = Literal["bm25", "dense", "hybrid", "hybrid+rerank"]
SETTINGS: tuple[str, ...] = ("bm25", "dense", "hybrid", "hybrid+rerank")


@dataclass
class RetrievalEval:
    """What to run: a BEIR set through one retrieval setting, into one run directory."""

    dataset: BeirSet
    setting: Setting
    run_dir: Path
    depth: int = 100  # documents kept per query
    ignore_identical_ids: bool = False
    limit: int | None = None  # first N queries only (smoke runs)
    index_dir: Path | None = None  # None = the per-settings cache under eval.index_cache_dir


def index_settings(config: Config) -> dict:
    """The settings that decide an index's content (and so its cache key)."""
    return {
        "embedding_model": config.embedding.model,
        "max_tokens": config.chunking.max_tokens,
        "overlap_tokens": config.chunking.overlap_tokens,
        "index": config.index.model_dump(),
    }


def cached_index_dir(config: Config, dataset: BeirSet, corpus_sha256: str) -> Path:
    key = json.dumps({**index_settings(config), "corpus_sha256": corpus_sha256}, sort_keys=True)
    return Path(config.eval.index_cache_dir) / f"{dataset.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def ensure_index(config: Config, corpus: Path, index_dir: Path) -> None:
    """Ingest the corpus into ``index_dir``; a no-op (seconds) when it is already there and unchanged."""
    from ingest.pipeline import Ingestor

    started = time.perf_counter()
    summary = Ingestor.for_config(updated(config, {"index_dir": index_dir})).run([corpus])
    if summary.skipped:
        raise DeepragError(f"could not index {corpus}: {summary.skipped[0].reason}")
    if summary.chunks_embedded:
        log.info("indexed %s: %d chunks in %.0f s → %s", corpus, summary.chunks_embedded,
                 time.perf_counter() - started, index_dir)


def run_retrieval(config: Config, spec: RetrievalEval) -> dict:
    """Run (or resume) one retrieval evaluation; returns the metrics written to metrics.json."""
    from retrieval.searcher import Searcher

    hashes = {
        "corpus": file_sha256(spec.dataset.corpus),
        "queries": file_sha256(spec.dataset.root / "queries.jsonl"),
    }
    index_dir = spec.index_dir or cached_index_dir(config, spec.dataset, hashes["corpus"])
    ensure_index(config, spec.dataset.corpus, index_dir)

    mode = "hybrid" if spec.setting == "hybrid+rerank" else spec.setting
    rerank = spec.setting == "hybrid+rerank"
    chunk_depth = spec.depth * config.eval.chunks_per_doc
    search_config = updated(config, {"index_dir": index_dir})
    searcher = Searcher.for_config(search_config)
    deep_candidates = max(config.retrieval.candidates, chunk_depth)
    # Deeper lists than a user's, for recall@100; the reranked head is exactly what a user gets.
    deep_settings = updated(config.retrieval, {"k": chunk_depth, "mode": mode, "rerank": False,
                                               "candidates": deep_candidates})
    head_settings = updated(config.retrieval, {"k": config.retrieval.rerank_candidates, "mode": mode, "rerank": True})
    reranker_name = config.retrieval.reranker_model if rerank else None
    if rerank:
        if not config.retrieval.reranker_model:
            raise RerankerUnavailable("hybrid+rerank needs a reranker and retrieval.reranker_model is empty; pass "
                                      "--reranker with a CrossEncoder name or folder, or evaluate hybrid")
        searcher.require_reranker(head_settings)

    run = RunDir(spec.run_dir)
    run.start({
        "kind": "retrieval",
        "dataset": spec.dataset.name,
        "dataset_path": str(spec.dataset.root),
        "file_sha256": hashes,
        "setting": spec.setting,
        "reranker_model": reranker_name,
        "reranker_weights_sha256": weights_sha256(reranker_name) if reranker_name else None,
        "rerank_weight": config.retrieval.rerank_weight if rerank else None,
        "rerank_candidates": config.retrieval.rerank_candidates if rerank else None,
        "embedding_model": searcher.snapshot.manifest.embedder,
        "index_dir": str(index_dir),
        "index_settings": index_settings(config),
        "depth": spec.depth,
        "chunk_depth": chunk_depth,
        "deep_candidates": deep_candidates,
        "ignore_identical_ids": spec.ignore_identical_ids,
        "limit": spec.limit,
        "config": public_settings(search_config),
    })

    def work(question: Question) -> dict:
        if not question.text.strip():  # CMRC's trial set has two; they count, with nothing retrieved
            return empty_record(question, spec)
        started = time.perf_counter()
        deep = searcher.search(question.text, deep_settings)
        latency_ms = (time.perf_counter() - started) * 1000
        chunk_docs = [hit.chunk.doc_id for hit in deep.hits]
        timings = dict(deep.timings_ms)
        route = deep.route
        if rerank:
            started = time.perf_counter()
            top = searcher.search(question.text, head_settings)
            latency_ms = (time.perf_counter() - started) * 1000  # what a user waits for: one reranked search
            route = top.route
            # The reranked head, then the rest of the fused list in its own order.
            chunk_docs = [hit.chunk.doc_id for hit in top.hits] + chunk_docs
            timings = dict(top.timings_ms)
        docs = [d for d in documents_from_chunks(chunk_docs) if not (spec.ignore_identical_ids and d == question.id)]
        docs = docs[: spec.depth]
        qrels = {question.id: spec.dataset.qrels[question.id]}
        scores = score_run(qrels, {question.id: rank_scores(docs)}).per_query.get(question.id, {})
        return {
            "id": question.id,
            "query": question.text,
            "docs": docs,
            "relevant": sorted(d for d, g in qrels[question.id].items() if g > 0),
            "metrics": scores,
            "timings_ms": {k: round(v, 3) for k, v in timings.items()},
            # Which stages ran for this query (retrieval.language): every one asked for, unless its language
            # is one the embedder or the reranker does not read.
            "language": route.language if route else None,
            "stages": list(route.stages) if route else None,
            "latency_ms": round(latency_ms, 3),
        }

    questions = list(spec.dataset.queries.values())[: spec.limit]
    records = run_items(
        run, questions, key=lambda q: q.id, work=work, workers=1,
        running=lambda rs: f"nDCG@10 {sum(r['metrics'].get('ndcg@10', 0) for r in rs) / len(rs):.3f}",
        desc=f"{spec.dataset.name} {spec.setting}",
    )
    metrics = summarize(spec, records)
    run.write_metrics(metrics)
    return metrics


def empty_record(question: Question, spec: RetrievalEval) -> dict:
    """A question with no text: nothing can be retrieved for it, and it scores 0 like any miss (leaving it out
    would score a different set of questions than the dataset's)."""
    qrels = {question.id: spec.dataset.qrels[question.id]}
    return {"id": question.id, "query": question.text, "docs": [],
            "relevant": sorted(d for d, g in qrels[question.id].items() if g > 0),
            "metrics": score_run(qrels, {question.id: {}}).per_query.get(question.id, {}),
            "timings_ms": {}, "latency_ms": 0.0, "language": None, "stages": [], "empty_query": True}


def summarize(spec: RetrievalEval, records: list[dict]) -> dict:
    """Scores over all records (one pytrec_eval pass), latency percentiles and peak memory."""
    qrels = {r["id"]: spec.dataset.qrels[r["id"]] for r in records}
    run = {r["id"]: rank_scores(r["docs"]) for r in records}
    scores = score_run(qrels, run, ignore_identical_ids=spec.ignore_identical_ids)
    searched = [r for r in records if not r.get("empty_query")]
    latencies = [r["latency_ms"] for r in searched]
    stages = sorted({stage for r in searched for stage in r["timings_ms"]})
    return {
        "kind": "retrieval",
        "dataset": spec.dataset.name,
        "setting": spec.setting,
        "queries": len(records),
        "queries_scored": scores.queries_scored,
        "queries_without_relevant": len(scores.queries_without_relevant),
        "empty_queries": sum(bool(r.get("empty_query")) for r in records),
        **{name: round(value, 4) for name, value in scores.means.items()},
        "recall_curve": {str(k): round(scores.means[f"recall@{k}"], 4) for k in CUTOFFS},
        "latency_ms": {"p50": round(percentile(latencies, 50), 2), "p95": round(percentile(latencies, 95), 2)},
        "stage_ms_p50": {s: round(percentile([r["timings_ms"].get(s, 0.0) for r in searched], 50), 2) for s in stages},
        "routes": dict(Counter("+".join(r["stages"]) for r in records if r.get("stages"))),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
