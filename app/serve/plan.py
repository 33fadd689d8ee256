"""`deeprag serve --plan`: will a model fit on these GPUs, and how many RAG requests will its KV cache hold?

Everything is computed from the model's config.json (parameter counts per component, dtypes from its
`quantization_config`) and the parallel layout of the preset that would serve it. The estimate mirrors how
vLLM places memory: weights sharded by tensor / expert / pipeline parallelism, a fixed runtime reserve
(activations, CUDA graphs, communication buffers), and the rest of `gpu-memory-utilization` for KV cache.
With MLA, every tensor-parallel rank stores the whole compressed latent of each token (it has no heads to
split), so MLA capacity does not grow with TP; data-parallel ranks each hold their own requests' KV.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from app.serve.presets import PRESETS, Preset
from ground.errors import DeepragError

GiB = 1 << 30
DEEPSEEK_V3_CONFIG = Path(__file__).with_name("deepseek_v3_config.json")
# Memory per GPU that CUDA exposes (torch.cuda.mem_get_info()[1], which vLLM's gpu-memory-utilization is a
# fraction of). Measured for H100 80GB HBM3 and H200 (nvidia-smi says 81,559 / 143,771 MiB; CUDA keeps a little);
# A100 80 GB from its spec.
GPU_MEMORY_MIB = {"H100": 81_079, "H200": 143_155, "A100": 81_920}
# Activation peak, CUDA graphs, NCCL/all-to-all buffers: a few GiB per GPU on top of weights (vLLM profiles the
# real figure at start-up; this is the planner's assumption).
RUNTIME_RESERVE_GIB = 6.0
GPU_MEMORY_UTILIZATION = 0.90
BF16, FP8 = 2, 1
# The figure vLLM published for DeepSeek-V3 on 8xH200 after MLA support (vLLM v0.7.1; Neural Magic / Red Hat,
# "Enhancing DeepSeek models with MLA and FP8 optimizations in vLLM", 2025-02-04): 54,560 -> 512,000 tokens.
VLLM_PUBLISHED_8XH200_TOKENS = 512_000
VLLM_PUBLISHED_8XH200_TOKENS_BEFORE_MLA = 54_560


class PlanError(DeepragError):
    """The planner cannot read the request (GPU spec, config file)."""


@dataclass(frozen=True)
class Layout:
    tp: int = 1
    pp: int = 1
    dp: int = 1
    ep: bool = False

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp

    def describe(self) -> str:
        parts = [f"TP{self.tp}" if self.tp > 1 else "", f"PP{self.pp}" if self.pp > 1 else "",
                 f"DP{self.dp}" if self.dp > 1 else "", "EP" if self.ep else ""]
        return " + ".join(p for p in parts if p) or "single GPU"


@dataclass(frozen=True)
class Params:
    """Parameter counts by how they are placed on GPUs."""

    embed: int  # input embedding + LM head (vocab-parallel under TP, first/last pipeline stage)
    attn_sharded: int  # per layer, split by TP (q_b, kv_b, o projections)
    attn_replicated: int  # per layer, kept whole on every TP rank (MLA's down-projections q_a, kv_a)
    dense_mlp: int  # per dense layer
    expert: int  # one expert (routed or shared)
    router: int  # per MoE layer
    dense_layers: int
    moe_layers: int
    routed_experts: int
    shared_experts: int
    active_experts: int
    mtp_layers: int
    hidden: int

    def layer_total(self, moe: bool) -> int:
        mlp = (self.routed_experts + self.shared_experts) * self.expert + self.router if moe else self.dense_mlp
        return self.attn_sharded + self.attn_replicated + mlp

    @property
    def total(self) -> int:
        return self.embed + self.dense_layers * self.layer_total(False) + self.moe_layers * self.layer_total(True)

    @property
    def mtp(self) -> int:
        """DeepSeek's multi-token-prediction module: one more MoE layer plus a 2h->h projection."""
        return self.mtp_layers * (self.layer_total(True) + 2 * self.hidden * self.hidden)

    @property
    def active(self) -> int:
        per_moe = self.attn_sharded + self.attn_replicated + (self.active_experts + self.shared_experts) * self.expert
        per_dense = self.attn_sharded + self.attn_replicated + self.dense_mlp
        return self.embed // 2 + self.dense_layers * per_dense + self.moe_layers * per_moe


