"""Which vLLM CPU settings make cpu-small answer faster on this machine: one table from one run.

For each variant (the preset as `deeprag serve` starts it, plus one environment or flag change) a fresh server
is started on ``--port`` and, after one untimed warm-up, measured on recorded RAG prompts: the exact messages a
finished `deeprag eval qa` run sent (its results.jsonl keeps them), so no retrieval runs here and every variant
gets the same prompts. Each prompt is used once per server (vLLM's prefix cache would otherwise answer a repeat
from memory):
- one request at a time: time to first token, prompt tokens per second of prefill, total seconds;
- ``--concurrency`` levels (on the first variant only, the others would cost as much again): questions per
  minute with that many requests in flight.

    python benchmarks/vllm_cpu_settings.py --prompts runs/test-nq-oracle-hybrid-short/results.jsonl
        [--variants default,iomp,batched-512,no-chunked-prefill] [--count 3] [--concurrency 1,2,4]

Stop `deeprag serve` first: a second float32 cpu-small server does not fit beside it in 24 GiB. Writes
runs/vllm-cpu-settings.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.serve.launcher import VllmServer, server_for_preset  # noqa: E402
from app.serve.presets import resolve  # noqa: E402
from generation.llm import LLMClient, Message, Usage  # noqa: E402
from ground.config import LLMConfig, load_config, updated  # noqa: E402

# Name → (extra environment, extra vLLM flags) on top of the preset.
VARIANTS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "default": ({}, ()),
    # Intel's OpenMP runtime, which vLLM's CPU docs ask to preload (the wheel ships it); GNU OpenMP otherwise.
    "iomp": ({"LD_PRELOAD": "{venv}/lib/libiomp5.so"}, ()),
    "batched-512": ({}, ("--max-num-batched-tokens", "512")),
    "no-chunked-prefill": ({}, ("--no-enable-chunked-prefill",)),
    "one-thread": ({"VLLM_CPU_OMP_THREADS_BIND": "0"}, ()),
}


def recorded_prompts(path: Path) -> list[list[Message]]:
    """The messages each finished question of a `deeprag eval qa` run sent, in run order."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line)["messages"] for line in handle if line.strip()]


def timed(client: LLMClient, messages: list[Message]) -> dict[str, float]:
    """One streamed answer: seconds to the first token and in all, and the token counts."""
    started = time.perf_counter()
    first: float | None = None
    usage = Usage()
    for piece in client.stream(messages):
        if isinstance(piece, Usage):
            usage = piece
        elif first is None:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    return {"ttft_s": first if first is not None else total, "total_s": total,
            "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}


def questions_per_minute(client: LLMClient, prompts: list[list[Message]], concurrency: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda m: timed(client, m), prompts))
    return 60.0 * len(prompts) / (time.perf_counter() - started)


def measure(server: VllmServer, llm: LLMConfig, sequential: list[list[Message]],
            batches: dict[int, list[list[Message]]]) -> dict:
    """Time ``sequential`` one at a time, then each batch with its level of concurrency."""
    client = LLMClient(updated(llm, {"base_url": server.url, "model": ""}))
    timings = [timed(client, messages) for messages in sequential]
    row = {
        "ttft_p50_s": statistics.median(r["ttft_s"] for r in timings),
        "total_p50_s": statistics.median(r["total_s"] for r in timings),
        "prefill_tokens_per_s": sum(r["prompt_tokens"] for r in timings) / sum(r["ttft_s"] for r in timings),
        "prompt_tokens_mean": statistics.fmean(r["prompt_tokens"] for r in timings),
        "requests": timings,
    }
    for level, batch in batches.items():
        row[f"q_per_min_c{level}"] = questions_per_minute(client, batch, level)
    return row


def render(rows: dict[str, dict], levels: list[int], count: int, source: str) -> str:
    head = ["variant", "TTFT p50 (s)", "total p50 (s)", "prefill tok/s", *(f"q/min @{c}" for c in levels)]
    lines = [f"# vLLM CPU settings for cpu-small ({count} recorded prompts of {source} per measurement)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base = rows[next(iter(rows))]["prefill_tokens_per_s"]
    for name, row in rows.items():
        cells = [name, f"{row['ttft_p50_s']:.1f}", f"{row['total_p50_s']:.1f}",
                 f"{row['prefill_tokens_per_s']:.1f} ({row['prefill_tokens_per_s'] / base:.2f}×)",
                 *(f"{row[f'q_per_min_c{c}']:.2f}" if f"q_per_min_c{c}" in row else "–" for c in levels)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=Path, required=True, help="a `deeprag eval qa` run's results.jsonl")
    parser.add_argument("--variants", default="default,iomp,batched-512,no-chunked-prefill")
    parser.add_argument("--count", type=int, default=3, help="prompts per measurement")
    parser.add_argument("--concurrency", default="1,2,4", help="levels measured on the first variant")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "vllm-cpu-settings")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    config = load_config()
    serve = updated(config.serve, {"port": args.port})
    preset = resolve(serve.preset)
    levels = [int(c) for c in args.concurrency.split(",") if c]
    prompts = iter(recorded_prompts(args.prompts))
    names = args.variants.split(",")
    # Every prompt is used once in the whole run, so no measurement meets a prompt another one cached.
    try:
        sequential = {name: [next(prompts) for _ in range(args.count)] for name in names}
        batches = {level: [next(prompts) for _ in range(max(args.count, level))] for level in levels}
    except StopIteration:
        parser.error(f"{args.prompts} has too few prompts for {len(names)} variants and levels {levels}")
    rows: dict[str, dict] = {}
    for number, name in enumerate(names):
        env, flags = VARIANTS[name]
        server = server_for_preset(serve, preset, flags)
        venv = str(Path(server.argv[0]).parent.parent)
        server.env = {**server.env, **{key: value.format(venv=venv) for key, value in env.items()}}
        with server:
            server.wait_healthy(serve.startup_timeout_s)
            rows[name] = measure(server, config.llm, sequential[name], batches if number == 0 else {})
        logging.info("%s: %s", name, {k: v for k, v in rows[name].items() if k != "requests"})
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    table = render(rows, levels, args.count, args.prompts.parent.name)
    args.out.with_suffix(".md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
