"""`deeprag eval abstain`: calibrate the relevance floors below which deeprag declines to answer.

In-scope questions are nq-oracle's, whose gold passage is in the pool; out-of-scope ones are TriviaQA **dev**
questions searched over the same pool, kept only when no passage retrieved contains one of their answers (a
TriviaQA question the pool happens to answer is not out of scope). Each question is searched once with the
default pipeline; its best reranker probability and best dense cosine are recorded. Each floor is fitted on the
even rows of each set (the highest floor that turns away at most ``MAX_FALSE_ABSTAIN`` of the answerable
questions) and its rates are reported on the odd rows, with 95% bootstrap intervals. nq-oracle's questions are taken from the end of the set, so none of them is a
question the QA runs (dev part 0–99, test part from 100 on) ask.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from eval.datasets import load_questions, resolve
from eval.metrics import has_answer
from eval.runner import RunDir, public_settings, run_items
from generation.grounding import relevance
from ground.config import Config, updated
from ground.files import write_json_atomically
from ground.intervals import Interval, mean_interval
from retrieval.searcher import Searcher

# The share of answerable questions a floor may turn away, on the rows it is fitted on.
MAX_FALSE_ABSTAIN = 0.05
TRIVIAQA_DEV = "triviaqa-open/triviaqa.dev.jsonl"


@dataclass(frozen=True)
class Floor:
    score: str  # "rerank" or "dense"
    floor: float
    false_abstain: Interval  # in-scope questions turned away, held-out rows
    false_answer: Interval  # out-of-scope questions answered anyway, held-out rows


def calibrate(config: Config, index_dir: Path, run_dir: Path, limit: int = 300) -> str:
    """Search both question sets (resumable), fit the floors, write floors.json and report.md; return the table."""
    config = updated(config, {"index_dir": index_dir.resolve()})
    searcher = Searcher.for_config(config)
    searcher.require_reranker()  # the rerank floor is fitted on the reranker's scores
    in_scope = load_questions(config.data_dir, "nq-oracle")[-limit:]
    out_of_scope = _triviaqa_dev(config)[:limit]
    run = RunDir(run_dir)
    run.start({"kind": "abstain-calibration", "limit": limit, "config": public_settings(config)})

    def work(item: tuple[str, object]) -> dict:
        scope, question = item
        result = searcher.search(question.text)
        reranked = relevance(result.hits)
        return {"id": f"{scope}:{question.id}", "scope": scope, "question": question.text,
                "rerank": reranked[1] if reranked and reranked[0] == "rerank" else None,
                "dense": max((h.dense_score for h in result.hits if h.dense_score is not None), default=None),
                "answer_in_passages": any(has_answer(h.chunk.text, question.answers) for h in result.hits)}

    items = [("in", q) for q in in_scope] + [("out", q) for q in out_of_scope]
    records = run_items(run, items, key=lambda item: f"{item[0]}:{item[1].id}", work=work, desc="abstain calibration")
    floors = [fit_floor(records, score) for score in ("rerank", "dense")]
    write_json_atomically(run_dir / "floors.json", [_as_dict(f) for f in floors])
    table = _table(records, floors)
    (run_dir / "report.md").write_text("# Abstention floors\n\n" + table + "\n", encoding="utf-8")
    return table


def fit_floor(records: Sequence[dict], score: str) -> Floor:
    """Fit on even rows, report on odd rows (rows in each scope's own order)."""
    answerable = [r[score] for r in records if r["scope"] == "in" and r[score] is not None]
    unanswerable = [r[score] for r in records
                    if r["scope"] == "out" and not r["answer_in_passages"] and r[score] is not None]
    fit_in, held_in = answerable[0::2], answerable[1::2]
    fit_out, held_out = unanswerable[0::2], unanswerable[1::2]
    floor = choose_floor(fit_in, fit_out)
    return Floor(score, floor, mean_interval([float(s < floor) for s in held_in]),
                 mean_interval([float(s >= floor) for s in held_out]))


def choose_floor(answerable: Sequence[float], unanswerable: Sequence[float]) -> float:
    """The floor that answers the fewest unanswerable questions while turning away at most MAX_FALSE_ABSTAIN
    of the answerable ones: the highest candidate whose false-abstain rate stays within the cap."""
    allowed = int(MAX_FALSE_ABSTAIN * len(answerable))
    ordered = sorted(answerable)
    return ordered[allowed] if ordered else 0.0


def _triviaqa_dev(config: Config):
    from eval.datasets import Question

    path = resolve(config.data_dir, TRIVIAQA_DEV)
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [Question(str(r["id"]), r["question"], tuple(r["answers"])) for r in rows]


def _as_dict(floor: Floor) -> dict:
    return {"score": floor.score, "floor": round(floor.floor, 4), "false_abstain": floor.false_abstain.as_dict(),
            "false_answer": floor.false_answer.as_dict()}


def _table(records: Sequence[dict], floors: Sequence[Floor]) -> str:
    inside = sum(r["scope"] == "in" for r in records)
    outside = sum(r["scope"] == "out" and not r["answer_in_passages"] for r in records)
    dropped = sum(r["scope"] == "out" and r["answer_in_passages"] for r in records)
    lines = ["| score | floor | false abstain (held-out in-scope) | false answer (held-out out-of-scope) |",
             "|---|---|---|---|"]
    for f in floors:
        lines.append(f"| {f.score} | {f.floor:.3f} | {f.false_abstain} | {f.false_answer} |")
    lines.append(f"\n{inside} nq-oracle questions (in scope), {outside} TriviaQA dev questions out of scope "
                 f"({dropped} more were dropped: a retrieved passage held their answer). Floors fitted on even "
                 f"rows with at most {MAX_FALSE_ABSTAIN:.0%} false abstentions there; rates on odd rows.")
    return "\n".join(lines)