def count_params(cfg: dict) -> Params:
    h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    layers = cfg["num_hidden_layers"]
    if "kv_lora_rank" in cfg:  # MLA (DeepSeek-V2/V3)
        qk = cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]
        q_lora = cfg.get("q_lora_rank")
        q_down = h * q_lora if q_lora else 0
        q_up = (q_lora or h) * heads * qk
        kv_down = h * (cfg["kv_lora_rank"] + cfg["qk_rope_head_dim"])
        kv_up = cfg["kv_lora_rank"] * heads * (cfg["qk_nope_head_dim"] + cfg["v_head_dim"])
        out = heads * cfg["v_head_dim"] * h
        attn_sharded, attn_replicated = q_up + kv_up + out, q_down + kv_down
    else:  # GQA / MHA
        head_dim = cfg.get("head_dim") or h // heads
        kv_heads = cfg.get("num_key_value_heads", heads)
        attn_sharded, attn_replicated = h * head_dim * (2 * heads + 2 * kv_heads), 0
    routed = cfg.get("n_routed_experts") or cfg.get("num_experts") or 0
    dense_layers = min(cfg.get("first_k_dense_replace", 0), layers) if routed else layers
    embed = cfg["vocab_size"] * h * (1 if cfg.get("tie_word_embeddings") else 2)
    return Params(
        embed=embed,
        attn_sharded=attn_sharded,
        attn_replicated=attn_replicated,
        dense_mlp=3 * h * cfg["intermediate_size"],
        expert=3 * h * cfg.get("moe_intermediate_size", 0),
        router=routed * h,
        dense_layers=dense_layers,
        moe_layers=layers - dense_layers,
        routed_experts=routed,
        shared_experts=cfg.get("n_shared_experts", 0) or 0,
        active_experts=cfg.get("num_experts_per_tok", 0) if routed else 0,
        mtp_layers=cfg.get("num_nextn_predict_layers", 0) or 0,
        hidden=h,
    )


def weight_bytes_per_param(cfg: dict) -> float:
    """Bytes per parameter of the quantized linear layers as shipped (fp8 with block scales, else bf16)."""
    quant = cfg.get("quantization_config") or {}
    if quant.get("quant_method") == "fp8":
        block = quant.get("weight_block_size") or [128, 128]
        return FP8 + 4 / (block[0] * block[1])  # one fp32 scale per block
    return BF16


@dataclass(frozen=True)
class KVSizes:
    """KV cache bytes per token for the whole model (all layers), bf16 cache."""

    mla: int | None  # None for models without MLA
    gqa: int
    mha: int
    gqa_heads: int
    mha_heads: int

    @staticmethod
    def of(cfg: dict, dtype_bytes: int = BF16) -> "KVSizes":
        layers, heads = cfg["num_hidden_layers"], cfg["num_attention_heads"]
        if "kv_lora_rank" in cfg:
            k_dim, v_dim = cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"], cfg["v_head_dim"]
            mla = (cfg["kv_lora_rank"] + cfg["qk_rope_head_dim"]) * layers * dtype_bytes
            gqa_heads = 8  # what a GQA design of this size would typically use (Llama-3-70B/405B: 8)
        else:
            k_dim = v_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
            mla, gqa_heads = None, cfg.get("num_key_value_heads", heads)
        per_head = (k_dim + v_dim) * layers * dtype_bytes
        return KVSizes(mla, per_head * gqa_heads, per_head * heads, gqa_heads, heads)


