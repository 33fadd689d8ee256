"""Time to first token against answer quality, for each prompt budget, in one table from one run.

For every setting (passages sent × whole chunk or sentence window), two measurements side by side:
- latency: the chat (`cited`) style on a fixed set of questions about the sample corpus (data/sample), one
  request at a time after one untimed warm-up, as a user waits for it: time to first token and total, p50/p95;
- quality: `short`-style EM on the nq-oracle **dev** questions (the first ``--em-limit``; the reported test
  questions start after them), through `deeprag eval qa`'s own runner, so finished runs under runs/ are reused.

    python benchmarks/answer_latency.py [--base-url URL] [--settings 5:chunk,3:chunk,5:window,3:window]
        [--em-index .cache/indexes/nq-oracle-minilm] [--em-limit 60]

Needs a running server (`deeprag serve`, cpu-small by default). Writes runs/answer-latency.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from eval.compare import paired_table  # noqa: E402
from eval.qa_run import QAEval, run_qa  # noqa: E402
from eval.runner import percentile  # noqa: E402
from generation.answer import AnswerPipeline  # noqa: E402
from generation.llm import LLMClient  # noqa: E402
from ground.config import Config, load_config, updated  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from retrieval.searcher import Searcher  # noqa: E402

# Questions a user of the sample corpus would ask, English and Chinese (fixed, so runs compare).
QUESTIONS = [
    "How many routed experts does DeepSeek-V3 activate for each token?",
    "How many parameters does DeepSeek-V3 use per token?",
    "How does DeepSeek-V3 balance the load between experts without an auxiliary loss?",
    "What is the shared expert for?",
    "How does multi-head latent attention shrink the KV cache?",
    "How many values per token does MLA cache in each layer?",
    "Why does a smaller KV cache matter for serving?",
    "What does vLLM's automatic prefix caching reuse?",
    "What is PagedAttention?",
    "How do you serve DeepSeek-V3 on eight GPUs with vLLM?",
    "What is retrieval-augmented generation?",
    "Why does a RAG system cite its passages?",
    "What does a reranker do in a RAG pipeline?",
    "What is hybrid retrieval?",
    "What is multi-token prediction used for at inference time?",
    "Which layers of DeepSeek-V3 are dense?",
    "检索增强生成分为哪两步？",
    "DeepSeek-V3 每个词元激活多少参数？",
    "多头潜在注意力如何减少显存占用？",
    "为什么要给答案标注引用？",
    "DeepSeek-V3 有多少个路由专家？",
    "什么是混合检索？",
]


def parse_settings(text: str) -> list[tuple[int, str]]:
    settings = []
    for part in text.split(","):
        passages, passage_text = part.split(":")
        settings.append((int(passages), passage_text))
    return settings


def run_name(passages: int, passage_text: str) -> str:
    """The dev run's name; `deeprag eval qa --name` with the same name resumes it."""
    return f"dev-nq-oracle-short-k{passages}" + ("-window" if passage_text == "window" else "")


def latency(config: Config, sample_index: Path) -> dict:
    """TTFT and total (ms) of cited answers to QUESTIONS, one at a time, after one untimed warm-up."""
    pipeline = AnswerPipeline(Searcher.for_config(updated(config, {"index_dir": sample_index})),
                              LLMClient(config.llm), prompt=updated(config.prompt, {"style": "cited"}))
    pipeline.ask(QUESTIONS[0])
    answers = [pipeline.ask(question) for question in QUESTIONS]
    first = [a.timings_ms.get("first_token", a.timings_ms["total"]) for a in answers]
    total = [a.timings_ms["total"] for a in answers]
    return {
        "questions": len(answers),
        "ttft_p50_ms": round(percentile(first, 50)), "ttft_p95_ms": round(percentile(first, 95)),
        "total_p50_ms": round(percentile(total, 50)), "total_p95_ms": round(percentile(total, 95)),
        "prompt_tokens_mean": round(sum(a.usage.prompt_tokens for a in answers) / len(answers)),
        "cited_share": round(sum(bool(a.citations) for a in answers) / len(answers), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="the LLM server (default: llm.base_url)")
    parser.add_argument("--settings", type=parse_settings, default=parse_settings("5:chunk,3:chunk,5:window,3:window"),
                        help="PASSAGES:chunk|window, comma-separated; the first is the baseline of the EM differences")
    parser.add_argument("--em-index", type=Path, default=REPO / ".cache" / "indexes" / "nq-oracle-minilm",
                        help="an index of nq-oracle's passages (built by `deeprag eval retrieval --dataset nq-oracle`)")
    parser.add_argument("--em-limit", type=int, default=60, help="nq-oracle dev questions scored per setting")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "answer-latency")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The configuration's own settings, as `deeprag eval qa` uses them, so its finished dev runs are reused.
    base = load_config(overrides={"llm.base_url": args.base_url})

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        sample_index = Path(scratch) / "sample-index"
        Ingestor.for_config(updated(base, {"index_dir": sample_index})).run([REPO / "data" / "sample"])
        for passages, passage_text in args.settings:
            config = updated(base, {"retrieval.k": passages, "prompt.passage_text": passage_text})
            timing = latency(config, sample_index)
            name = run_name(passages, passage_text)
            quality = run_qa(config, QAEval("nq-oracle", config.eval.runs_dir / name, limit=args.em_limit,
                                            index_dir=args.em_index))
            rows.append({"passages": passages, "passage_text": passage_text, "run": name, **timing,
                         "em": quality["intervals"]["em"], "f1": quality["f1"]})
            print(f"done: {passages} {passage_text}: TTFT p50 {timing['ttft_p50_ms']} ms, EM {quality['em']:.3f}",
                  file=sys.stderr)

    lines = ["| passages | text | TTFT p50 s | TTFT p95 s | total p50 s | total p95 s | prompt tokens | "
             f"nq-oracle dev EM (n={args.em_limit}) | F1 |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        em = row["em"]
        lines.append(f"| {row['passages']} | {row['passage_text']} | {row['ttft_p50_ms'] / 1000:.1f} | "
                     f"{row['ttft_p95_ms'] / 1000:.1f} | {row['total_p50_ms'] / 1000:.1f} | "
                     f"{row['total_p95_ms'] / 1000:.1f} | {row['prompt_tokens_mean']} | "
                     f"{em['mean']:.3f} [{em['low']:.3f}, {em['high']:.3f}] | {row['f1']:.3f} |")
    table = "\n".join(lines) + "\n\nEM differences against the first setting, paired per question:\n\n" + paired_table(
        [row["run"] for row in rows], base.eval.runs_dir)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text(
        f"# Answer latency and quality ({len(QUESTIONS)} sample-corpus questions per setting)\n\n{table}\n",
        encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
