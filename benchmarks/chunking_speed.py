"""Chunking time against the length of one sentence: linear growth, not quadratic.

One "sentence" (a repeated word, no punctuation, as in a log dump or a PDF without full stops) of each size
goes through ``chunk_document`` with the real offline embedder's token counter and the plan the pipeline
builds. Cutting it into windows used to count the whole rest of the sentence for every window, so 4× the
text took 16× the time; now each window counts only window-sized strings. The table puts each size's time
ratio (to the smallest size) next to its size ratio: linear growth keeps the two close.

    python benchmarks/chunking_speed.py --sizes 64K,256K,1M,5M

``--chunker FILE`` times another version of ingest/chunker.py instead, e.g. an older one for comparison:

    git show <commit>:ingest/chunker.py > /tmp/old_chunker.py
    python benchmarks/chunking_speed.py --sizes 64K,256K --chunker /tmp/old_chunker.py
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ground.config import ChunkingConfig, EmbeddingConfig  # noqa: E402
from ingest import chunker as current_chunker  # noqa: E402
from ingest.embedder import load_embedder  # noqa: E402
from ingest.models import Document, Section  # noqa: E402

UNITS = {"K": 1024, "M": 1024 * 1024}


def parse_size(text: str) -> int:
    """Bytes in "64K", "5M" or "1000" (binary K and M: the sizes of the fault-injection report)."""
    text = text.strip().upper()
    if text[-1:] in UNITS:
        return int(float(text[:-1]) * UNITS[text[-1]])
    return int(text)


def load_chunker(path: Path | None) -> ModuleType:
    """ingest.chunker, or the same module read from another file (registered under its own name, as
    dataclasses need)."""
    if path is None:
        return current_chunker
    spec = importlib.util.spec_from_file_location("chunker_under_test", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def one_sentence(word: str, size: int) -> str:
    """``size`` characters of ``word`` repeated with single spaces: one sentence to the sentence splitter."""
    return ((word + " ") * (size // (len(word) + 1) + 1))[:size]


def measure(chunker: ModuleType, sizes: Sequence[int], word: str, repeat: int) -> list[dict]:
    """Wall and CPU seconds (each the best of ``repeat`` runs), chunks and count calls per size. CPU time is
    there because a shared machine stretches wall time unevenly; the tokenizer runs on one thread."""
    embedder = load_embedder(EmbeddingConfig())
    defaults = ChunkingConfig()
    plan = chunker.ChunkingPlan(min(defaults.max_tokens, embedder.max_tokens), defaults.overlap_tokens)
    embedder.count_tokens([word])  # first-call set-up stays out of the timings
    calls = 0

    def count(texts: Sequence[str]) -> list[int]:
        nonlocal calls
        calls += 1
        return embedder.count_tokens(texts)

    rows = []
    for size in sizes:
        source = f"/bench/one-sentence-{label(size).replace(' ', '')}.txt"
        document = Document(source, source, "", [Section(one_sentence(word, size))])
        wall = cpu = float("inf")
        for _ in range(repeat):
            calls = 0
            started, started_cpu = time.perf_counter(), time.process_time()
            chunks = chunker.chunk_document(document, plan, count)
            wall = min(wall, time.perf_counter() - started)
            cpu = min(cpu, time.process_time() - started_cpu)
        rows.append({"size": size, "seconds": wall, "cpu_seconds": cpu, "chunks": len(chunks), "calls": calls})
    return rows


def label(size: int) -> str:
    """64 KB, 5 MB: the size as it was asked for."""
    for suffix, unit in sorted(UNITS.items(), key=lambda item: -item[1]):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {suffix}B"
    return f"{size} B"


def markdown(rows: list[dict]) -> str:
    """The table, each ratio taken to the smallest size: linear growth keeps time and size ratios close."""
    base = rows[0]
    lines = [
        "| size | seconds | CPU seconds | chunks | count calls | µs per KB | time ratio | CPU ratio | size ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {label(row['size'])} | {row['seconds']:.2f} | {row['cpu_seconds']:.2f} | {row['chunks']} "
            f"| {row['calls']} | {row['seconds'] * 1e6 / (row['size'] / 1024):.0f} "
            f"| {row['seconds'] / base['seconds']:.1f} | {row['cpu_seconds'] / base['cpu_seconds']:.1f} "
            f"| {row['size'] / base['size']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="64K,256K,1M,5M", help="comma-separated sizes, e.g. 64K,256K,1M,5M")
    parser.add_argument("--word", default="word", help="the word the sentence repeats")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the best time counts")
    parser.add_argument("--chunker", type=Path, help="time this chunker.py instead of ingest/chunker.py")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    chunker = load_chunker(args.chunker)
    logging.getLogger(chunker.__name__).setLevel(logging.INFO)  # its progress lines on the largest sizes
    sizes = sorted(parse_size(size) for size in args.sizes.split(","))
    rows = measure(chunker, sizes, args.word, max(1, args.repeat))
    print(f"python benchmarks/chunking_speed.py {' '.join(sys.argv[1:])}  ({os.cpu_count()} CPUs)\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
