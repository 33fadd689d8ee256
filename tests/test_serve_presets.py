"""The exact vLLM command lines of the presets, checked by vLLM's own parser, and the memory planner's numbers
for DeepSeek-V3."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from app.cli import main
from app.serve import plan, presets
from app.serve.plan import PlanError, make_plan
from app.serve.venv import INSTALL_SCRIPT, venv_dir
from ground.config import load_config

PY = "/venv/bin/python"
SERVER = [PY, "-m", "vllm.entrypoints.openai.api_server"]
MTP = '{"method":"mtp","num_speculative_tokens":1}'
GPU_TAIL = ["--trust-remote-code", "--max-model-len", "8192", "--gpu-memory-utilization", "0.90",
            "--host", "127.0.0.1", "--port", "8000"]


def argv(name, model="deepseek-ai/DeepSeek-V3", extra=()):
    return presets.server_argv(presets.resolve(name), PY, model, "127.0.0.1", 8000, extra)


def test_deepseek_v3_tp8_ep_mtp():
    assert argv("deepseek-v3") == SERVER + [
        "--model", "deepseek-ai/DeepSeek-V3", "--served-model-name", "deepseek-v3",
        "--tensor-parallel-size", "8", "--enable-expert-parallel", "--speculative-config", MTP, *GPU_TAIL]
    assert json.loads(MTP) == {"method": "mtp", "num_speculative_tokens": 1}


def test_deepseek_v3_throughput_dp8_ep():
    assert argv("deepseek-v3-throughput") == SERVER + [
        "--model", "deepseek-ai/DeepSeek-V3", "--served-model-name", "deepseek-v3",
        "--data-parallel-size", "8", "--enable-expert-parallel", "--speculative-config", MTP, *GPU_TAIL]


def test_deepseek_v3_two_nodes_pipeline_over_ray():
    assert argv("deepseek-v3-2node") == SERVER + [
        "--model", "deepseek-ai/DeepSeek-V3", "--served-model-name", "deepseek-v3",
        "--tensor-parallel-size", "8", "--pipeline-parallel-size", "2", "--distributed-executor-backend", "ray",
        *GPU_TAIL]


CHECK_VLLM_ARGS = Path(presets.__file__).with_name("check_vllm_args.py")
GPU_PRESETS = [name for name, preset in presets.PRESETS.items() if preset.device == "gpu"]
# Broken variants of the deepseek-v3 command (extra flags come last and win) and what vLLM's error must name.
REFUSED = {
    "unknown flag": (("--no-such-flag",), "unrecognized arguments: --no-such-flag"),
    "int flag given a word": (("--tensor-parallel-size", "eight"), "--tensor-parallel-size"),
    "speculative config not JSON": (("--speculative-config", "{method: mtp}"), "--speculative-config"),
}


def vllm_args(name: str, extra: tuple[str, ...] = ()) -> list[str]:
    """What vLLM's parser sees of deeprag's command: everything after `python -m <server module>`."""
    command = argv(name, extra=extra)
    assert command[:3] == SERVER
    return command[3:]


@pytest.fixture(scope="module")
def vllm_verdicts() -> dict[str, dict]:
    """vLLM's own parser's verdict ({"ok", "error"}) on every GPU preset's command and on the REFUSED ones, from a
    single run of check_vllm_args.py in the vLLM venv (importing vLLM takes ~20 s). The GPU presets cannot be
    started here, so this is what catches a flag or value vLLM would reject before the cluster does."""
    settings = load_config(env={k: v for k, v in os.environ.items() if k.startswith("DEEPRAG_SERVE__")}).serve
    python = venv_dir(settings) / "bin" / "python"
    if not python.exists():
        message = f"no vLLM venv at {venv_dir(settings)}; create it with {INSTALL_SCRIPT}"
        if os.environ.get("DEEPRAG_REQUIRE_VLLM"):
            pytest.fail(message + " (DEEPRAG_REQUIRE_VLLM is set)")
        pytest.skip(message)
    cases = {name: vllm_args(name) for name in GPU_PRESETS}
    cases |= {case: vllm_args("deepseek-v3", extra) for case, (extra, _) in REFUSED.items()}
    # -I: the script's folder (app/serve, with a venv.py) must not shadow modules on vLLM's import path.
    done = subprocess.run([str(python), "-I", str(CHECK_VLLM_ARGS)], input=json.dumps(list(cases.values())),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(zip(cases, json.loads(done.stdout), strict=True))


@pytest.mark.parametrize("name", GPU_PRESETS)
def test_vllms_own_parser_accepts_the_gpu_preset_command(name: str, vllm_verdicts: dict[str, dict]) -> None:
    assert vllm_verdicts[name] == {"ok": True, "error": ""}


@pytest.mark.parametrize("case", REFUSED)
def test_vllms_own_parser_refuses_a_broken_command(case: str, vllm_verdicts: dict[str, dict]) -> None:
    """Proves the check above can fail: the same run refuses an unknown flag and values of the wrong type."""
    verdict, (_, names) = vllm_verdicts[case], REFUSED[case]
    assert not verdict["ok"] and names in verdict["error"], verdict


def test_cpu_presets_are_eager_with_cpu_environment():
    preset = presets.resolve("tiny-deepseek-v3")
    assert argv("tiny-deepseek-v3", model="/m/tiny") == SERVER + [
        "--model", "/m/tiny", "--served-model-name", "tiny-deepseek-v3",
        "--enforce-eager", "--dtype", "bfloat16", "--max-model-len", "2048", "--host", "127.0.0.1", "--port", "8000"]
    assert presets.server_env(preset, 3) == {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "3"}
    assert presets.server_env(presets.resolve("deepseek-v3"), 3) == {}


def test_any_model_name_is_served_with_cpu_defaults_and_extra_flags_come_last():
    command = argv("Qwen/Qwen2.5-0.5B-Instruct", model="Qwen/Qwen2.5-0.5B-Instruct", extra=("--max-model-len", "1024"))
    assert command[3:7] == ["--model", "Qwen/Qwen2.5-0.5B-Instruct", "--served-model-name", "Qwen/Qwen2.5-0.5B-Instruct"]
    assert "--enforce-eager" in command and command[-2:] == ["--max-model-len", "1024"]


def test_dry_run_prints_the_pasteable_command(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(["serve", "--preset", "deepseek-v3", "--dry-run", "--port", "9000"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{tmp_path}/deeprag/vllm-venv/bin/python -m vllm.entrypoints.openai.api_server ")
    assert f"--speculative-config '{MTP}'" in line and line.endswith("--port 9000")


def test_planner_parameter_counts_match_deepseek_v3_published_sizes():
    _, cfg = plan.load_model_config(None)
    params = plan.count_params(cfg)
    assert round(params.total / 1e9) == 671  # "671B total parameters"
    assert 36e9 < params.active < 38e9  # "37B activated for each token"
    assert 11e9 < params.mtp < 15e9  # the MTP module (published: 14B including its shared embedding)
    kv = plan.KVSizes.of(cfg)
    assert kv.mla == (512 + 64) * 61 * 2 == 70_272
    assert kv.mha == (192 + 128) * 128 * 61 * 2  # ~5 MB/token with plain multi-head attention


def test_planner_8xh200_lands_near_vllms_published_capacity():
    result = make_plan("8xH200")
    assert result.preset.name == "deepseek-v3" and result.layout == plan.Layout(tp=8, ep=True)
    tokens = result.tokens(result.kv.mla, 1)
    assert 0.9 * 512_000 < tokens < 1.3 * 512_000
    # MLA's latent has no heads to split, so under TP8 every GPU holds whole 70,272 B tokens; MHA's 128 heads
    # are split 8 ways. A RAG request reserves max-model-len (8,192) tokens of the cache.
    assert tokens == result.kv_per_gpu // 70_272
    assert result.tokens(result.kv.mha, 128) == result.kv_per_gpu // (4_997_120 / 8)
    text = plan.render(result)
    assert f"{tokens:,} tokens in cache, {tokens // 8192:,} concurrent 8,192-token RAG requests" in text
    assert "70,272 B/token" in text and "512,000" in text and "--tensor-parallel-size 8" in text


def test_planner_16xh100_uses_two_nodes_and_8xh100_does_not_fit():
    two_nodes = make_plan("16xH100")
    assert two_nodes.preset.name == "deepseek-v3-2node" and two_nodes.layers_per_gpu == 31
    assert two_nodes.kv_per_gpu > 0
    assert "DOES NOT FIT" in plan.render(make_plan("8xH100"))


def test_planner_rejects_unknown_gpus():
    with pytest.raises(PlanError, match="8xH200"):
        make_plan("8xB9000")


def test_cpu_presets_use_bf16_only_where_the_cpu_computes_it():
    from app.serve.presets import cpu_dtype

    assert cpu_dtype("flags\t: fpu avx2 avx512f avx512_bf16 amx_tile\n") == "bfloat16"
    assert cpu_dtype("flags\t: fpu sse4_2 avx2 fma\n") == "float32"  # bf16 would be emulated, many times slower
    assert cpu_dtype("") == "float32"
