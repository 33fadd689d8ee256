"""Which precision a CPU reranker runs fastest in, measured once per machine and model, not read off a CPU flag.

bf16 halves the bytes moved but is only faster where the CPU and torch's kernels compute it natively, and a flag
in /proc/cpuinfo does not say how much faster, or whether at all (on one 2-core machine the shipped reranker took
1.19 s for 20 pairs in bf16 and 0.83 s in fp32). So ``retrieval.reranker_precision = "auto"`` on a CPU loads the
model in both precisions the first time, times each on the same fixed batch (20 query-passage pairs of about 200
tokens; one warm-up call, then the median of 3), keeps the faster and caches the choice in
``user_data_dir()/reranker-precision.json``. The cache is keyed by the model (its name and a hash of its
config.json: what decides its shape and so its speed), torch's version and the CPU (its model name and a hash of
its feature flags, because virtual machines often report only "AMD EPYC"), so each machine measures each model
once. A cache file that cannot be read is warned about, ignored and rewritten. Either precision ranks alike
(bf16's SciFact nDCG@10 was within 0.0005 of fp16's on a GPU), so the choice is about speed only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import random
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from ground.config import user_data_dir
from ground.files import write_json_atomically

log = logging.getLogger(__name__)

CACHE_NAME = "reranker-precision.json"
CACHE_VERSION = 1
MAX_ENTRIES = 32  # oldest dropped first: a cache of models tried over the years stays small
CANDIDATES = ("float32", "bfloat16")  # fp16 has no fast CPU kernels
PAIRS = 20  # retrieval.rerank_candidates' default: what one query reranks
REPEATS = 3

Model = TypeVar("Model")

_WORDS = (
    "the retrieval system stores documents as chunks of text and embeds each chunk into a vector so that a query "
    "can find passages with similar meaning while keyword search with BM25 finds rare terms such as error codes "
    "part numbers and names the reranker reads the query and each candidate passage together and scores how well "
    "the passage answers the question before the language model writes an answer that cites its sources server "
    "memory cache latency throughput tokens attention layers experts routing quantization precision float "
    "compression index incremental update deleted files manifest checksum configuration environment variable"
).split()


def probe_pairs(count: int = PAIRS) -> list[tuple[str, str]]:
    """A fixed batch of (query, passage) pairs of realistic length: a 12-word query, passages of about 200
    tokens (140–160 common words). The same on every machine and run, so timings compare."""
    rng = random.Random(17)
    query = " ".join(rng.choices(_WORDS, k=12)) + "?"
    return [(query, " ".join(rng.choices(_WORDS, k=rng.randint(140, 160))) + ".") for _ in range(count)]


def time_scoring(model: Any, pairs: Sequence[tuple[str, str]], repeats: int = REPEATS) -> float:
    """Seconds to score ``pairs`` in one batch: one warm-up call, then the median of ``repeats`` calls."""
    model.predict(list(pairs), batch_size=len(pairs), show_progress_bar=False)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict(list(pairs), batch_size=len(pairs), show_progress_bar=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cache_path() -> Path:
    return user_data_dir() / CACHE_NAME


def cpu_identity() -> str:
    """The CPU's model name and a short hash of its feature flags (Linux), else what ``platform`` knows."""
    name = flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and not name:
                name = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = value.strip()
            if name and flags:
                break
    except OSError:  # not Linux
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    return f"{name} (flags {hashlib.sha256(flags.encode()).hexdigest()[:8]})" if flags else name


def model_identity(model_path: str) -> str:
    """The model's name (a folder's own name, so a copy elsewhere is the same model) and a hash of its
    config.json; ``?`` where the config cannot be found yet (a hub model not downloaded)."""
    folder = Path(model_path)
    name = folder.name if folder.is_dir() else model_path
    config = _config_file(model_path)
    digest = hashlib.sha256(config.read_bytes()).hexdigest()[:16] if config else "?"
    return f"{name}@{digest}"


def _config_file(model_path: str) -> Path | None:
    local = Path(model_path) / "config.json"
    if local.is_file():
        return local
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model_path, "config.json")
    except Exception:  # not a valid repository name, no cache: no fingerprint
        return None
    return Path(found) if isinstance(found, str) else None


def cache_key(model_path: str) -> str:
    import torch

    return f"{model_identity(model_path)} | torch {torch.__version__} | {cpu_identity()}"


def load_fastest(model_path: str, load: Callable[[Any], Model]) -> Model:
    """The model at ``model_path`` loaded by ``load(torch_dtype)`` in whichever of fp32 and bf16 scores
    faster on this machine: the cached choice, or measured now (both loaded and timed) and cached."""
    import torch

    key = cache_key(model_path)
    entries = _read_cache()
    if key in entries:
        dtype = entries[key]["dtype"]
        log.debug("reranker precision from %s: %s", cache_path(), dtype)
        return load(getattr(torch, dtype))
    pairs = probe_pairs()
    seconds: dict[str, float] = {}
    best: tuple[str, Model] | None = None
    for name in CANDIDATES:
        model = load(getattr(torch, name))
        seconds[name] = time_scoring(model, pairs)
        if best is None or seconds[name] < seconds[best[0]]:
            best = (name, model)  # the slower one is dropped here, not kept in memory
        del model
    assert best is not None
    chosen, model = best
    key = cache_key(model_path)  # a hub model's config is in the local cache now that it has been loaded
    entries.pop(key, None)
    entries[key] = {
        "dtype": chosen,
        "seconds": {name: round(s, 4) for name, s in seconds.items()},
        "pairs": len(pairs),
        "threads": torch.get_num_threads(),
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_cache(dict(list(entries.items())[-MAX_ENTRIES:]))
    log.info(
        "reranker precision for %s on this CPU: %s (measured once, %d pairs, median of %d: %s); cached in %s",
        Path(model_path).name or model_path, chosen, len(pairs), REPEATS,
        ", ".join(f"{name} {s:.2f} s" for name, s in seconds.items()), cache_path(),
    )
    return model


def _read_cache() -> dict[str, dict]:
    """The cached choices; empty when there is no file, and (with a warning) when it is not one of ours."""
    path = cache_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("ignoring the unreadable reranker precision cache %s (%s); it will be rewritten", path, exc)
        return {}
    entries = data.get("choices") if isinstance(data, dict) and data.get("version") == CACHE_VERSION else None
    if not isinstance(entries, dict) or not all(
        isinstance(entry, dict) and entry.get("dtype") in CANDIDATES for entry in entries.values()
    ):
        log.warning("ignoring the malformed reranker precision cache %s; it will be rewritten", path)
        return {}
    return entries


def _write_cache(entries: dict[str, dict]) -> None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(path, {"version": CACHE_VERSION, "choices": entries})
    except OSError as exc:  # a read-only home: the choice still holds for this process
        log.warning("could not save the reranker precision choice to %s (%s); it will be measured again", path, exc)
