"""Ingestion throughput against the bare model, and query latency per stage, measured side by side.

1. Throughput: the first N SciFact documents are ingested into a fresh index by the full pipeline (read,
   chunk, embed, SQLite, FAISS, BM25), then the very same chunk texts are encoded by a plain
   ``SentenceTransformer.encode`` call with the same batch size. The ratio of chunks/s (pipeline / plain)
   says how much the pipeline adds over the model; target ≥ 0.85. Model loading is outside both timings.
2. Latency: the SciFact test queries run against an index of the whole corpus; p50/p95 per stage
   (dense, bm25, fuse, fetch, rerank) and in total.

    python benchmarks/ingest_speed.py --docs 1000 --queries 300 [--index .cache/indexes/scifact-minilm]

Writes runs/bench-ingest/results.json and results.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ground.config import load_config, updated  # noqa: E402
from eval.datasets import load_beir  # noqa: E402
from ingest.embedder import load_embedder  # noqa: E402
from ingest.index_dir import open_docstore  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from retrieval.searcher import Searcher  # noqa: E402

STAGES = ("dense", "bm25", "fuse", "fetch", "rerank", "total")


def throughput(config, corpus: Path, docs: int, workdir: Path) -> dict:
    subset = workdir / "corpus.jsonl"
    with open(corpus, encoding="utf-8") as source, open(subset, "w", encoding="utf-8") as target:
        for number, line in enumerate(source):
            if number >= docs:
                break
            target.write(line)
    config = updated(config, {"index_dir": workdir / "index"})
    embedder = load_embedder(config.embedding)
    embedder.embed_passages(["warm up the model"] * 8)

    started = time.perf_counter()
    summary = Ingestor.for_config(config, embedder).run([subset])
    pipeline_s = time.perf_counter() - started

    store = open_docstore(config.index_dir)
    texts = [text for _, text in store.iter_indexed_texts()]
    store.close()
    model = embedder._model  # the SentenceTransformer inside: the bare baseline
    started = time.perf_counter()
    model.encode(texts, batch_size=config.embedding.batch_size, normalize_embeddings=True, show_progress_bar=False)
    plain_s = time.perf_counter() - started
    chunks = summary.chunks_embedded
    return {
        "documents": docs,
        "chunks": chunks,
        "pipeline_s": round(pipeline_s, 2),
        "plain_encode_s": round(plain_s, 2),
        "pipeline_chunks_per_s": round(chunks / pipeline_s, 2),
        "plain_chunks_per_s": round(chunks / plain_s, 2),
        "ratio": round(plain_s / pipeline_s, 3),
    }


def latency(config, index_dir: Path, queries: list[str], rerank: bool) -> dict:
    searcher = Searcher.for_config(updated(config, {"index_dir": index_dir}))
    searcher.search(queries[0], rerank=rerank)  # warm-up: first-call allocations and lazy loads
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    reranked = False
    for query in queries:
        started = time.perf_counter()
        result = searcher.search(query, rerank=rerank)
        samples["total"].append((time.perf_counter() - started) * 1000)
        reranked |= result.reranked
        for stage, ms in result.timings_ms.items():
            samples[stage].append(ms)
    table = {
        stage: {"p50_ms": round(float(np.percentile(v, 50)), 2), "p95_ms": round(float(np.percentile(v, 95)), 2)}
        for stage, v in samples.items() if v
    }
    return {"queries": len(queries), "chunks": searcher.snapshot.vectors.ntotal, "reranked": reranked,
            "reranker": config.retrieval.reranker_model if reranked else None, "stages": table}


def markdown(results: dict) -> str:
    t = results["throughput"]
    lines = [
        "# Ingestion benchmark", "",
        f"Command: `{results['command']}`", "",
        "| what | chunks | seconds | chunks/s |", "|---|---|---|---|",
        f"| deeprag ingest (read, chunk, embed, store, FAISS, BM25) | {t['chunks']} | {t['pipeline_s']} | {t['pipeline_chunks_per_s']} |",
        f"| SentenceTransformer.encode on the same chunks | {t['chunks']} | {t['plain_encode_s']} | {t['plain_chunks_per_s']} |",
        "", f"**Ratio (pipeline / plain): {t['ratio']}** (target ≥ 0.85)", "",
    ]
    q = results["latency"]
    lines += [f"Query latency over {q['queries']} SciFact queries, {q['chunks']} chunks"
              + (f", reranker {q['reranker']}" if q["reranked"] else ", no reranker") + ":", "",
              "| stage | p50 ms | p95 ms |", "|---|---|---|"]
    lines += [f"| {stage} | {v['p50_ms']} | {v['p95_ms']} |" for stage, v in q["stages"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1000, help="SciFact documents for the throughput part")
    parser.add_argument("--queries", type=int, default=300, help="SciFact test queries for the latency part")
    parser.add_argument("--index", type=Path, help="an index of the whole SciFact corpus (built if missing)")
    parser.add_argument("--no-rerank", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-ingest"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = load_config()
    scifact = load_beir(config.data_dir, "scifact")

    with tempfile.TemporaryDirectory() as workdir:
        speed = throughput(load_config(), scifact.corpus, args.docs, Path(workdir))
    index_dir = args.index or Path(".cache/indexes/scifact-minilm")
    Ingestor.for_config(load_config(overrides={"index_dir": str(index_dir)})).run([scifact.corpus])  # no-op when built
    queries = [q.text for q in scifact.queries.values()][: args.queries]
    results = {
        "command": "python benchmarks/ingest_speed.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                                                            if v not in (None, False) and k != "out"),
        "cpu_count": os.cpu_count(),
        "throughput": speed,
        "latency": latency(config, index_dir, queries, rerank=not args.no_rerank),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    (args.out / "results.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
