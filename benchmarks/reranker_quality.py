"""Does a cross-encoder improve deeprag's hybrid retrieval? nDCG@10 (and answer recall@5 where the set has
answers) for hybrid alone and hybrid + reranker over the top 20/50/100 chunks, pure and score-mixed.

Candidates come from deeprag's own Searcher over the evaluation index (`deeprag eval retrieval` builds and
caches it), so the numbers are the ones a user gets; the reranker scores each query's top chunks once and every
pool size and mix weight is derived from those scores. Documents are ranked by their best chunk, as in
`deeprag eval retrieval`. Three steps, so that the heavy middle one can run on a GPU:

    python benchmarks/reranker_quality.py candidates --dataset scifact --depth 100 --out runs/rq/scifact.json.gz
    python -m retrieval.reranker_training score --model models/deeprag-reranker-minilm-l6 \
        --candidates runs/rq/scifact.json.gz --out runs/rq/scored
    python benchmarks/reranker_quality.py report runs/rq/scored/scifact.json.gz

(2 CPU cores score about 20 chunks a second; SciFact's 300 × 100 take 25 minutes there, 20 s on an H100.)
`report` prints a Markdown table and writes it, with metrics.json, next to the scored file.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ground.config import load_config, updated  # noqa: E402
from eval.datasets import load_beir  # noqa: E402
from eval.metrics import answer_recall, documents_from_chunks, rank_scores, score_run  # noqa: E402
from eval.retrieval_run import cached_index_dir, ensure_index  # noqa: E402
from ground.files import file_sha256, write_json_atomically  # noqa: E402
from retrieval.reranker_training.scoring import read_candidates, write_candidates  # noqa: E402
from retrieval.score_mix import mix  # noqa: E402

POOLS = (10, 20, 50, 100)
WEIGHTS = (1.0, 0.5, 0.3)  # the cross-encoder's share in the score mix; 1.0 = pure reranker order


def build_candidates(config, dataset, index_dir: Path, depth: int) -> dict:
    """Every query's top ``depth`` hybrid chunks (ids, document ids, fused scores) and, once per chunk, the text
    the reranker reads (queries share chunks: nq-oracle's 265k candidates are 2,600 passages)."""
    from tqdm import tqdm

    from retrieval.searcher import Searcher

    searcher = Searcher.for_config(updated(config, {"index_dir": index_dir, "retrieval.candidates": max(depth, 100)}))
    queries, texts = {}, {}
    for question in tqdm(list(dataset.queries.values()), desc=f"{dataset.name}: hybrid top {depth}"):
        hits = searcher.search(question.text, k=depth, mode="hybrid", rerank=False).hits
        texts.update({str(hit.chunk.chunk_id): hit.chunk.indexed_text() for hit in hits})
        queries[question.id] = {
            "query": question.text,
            "chunks": [str(hit.chunk.chunk_id) for hit in hits],
            "docs": [hit.chunk.doc_id for hit in hits],
            "fused": [hit.score for hit in hits],
            "answers": list(question.answers),
        }
    return {"queries": queries, "texts": texts}


def orderings(queries: dict) -> dict[str, dict[str, list[int]]]:
    """{name: {qid: candidate positions, best first}} for hybrid and each pool × weight."""
    out = {"hybrid": {q: list(range(len(e["docs"]))) for q, e in queries.items()}}
    scored = max(len(e["ce"]) for e in queries.values())  # a file scored with --depth covers the smaller pools
    for pool in (p for p in POOLS if p <= scored):
        for weight in WEIGHTS:
            name = f"rerank top {pool}" if weight == 1.0 else f"mix {weight:.1f} top {pool}"
            runs = {}
            for qid, entry in queries.items():
                head = min(pool, len(entry["ce"]))
                scores = mix(entry["ce"][:head], entry["fused"][:head], weight)
                runs[qid] = sorted(range(head), key=lambda i: -scores[i]) + list(range(head, len(entry["docs"])))
            out[name] = runs
    return out


def table(qrels: dict, queries: dict, texts: dict[str, str]) -> list[dict]:
    rows = []
    for name, runs in orderings(queries).items():
        run = {q: rank_scores(documents_from_chunks(queries[q]["docs"][i] for i in order)) for q, order in runs.items()}
        scores = score_run({q: qrels[q] for q in queries}, run)
        row = {"ranking": name, "ndcg@10": round(scores.means["ndcg@10"], 4), "recall@10": round(scores.means["recall@10"], 4)}
        if any(e["answers"] for e in queries.values()):
            recalls = [
                answer_recall([texts[queries[q]["chunks"][i]] for i in order], queries[q]["answers"], 5)
                for q, order in runs.items()
            ]
            row["answer_recall@5"] = round(sum(recalls) / len(recalls), 4)
        rows.append(row)
    return rows


def markdown(title: str, rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def cmd_candidates(args: argparse.Namespace) -> None:
    config = load_config()
    dataset = load_beir(config.data_dir, args.dataset)
    if args.limit:
        dataset.queries = dict(list(dataset.queries.items())[: args.limit])
    index_dir = args.index or cached_index_dir(config, dataset, file_sha256(dataset.corpus))
    ensure_index(config, dataset.corpus, index_dir)
    payload = build_candidates(config, dataset, index_dir, args.depth)
    payload["meta"] = {"dataset": dataset.name, "index_dir": str(index_dir), "depth": args.depth, "qrels": dataset.qrels}
    write_candidates(args.out, payload)
    print(f"wrote {args.out}: {len(payload['queries'])} queries × top {args.depth} of {len(payload['texts'])} chunks")


def cmd_report(args: argparse.Namespace) -> None:
    payload = read_candidates(args.scored)
    meta = payload["meta"]
    rows = table(meta["qrels"], payload["queries"], payload["texts"])
    title = f"{meta['dataset']}, {len(payload['queries'])} queries, reranker {meta.get('reranker')}"
    text = markdown(title, rows)
    stem = args.scored.name.removesuffix(".json.gz")
    write_json_atomically(args.scored.with_name(f"{stem}.metrics.json"), {"meta": {k: v for k, v in meta.items() if k != "qrels"}, "rows": rows})
    args.scored.with_name(f"{stem}.report.md").write_text(text)
    print(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("candidates", help="hybrid candidates of a BEIR set from deeprag's Searcher")
    p.add_argument("--dataset", default="scifact", help="scifact, nq-oracle or a BEIR directory")
    p.add_argument("--index", type=Path, help="index of the corpus (default: the eval cache)")
    p.add_argument("--depth", type=int, default=max(POOLS))
    p.add_argument("--limit", type=int, help="first N queries only")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(handler=cmd_candidates)
    p = sub.add_parser("report", help="the table from a scored candidates file")
    p.add_argument("scored", type=Path)
    p.set_defaults(handler=cmd_report)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.handler(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