@dataclass
class Plan:
    model: str
    gpu_name: str
    gpu_count: int
    gpu_bytes: int
    layout: Layout
    preset: Preset | None
    params: Params
    with_mtp: bool
    weights_total: float
    weights_per_gpu: float
    kv_per_gpu: float
    kv: KVSizes
    layers_per_gpu: int
    context: int

    def tokens(self, bytes_per_token_model: int, kv_heads: int) -> int:
        """Tokens the system holds: per-GPU KV room / bytes per token on that GPU, times DP ranks.
        ``kv_heads`` = 1 for MLA's single latent, which every TP rank therefore stores whole."""
        per_layer = bytes_per_token_model / self.params_layers
        on_gpu = per_layer * self.layers_per_gpu / min(self.layout.tp, kv_heads)
        return int(max(self.kv_per_gpu, 0) // on_gpu) * self.layout.dp

    @property
    def params_layers(self) -> int:
        return self.params.dense_layers + self.params.moe_layers


def parse_gpus(spec: str) -> tuple[int, str]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*([A-Za-z0-9]+)\s*", spec)
    if not match or match.group(2).upper() not in GPU_MEMORY_MIB:
        raise PlanError(f"--gpus '{spec}' is not COUNTxMODEL with MODEL in {', '.join(GPU_MEMORY_MIB)}; e.g. 8xH200")
    return int(match.group(1)), match.group(2).upper()


def layout_of(preset: Preset) -> Layout:
    """Read the parallel layout back out of a preset's vLLM flags, so plan and command never disagree."""
    args = list(preset.args)

    def value(flag: str) -> int:
        return int(args[args.index(flag) + 1]) if flag in args else 1

    return Layout(value("--tensor-parallel-size"), value("--pipeline-parallel-size"),
                  value("--data-parallel-size"), "--enable-expert-parallel" in args)


def choose_preset(gpu_count: int, gpu_mib: int) -> Preset | None:
    """The DeepSeek-V3 preset for this many GPUs: one 8-GPU node of >=141 GB, or two nodes of 8x80 GB."""
    if gpu_count == 8 and gpu_mib >= GPU_MEMORY_MIB["H200"]:
        return PRESETS["deepseek-v3"]
    if gpu_count == 16:
        return PRESETS["deepseek-v3-2node"]
    return None


def load_model_config(path: Path | None) -> tuple[str, dict]:
    target = path or DEEPSEEK_V3_CONFIG
    if target.is_dir():
        target = target / "config.json"
    try:
        cfg = json.loads(target.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(f"cannot read model config {target}: {exc}; pass --model-config PATH/config.json") from None
    return cfg.get("_name_or_path") or target.parent.name, cfg


def make_plan(gpus: str, context: int = 8192, config_path: Path | None = None, preset: Preset | None = None) -> Plan:
    count, gpu = parse_gpus(gpus)
    model, cfg = load_model_config(config_path)
    preset = preset or choose_preset(count, GPU_MEMORY_MIB[gpu])
    layout = layout_of(preset) if preset else Layout(tp=min(count, 8), pp=max(1, count // 8))
    if layout.gpus != count:
        raise PlanError(f"preset {preset.name if preset else ''} uses {layout.gpus} GPUs, not {count}; "
                        "pick a preset for this GPU count with --preset")
    params = count_params(cfg)
    with_mtp = bool(preset and "--speculative-config" in preset.args and params.mtp_layers)
    per_param = weight_bytes_per_param(cfg)
    layers = params.dense_layers + params.moe_layers
    layers_per_gpu = math.ceil(layers / layout.pp)
    # Weights on the busiest GPU: the first pipeline stage (embedding, the dense layers, then MoE layers).
    stage_dense = min(params.dense_layers, layers_per_gpu)
    stage_moe = layers_per_gpu - stage_dense + (params.mtp_layers if with_mtp and layout.pp == 1 else 0)
    attn_tp = layout.tp  # with DP attention, each rank holds whole attention weights (tp is 1 there)
    experts_split = layout.tp * layout.dp if layout.ep else layout.tp
    per_moe_layer = (
        params.attn_sharded / attn_tp + params.attn_replicated
        + params.routed_experts * params.expert / experts_split
        + params.shared_experts * params.expert / attn_tp + params.router
    )
    per_dense_layer = params.attn_sharded / attn_tp + params.attn_replicated + params.dense_mlp / attn_tp
    embed_on_stage = params.embed / (2 if layout.pp > 1 else 1)  # first stage: embedding; last: LM head
    weights_per_gpu = (stage_dense * per_dense_layer + stage_moe * per_moe_layer) * per_param \
        + embed_on_stage / attn_tp * BF16
    weights_total = (params.total + (params.mtp if with_mtp else 0) - params.embed) * per_param + params.embed * BF16
    gpu_bytes = GPU_MEMORY_MIB[gpu] * (1 << 20)
    kv_per_gpu = gpu_bytes * GPU_MEMORY_UTILIZATION - weights_per_gpu - RUNTIME_RESERVE_GIB * GiB
    return Plan(model, gpu, count, gpu_bytes, layout, preset, params, with_mtp, weights_total, weights_per_gpu,
                kv_per_gpu, KVSizes.of(cfg), layers_per_gpu, context)


def render(plan: Plan) -> str:
    """The plan as the text `deeprag serve --plan` prints."""
    p, kv = plan.params, plan.kv
    lines = [
        f"model: {plan.model}",
        f"  parameters: {p.total / 1e9:.1f} B ({p.active / 1e9:.1f} B active per token)"
        + (f", + {p.mtp / 1e9:.1f} B MTP module (loaded for speculative decoding)" if plan.with_mtp else ""),
        f"  weights as shipped: {plan.weights_total / 1e9:.0f} GB",
        f"GPUs: {plan.gpu_count} x {plan.gpu_name} ({plan.gpu_bytes / GiB:.1f} GiB each), layout "
        f"{plan.layout.describe()}" + (f" (preset {plan.preset.name})" if plan.preset else ""),
        f"  per GPU: {plan.gpu_bytes * GPU_MEMORY_UTILIZATION / GiB:.1f} GiB usable (gpu-memory-utilization "
        f"{GPU_MEMORY_UTILIZATION}) = weights {plan.weights_per_gpu / GiB:.1f} GiB + runtime reserve "
        f"{RUNTIME_RESERVE_GIB:.0f} GiB + KV cache {plan.kv_per_gpu / GiB:.1f} GiB",
    ]
    if plan.kv_per_gpu <= 0:
        lines.append("  DOES NOT FIT: the weights leave no room for a KV cache; use more or larger GPUs")
        return "\n".join(lines)
    layers = plan.params_layers
    lines.append("KV cache per token (bf16, all layers):")
    rows = []
    if kv.mla is not None:
        rows.append(("MLA (this model)", kv.mla, 1,
                     f"({kv.mla // layers // BF16} latent = kv_lora_rank + qk_rope_head_dim) x {layers} layers x 2 B"))
    what_if = " (same model, if it used it)" if kv.mla is not None else ""
    rows.append((f"GQA, {kv.gqa_heads} KV heads", kv.gqa, kv.gqa_heads, what_if))
    rows.append((f"MHA, {kv.mha_heads} heads", kv.mha, kv.mha_heads, what_if))
    for name, size, kv_heads, how in rows:
        tokens = plan.tokens(size, kv_heads)
        lines.append(
            f"  {name:<20} {size:>10,} B/token {how}\n"
            f"  {'':<20} -> {tokens:>10,} tokens in cache, {tokens // plan.context:,} concurrent "
            f"{plan.context:,}-token RAG requests"
        )
    if kv.mla is not None and plan.layout.tp > 1:
        lines.append(
            f"  note: under TP{plan.layout.tp} each GPU stores MLA's whole latent but only 1/{plan.layout.tp} of "
            "GQA/MHA heads; data-parallel attention (preset deepseek-v3-throughput) removes that replication"
        )
    if kv.mla is not None and plan.layout == Layout(tp=8, ep=True) and plan.gpu_name == "H200":
        mine, mha = plan.tokens(kv.mla, 1), plan.tokens(kv.mha, kv.mha_heads)
        lines.append(
            f"check: vLLM published ~{VLLM_PUBLISHED_8XH200_TOKENS:,} tokens of KV capacity for DeepSeek-V3 on 8xH200 "
            f"with MLA (v0.7.1); this plan: {mine:,} ({(mine / VLLM_PUBLISHED_8XH200_TOKENS - 1) * 100:+.0f}%). "
            f"Before MLA support (full K/V per head) vLLM held {VLLM_PUBLISHED_8XH200_TOKENS_BEFORE_MLA:,}; "
            f"this plan's MHA row: {mha:,} ({(mha / VLLM_PUBLISHED_8XH200_TOKENS_BEFORE_MLA - 1) * 100:+.0f}%)"
        )
    if plan.preset:
        lines.append(f"flags (preset {plan.preset.name}): {' '.join(plan.preset.args)}")
        if plan.preset.notes:
            lines.append(f"  note: {plan.preset.notes}")
    return "\n".join(lines)
