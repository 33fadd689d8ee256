"""What each prompt budget keeps of the answer, and what it costs in prompt tokens, without asking the LLM.

On a CPU server the time to the first token grows with the prompt (prefill dominates), so a smaller prompt is a
faster answer; it is only as good as the answer it still carries. For each setting (passages sent × whole chunk
or sentence window × order) this prints, over nq-oracle's **dev** questions (its first ``--limit``; reported QA
runs start after them), the share of questions whose sent passages still contain a gold answer (an upper bound on
the reader's accuracy, DPR's "top-k accuracy" on what was actually sent) and the prompt's size in the server's
own tokens. Retrieval runs once per question (hybrid + rerank, the defaults); the settings only change what is
sent, exactly as the answer pipeline assembles it.

    python benchmarks/prompt_budget.py [--index .cache/indexes/nq-oracle-minilm] [--limit 300]

Needs the LLM server only for /tokenize and the context length (`deeprag serve`). Writes runs/prompt-budget.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tqdm import tqdm  # noqa: E402

from eval.datasets import load_questions  # noqa: E402
from ground.intervals import mean_interval, paired_difference  # noqa: E402
from eval.metrics import has_answer  # noqa: E402
from generation.answer import AnswerPipeline  # noqa: E402
from generation.llm import LLMClient  # noqa: E402
from generation.prompt import build_messages  # noqa: E402
from ground.config import load_config, updated  # noqa: E402
from retrieval.searcher import Searcher  # noqa: E402

SETTINGS = [(5, "chunk"), (3, "chunk"), (5, "window"), (3, "window"), (2, "window")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=REPO / ".cache" / "indexes" / "nq-oracle-minilm")
    parser.add_argument("--limit", type=int, default=300, help="nq-oracle dev questions (the first N)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "prompt-budget.md")
    args = parser.parse_args()
    config = updated(load_config(), {"index_dir": args.index.resolve(), "retrieval.k": max(k for k, _ in SETTINGS)})
    searcher, llm = Searcher.for_config(config), LLMClient(config.llm)
    pipelines = {(k, text): AnswerPipeline(searcher, llm, config.retrieval,
                                           updated(config.prompt, {"style": "short", "passage_text": text}))
                 for k, text in SETTINGS}
    kept: dict[tuple, list[float]] = {s: [] for s in SETTINGS}
    tokens: dict[tuple, list[int]] = {s: [] for s in SETTINGS}
    for question in tqdm(load_questions(config.data_dir, "nq-oracle")[: args.limit], desc="questions"):
        hits = searcher.search(question.text, config.retrieval).hits
        for (k, text), pipeline in pipelines.items():
            passages = pipeline.fit_passages(question.text, hits[:k])
            kept[(k, text)].append(float(any(has_answer(f"{p.title}\n{p.text}", question.answers) for p in passages)))
            messages = build_messages(question.text, passages, "short")
            tokens[(k, text)].append(llm.count_prompt_tokens(messages) or 0)

    base = SETTINGS[0]
    lines = [f"# Prompt budgets on nq-oracle dev (first {args.limit} questions, hybrid + rerank)", "",
             "| passages | text | answer in sent passages | Δ vs 5 chunks (paired) | prompt tokens mean | p95 |",
             "|---|---|---|---|---|---|"]
    for setting in SETTINGS:
        share = mean_interval(kept[setting])
        diff = paired_difference(kept[setting], kept[base])
        ordered = sorted(tokens[setting])
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        lines.append(f"| {setting[0]} | {setting[1]} | {share} | {diff.mean:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}] "
                     f"| {sum(ordered) / len(ordered):.0f} | {p95} |")
    table = "\n".join(lines)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
