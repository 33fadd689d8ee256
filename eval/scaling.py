"""`deeprag eval scaling`: dense nDCG@10, query latency and index memory as the index grows.

The SciFact chunks (their stored embeddings) are indexed alone and with 2×, 5×, 10× as many distractor
vectors, in each FAISS kind deeprag offers (exact, HNSW, IVF-PQ), built with the same ``vector_index.build``
that ingestion uses. Distractors are generated, not embedded: embedding ~60,000 extra passages would take
about an hour on two cores. Each distractor is the normalised mean of two random real chunk vectors plus
Gaussian noise, so it lies among the real documents (a random unit vector would sit far from every query
and test nothing) and competes with them for the top ranks. They are never relevant, so nDCG@10 can only
fall as they are added; the exact index shows how much of that fall is the data, the approximate indexes
add their own recall loss on top.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import faiss
import numpy as np
from tqdm import tqdm

from eval.datasets import load_beir
from eval.metrics import documents_from_chunks, rank_scores, score_run
from eval.retrieval_run import cached_index_dir, ensure_index
from eval.runner import percentile
from ground.config import Config, EmbeddingConfig, updated
from ground.files import file_sha256, write_json_atomically
from ingest import vector_index
from ingest.embedder import load_embedder
from ingest.index_dir import Manifest, open_docstore

log = logging.getLogger(__name__)

NOISE = 0.05  # per-dimension standard deviation of the distractors' noise (unit vectors in 384 dimensions)


def distractors(vectors: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` unit vectors near the data: mean of two random rows of ``vectors`` plus noise."""
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, len(vectors), size=(count, 2))
    mixed = (vectors[pairs[:, 0]] + vectors[pairs[:, 1]]) / 2
    mixed += rng.normal(0.0, NOISE, size=mixed.shape).astype(np.float32)
    return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)


def run_scaling(config: Config, dataset_name: str, run_dir: Path, factors: Sequence[int], kinds: Sequence[str],
                limit: int | None = None, index_dir: Path | None = None) -> str:
    """Measure every (kind, factor) pair; write metrics.json, scaling.png and report.md; return the table.
    ``index_dir`` names an existing index of the dataset (default: the per-settings cache)."""
    dataset = load_beir(config.data_dir, dataset_name)
    index_dir = index_dir or cached_index_dir(config, dataset, file_sha256(dataset.corpus))
    ensure_index(config, dataset.corpus, index_dir)
    manifest = Manifest.read(index_dir)
    docstore = open_docstore(index_dir)
    try:
        ids = docstore.chunk_ids()
        vectors = docstore.embeddings(ids, manifest.dimension)
        doc_of = {chunk_id: chunk.doc_id for chunk_id, chunk in docstore.chunks(ids).items()}
    finally:
        docstore.close()
    questions = list(dataset.queries.values())[:limit]
    embedder = load_embedder(EmbeddingConfig(model=manifest.embedder))
    query_vectors = embedder.embed_queries([q.text for q in questions])
    qrels = {q.id: dataset.qrels[q.id] for q in questions}

    # One query at a time on one thread, as a single user's search runs; FAISS's OpenMP threads only add
    # contention for a batch of one on a shared two-core machine.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        rows = _measure(config, manifest.dimension, ids, vectors, doc_of, questions, query_vectors,
                        qrels, factors, kinds)
    finally:
        faiss.omp_set_num_threads(threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(run_dir / "metrics.json", {"kind": "scaling", "dataset": dataset.name, "queries": len(questions),
                                          "noise": NOISE, "rows": rows})
    _plot(run_dir / "scaling.png", rows, kinds)
    table = _table(rows)
    (run_dir / "report.md").write_text(
        f"# Scaling on {dataset.name} ({len(questions)} queries, dense retrieval)\n\n{table}\n\n![scaling](scaling.png)\n",
        encoding="utf-8")
    return table


def _measure(config: Config, dimension: int, ids: np.ndarray, vectors: np.ndarray, doc_of: dict[int, str],
             questions: list, query_vectors: np.ndarray, qrels: dict, factors: Sequence[int],
             kinds: Sequence[str]) -> list[dict]:
    depth = config.eval.depth * config.eval.chunks_per_doc
    rows = []
    with tqdm(total=len(kinds) * len(factors), desc="scaling", disable=None) as bar:
        for factor in factors:
            extra = distractors(vectors, factor * len(vectors))
            all_ids = np.concatenate([ids, np.arange(len(extra), dtype=np.int64) + int(ids.max()) + 1])
            all_vectors = np.concatenate([vectors, extra])
            for kind in kinds:
                index_config = updated(config.index, {"kind": kind})
                started = time.perf_counter()
                index = vector_index.build(index_config, dimension, all_ids, all_vectors)
                build_s = time.perf_counter() - started
                latencies, run = [], {}
                for question, vector in zip(questions, query_vectors):
                    started = time.perf_counter()
                    hits = vector_index.search(index, vector[None, :], depth)[0]
                    latencies.append((time.perf_counter() - started) * 1000)
                    docs = documents_from_chunks(doc_of.get(i, f"distractor-{i}") for i, _ in hits)
                    run[question.id] = rank_scores(docs[: config.eval.depth])
                scores = score_run(qrels, run).means
                rows.append({
                    "kind": kind, "factor": factor, "vectors": int(len(all_ids)),
                    "ndcg@10": round(scores["ndcg@10"], 4), "recall@100": round(scores["recall@100"], 4),
                    "latency_ms_p50": round(percentile(latencies, 50), 3),
                    "latency_ms_p95": round(percentile(latencies, 95), 3),
                    "index_mb": round(len(faiss.serialize_index(index)) / 2**20, 3),
                    "build_s": round(build_s, 2),
                })
                bar.update(1)
    return rows


def _table(rows: list[dict]) -> str:
    lines = ["| index | distractors | vectors | nDCG@10 | Recall@100 | p50 ms | p95 ms | index MB | build s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['factor']}× | {r['vectors']:,} | {r['ndcg@10']:.3f} | {r['recall@100']:.3f} | "
                     f"{r['latency_ms_p50']:.2f} | {r['latency_ms_p95']:.2f} | {r['index_mb']:.1f} | {r['build_s']:.1f} |")
    return "\n".join(lines)


def _plot(path: Path, rows: list[dict], kinds: Sequence[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for kind in kinds:
        mine = [r for r in rows if r["kind"] == kind]
        x = [r["vectors"] for r in mine]
        axes[0].plot(x, [r["ndcg@10"] for r in mine], marker="o", label=kind)
        axes[1].plot(x, [r["latency_ms_p50"] for r in mine], marker="o", label=kind)
        axes[2].plot(x, [r["index_mb"] for r in mine], marker="o", label=kind)
    for ax, label in zip(axes, ("nDCG@10", "query latency p50 (ms)", "index size (MB)")):
        ax.set_xlabel("vectors in the index")
        ax.set_ylabel(label)
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
