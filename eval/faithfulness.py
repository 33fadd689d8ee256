"""Is an answer supported by its passages? Two checks, and their calibration on labelled answers.

- ``lexical_support`` (generation/grounding.py, the same check the answer pipeline runs on every cited
  sentence): deterministic, no LLM. The share of the answer's content terms (stemmed, stop words and citation
  markers removed, CJK as bigrams) that occur in the passages.
- ``LLMJudge``: the served LLM splits the answer into claims and marks each supported or not by the
  passages; the score is supported / claims. Output that does not parse is retried, then recorded as
  unparsed (never dropped, never a crash), so the report can say how often the judge failed.

``calibrate`` measures both against ARES's NQ answers labelled faithful/unfaithful (accuracy and AUROC).
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

from eval.datasets import resolve
from generation.grounding import lexical_support
from ground.config import Config
from ground.files import write_json_atomically

log = logging.getLogger(__name__)


# -- LLM judge ---------------------------------------------------------------------------------------------

class Completer(Protocol):
    """What the judge needs from an LLM client (app.llm.LLMClient has it)."""

    def complete(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> tuple[str, object]: ...


JUDGE_SYSTEM = (
    "You check whether an answer is supported by passages. Split the answer into short factual claims. "
    "For each claim decide if the passages state it (supported: true) or not (supported: false). "
    'Reply with JSON only, exactly in this form: {"claims": [{"claim": "...", "supported": true}]}'
)


@dataclass
class Judgement:
    score: float | None  # supported / claims; None when unparsed or the answer makes no claim
    claims: list[dict] = field(default_factory=list)
    unparsed: bool = False
    attempts: int = 0
    raw: str = ""  # the last judge reply, kept for inspection

    def as_dict(self) -> dict:
        return {"score": self.score, "claims": self.claims, "unparsed": self.unparsed,
                "attempts": self.attempts, "raw": self.raw[:2000]}


class LLMJudge:
    def __init__(self, client: Completer, retries: int = 2, max_tokens: int = 384):
        self.client = client
        self.retries = retries
        self.max_tokens = max_tokens

    def judge(self, question: str, answer: str, passages: Sequence[str]) -> Judgement:
        numbered = "\n\n".join(f"[{n}] {p}" for n, p in enumerate(passages, 1)) or "(no passages)"
        messages = [
            {"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": f"Passages:\n{numbered}\n\nQuestion: {question}\nAnswer: {answer}"},
        ]
        raw = ""
        for attempt in range(1, self.retries + 2):
            raw, _ = self.client.complete(messages, max_tokens=self.max_tokens)
            claims = parse_claims(raw)
            if claims is not None:
                supported = sum(bool(c["supported"]) for c in claims)
                return Judgement(supported / len(claims) if claims else None, claims, False, attempt, raw)
            log.debug("judge reply did not parse (attempt %d): %r", attempt, raw[:200])
        return Judgement(None, [], True, self.retries + 1, raw)


def parse_claims(raw: str) -> list[dict] | None:
    """The claims list from a judge reply, or None when it does not hold one. Accepts the JSON object
    alone, inside a ```json fence, or with prose around it."""
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(raw[start:end + 1])
    except json.JSONDecodeError:
        return None
    claims = data.get("claims") if isinstance(data, dict) else None
    if not isinstance(claims, list):
        return None
    cleaned = []
    for claim in claims:
        if not isinstance(claim, dict) or not isinstance(claim.get("supported"), bool):
            return None
        cleaned.append({"claim": str(claim.get("claim", "")), "supported": claim["supported"]})
    return cleaned


# -- calibration on ARES NQ ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LabelledAnswer:
    question: str
    passage: str
    answer: str
    faithful: bool


def load_ares_nq(data_dir: Path | None) -> list[LabelledAnswer]:
    """The 2,000 ARES NQ rows that carry an answer-faithfulness label."""
    path = resolve(data_dir, "ares-nq/nq_synthetic_queries.tsv")
    csv.field_size_limit(1 << 30)
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        LabelledAnswer(r["synthetic_query"], r["document"], r["generated_answer"], r["Answer_Faithfulness_Label"] == "Yes")
        for r in rows if r["Answer_Faithfulness_Label"] in ("Yes", "No")
    ]


@dataclass
class Agreement:
    method: str
    answers: int
    scored: int  # answers the method gave a score to
    threshold: float
    accuracy: float  # on the held-out half, threshold chosen on the other half
    auroc: float  # over all scored answers
    unparsed: int = 0


def agreement(method: str, scores: Sequence[float | None], labels: Sequence[bool], unparsed: int = 0) -> Agreement:
    """Accuracy and AUROC of ``scores`` against ``labels``. The accept threshold is chosen on the even rows
    and accuracy is measured on the odd rows, so the accuracy is not fitted to the rows it reports on.
    An answer without a score counts as unfaithful (score 0): an unusable check must not look good."""
    from sklearn.metrics import roc_auc_score

    filled = [0.0 if s is None else float(s) for s in scores]
    fit = [(s, y) for i, (s, y) in enumerate(zip(filled, labels)) if i % 2 == 0]
    held = [(s, y) for i, (s, y) in enumerate(zip(filled, labels)) if i % 2 == 1]
    candidates = sorted(set(s for s, _ in fit)) or [0.5]
    threshold = max(candidates, key=lambda t: sum((s >= t) == y for s, y in fit))
    accuracy = sum((s >= threshold) == y for s, y in held) / len(held) if held else 0.0
    auroc = roc_auc_score(labels, filled) if len(set(labels)) == 2 else float("nan")
    return Agreement(method, len(labels), sum(s is not None for s in scores), threshold, accuracy, auroc, unparsed)


def calibrate(config: Config, run_dir: Path, judge: bool = False, limit: int | None = None) -> str:
    """Score ARES NQ with each check; write agreement.json and return a Markdown table."""
    rows = load_ares_nq(config.data_dir)[:limit]
    labels = [r.faithful for r in rows]
    results = [agreement("lexical support (deterministic)", [lexical_support(r.answer, [r.passage]) for r in rows], labels)]
    if judge:
        from eval.runner import RunDir, run_items
        from generation.llm import LLMClient

        llm_judge = LLMJudge(LLMClient(config.llm))
        model = llm_judge.client.model.name
        # One record per answer, appended as it is judged: an interrupted calibration resumes where it stopped.
        run = RunDir(run_dir / "judge")
        run.start({"kind": "faithfulness-judge", "dataset": "ares-nq", "judge_model": model, "limit": limit})

        def judge_one(item: tuple[int, LabelledAnswer]) -> dict:
            index, row = item
            return {"id": str(index), "label": row.faithful, **llm_judge.judge(row.question, row.answer, [row.passage]).as_dict()}

        def running(records: list[dict]) -> str:
            agree = [(r["score"] >= 0.5) == r["label"] for r in records if r["score"] is not None]
            unparsed = sum(r["unparsed"] for r in records)
            return f"agreement@0.5 {sum(agree) / max(len(agree), 1):.2f}, unparsed {unparsed}"

        verdicts = run_items(run, list(enumerate(rows)), key=lambda item: str(item[0]), work=judge_one,
                             workers=config.eval.workers, running=running, desc="ares-nq LLM judge")
        results.append(agreement(f"LLM judge ({model})", [v["score"] for v in verdicts], labels,
                                 unparsed=sum(v["unparsed"] for v in verdicts)))
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(run_dir / "agreement.json", [vars(a) for a in results])
    table = ["| method | answers | scored | unparsed | threshold | accuracy (held-out half) | AUROC |",
             "|---|---|---|---|---|---|---|"]
    for a in results:
        table.append(f"| {a.method} | {a.answers} | {a.scored} | {a.unparsed} | {a.threshold:.3f} | "
                     f"{a.accuracy:.3f} | {a.auroc:.3f} |")
    positives = sum(labels)
    table.append(f"\n{len(labels)} ARES NQ answers, {positives} labelled faithful; always answering 'faithful' "
                 f"scores accuracy {positives / len(labels):.3f}, AUROC 0.5.")
    (run_dir / "report.md").write_text("# Faithfulness calibration on ARES NQ\n\n" + "\n".join(table) + "\n",
                                       encoding="utf-8")
    return "\n".join(table)
