"""How much waiting the follow-up rule saves: which follow-ups are rewritten (one LLM call before retrieval) and
what that call costs.

`generation/followup.py` sends a follow-up to the LLM for a standalone rewrite only when it points back into the
conversation. This prints, in one run:
- standalone questions that the rule would still rewrite (wasted calls): nq-oracle's and CMRC 2018's questions,
  each asked as if it were the second turn of a chat (they are standalone by construction);
- dependent follow-ups that it rewrites (needed calls): FOLLOW_UPS below, a small hand-written set, since no
  conversational set is on this machine;
- with a server (`--base-url`, default the configuration's): the rewrite call's median and p90 seconds over
  ``--llm-samples`` dependent follow-ups, after the conversation's first turn about the sample corpus;
- the time saved per standalone follow-up = (1 − share still rewritten) × median rewrite seconds.

    python benchmarks/followup_rewrite.py [--questions 500] [--llm-samples 8]

Writes runs/followup-rewrite.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from eval.datasets import load_questions  # noqa: E402
from ground.intervals import mean_interval  # noqa: E402
from eval.runner import percentile  # noqa: E402
from generation.answer import MAX_REWRITE_TOKENS  # noqa: E402
from generation.followup import needs_rewrite  # noqa: E402
from generation.llm import LLMClient, LLMError  # noqa: E402
from generation.prompt import build_rewrite_messages  # noqa: E402
from ground.config import load_config, updated  # noqa: E402

# A first turn over data/sample, then follow-ups that only make sense after it (each needs the rewrite).
HISTORY = [
    {"role": "user", "content": "How does DeepSeek-V3 route tokens to experts?"},
    {"role": "assistant", "content": "A router sends each token to 8 of 256 routed experts per MoE layer, plus "
                                     "one shared expert that every token passes through [1]."},
]
FOLLOW_UPS = [
    "Why does it use a shared one?", "How is that balanced?", "And the first three layers?",
    "What about during inference?", "Does it need an auxiliary loss for this?", "How many does each token use?",
    "Can they be spread over GPUs?", "What does the bias do there?", "Why?", "More details please",
    "How does this compare with Mixtral?", "What are those experts good at?", "Is the same true for V2?",
    "And how is it served?", "那共享专家呢？", "它为什么不用辅助损失？", "这个偏置是怎么调整的？", "为什么？",
    "能详细说说吗", "那推理的时候呢？",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=500, help="standalone questions per set")
    parser.add_argument("--llm-samples", type=int, default=8, help="rewrite calls to time (0: no server)")
    parser.add_argument("--base-url", help="the OpenAI-compatible server (default: the configuration's)")
    return parser.parse_args()


def rewrite_seconds(client: LLMClient, follow_ups: list[str]) -> list[float]:
    """Each follow-up's rewrite call, timed as the answer pipeline makes it (blocking, up to its token cap)."""
    seconds = []
    for question in follow_ups:
        started = time.perf_counter()
        client.complete(build_rewrite_messages(HISTORY, question), max_tokens=MAX_REWRITE_TOKENS)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> int:
    args = parse_args()
    config = load_config()
    rows = []
    for name in ("nq-oracle", "cmrc2018-trial"):
        questions = [q.text for q in load_questions(config.data_dir, name)[: args.questions]]
        rewritten = mean_interval([float(needs_rewrite(q)) for q in questions])
        rows.append({"set": f"{name} (standalone)", "n": len(questions), "rewritten": rewritten.as_dict(),
                     "examples": [q for q in questions if needs_rewrite(q)][:5]})
    caught = mean_interval([float(needs_rewrite(q)) for q in FOLLOW_UPS])
    rows.append({"set": "hand-written dependent follow-ups", "n": len(FOLLOW_UPS), "rewritten": caught.as_dict(),
                 "examples": [q for q in FOLLOW_UPS if not needs_rewrite(q)]})
    timing = None
    if args.llm_samples:
        llm = config.llm if not args.base_url else updated(config.llm, {"base_url": args.base_url})
        try:
            seconds = rewrite_seconds(LLMClient(llm), FOLLOW_UPS[: args.llm_samples])
        except LLMError as exc:
            print(f"no rewrite timings: {exc}", file=sys.stderr)
        else:
            timing = {"model": llm.model or "(first served)", "n": len(seconds), "seconds": seconds,
                      "median_s": percentile(seconds, 50), "p90_s": percentile(seconds, 90)}
    report = render(rows, timing, args)
    out = REPO / "runs"
    out.mkdir(exist_ok=True)
    (out / "followup-rewrite.json").write_text(json.dumps({"rows": rows, "rewrite": timing}, indent=2,
                                                          ensure_ascii=False), encoding="utf-8")
    (out / "followup-rewrite.md").write_text(report, encoding="utf-8")
    print(report)
    return 0


def render(rows: list[dict], timing: dict | None, args: argparse.Namespace) -> str:
    lines = ["| follow-ups | n | rewritten (95% interval) |", "|---|---|---|"]
    for row in rows:
        r = row["rewritten"]
        lines.append(f"| {row['set']} | {row['n']} | {r['mean']:.3f} [{r['low']:.3f}, {r['high']:.3f}] |")
    for row in rows:
        label = "not rewritten" if row["set"].startswith("hand") else "rewritten"
        if row["examples"]:
            lines.append(f"\n{row['set']}, {label}, e.g.: " + "; ".join(repr(q) for q in row["examples"]))
    if timing is not None:
        lines.append(f"\nRewrite call ({timing['model']}, {timing['n']} dependent follow-ups, up to "
                     f"{MAX_REWRITE_TOKENS} tokens): median {timing['median_s']:.1f} s, p90 {timing['p90_s']:.1f} s.")
        for row in rows[:-1]:
            kept = 1.0 - row["rewritten"]["mean"]
            lines.append(f"Saved per standalone follow-up like {row['set'].split(' ')[0]}: {kept:.2f} × "
                         f"{timing['median_s']:.1f} s = {kept * timing['median_s']:.1f} s before retrieval starts.")
    lines.append(f"\n`python benchmarks/followup_rewrite.py --questions {args.questions} "
                 f"--llm-samples {args.llm_samples}`")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
