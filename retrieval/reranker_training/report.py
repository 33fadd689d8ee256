"""Metrics from a scores file: hybrid alone vs. hybrid + reranker over the top 20/50/100, pure and mixed.

nDCG@10 is computed by ranx against the set's test judgements; on sets whose queries carry answers
(nq-oracle) also answer recall@5: a query counts when one of its top 5 passages contains an answer string.
"""

from __future__ import annotations

import gzip
import json
import re
import string
import unicodedata
from pathlib import Path

from retrieval.score_mix import mix

POOLS = (20, 50, 100)
WEIGHTS = (1.0, 0.7, 0.5, 0.3)  # the cross-encoder's share in the score mix; 1.0 = pure reranker order


def load_scores(path: Path) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation (lower case, no punctuation, no articles, single spaces); hand-written
    because it is five lines and the evaluation package of this project has no public helper for it yet."""
    text = unicodedata.normalize("NFD", text).lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def rankings(payload: dict) -> dict[str, dict[str, list[str]]]:
    """Every ordering to compare: {name: {qid: doc ids best first}}."""
    out: dict[str, dict[str, list[str]]] = {"hybrid": {q: e["docs"] for q, e in payload["queries"].items()}}
    for pool in POOLS:
        for weight in WEIGHTS:
            name = f"rerank@{pool}" if weight == 1.0 else f"mix{weight:.1f}@{pool}"
            runs = {}
            for qid, entry in payload["queries"].items():
                docs = entry["docs"][:pool]
                scores = mix(entry["ce"][:pool], entry["fused"][:pool], weight)
                order = sorted(range(len(docs)), key=lambda i: -scores[i])
                runs[qid] = [docs[i] for i in order] + entry["docs"][pool:]
            out[name] = runs
    return out


def ndcg_at_10(qrels: dict, ranking: dict[str, list[str]]) -> float:
    from ranx import Qrels, Run, evaluate

    run = {q: {d: float(len(docs) - i) for i, d in enumerate(docs[:100])} for q, docs in ranking.items()}
    return float(evaluate(Qrels(qrels), Run(run), "ndcg@10"))


def answer_recall_at_5(answers: dict, texts: dict, ranking: dict[str, list[str]]) -> float:
    hits = 0
    for qid, docs in ranking.items():
        wanted = [normalize_answer(a) for a in answers.get(qid, [])]
        top = [normalize_answer(texts[d]) for d in docs[:5]]
        hits += any(a and a in t for a in wanted for t in top)
    return hits / len(ranking)


def table(payload: dict) -> list[dict]:
    rows = []
    for name, ranking in rankings(payload).items():
        row = {"ranking": name, "ndcg@10": round(ndcg_at_10(payload["qrels"], ranking), 4)}
        if payload.get("answers"):
            row["answer_recall@5"] = round(answer_recall_at_5(payload["answers"], payload["texts"], ranking), 4)
        rows.append(row)
    return rows


def markdown(name: str, rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = [f"### {name}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"
