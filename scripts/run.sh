#!/usr/bin/env bash
# The main job on a fresh machine: install deeprag and vLLM's CPU build, provision the offline models,
# ingest the bundled sample corpus, start the LLM server, and open the chat UI.
# A second run reuses everything (venvs, converted model, index) and is ready in about a minute.
#
# Environment: DEEPRAG_SERVE__PRESET (default cpu-small), DEEPRAG_SERVE__PORT (8000), DEEPRAG_UI__PORT (8501).
# Ctrl-C stops the UI and the LLM server it started.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing deeprag (.venv)"
bash scripts/install.sh
step "installing vLLM's CPU build (its own venv)"
bash scripts/install-vllm.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PORT="${DEEPRAG_SERVE__PORT:-8000}"
export DEEPRAG_LLM__BASE_URL="http://127.0.0.1:$PORT/v1"

step "ingesting the sample corpus (data/sample)"
.venv/bin/deeprag ingest data/sample

step "starting the LLM server (first run downloads and converts the model: a few minutes)"
.venv/bin/deeprag serve --port "$PORT" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true' EXIT INT TERM
until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do
    kill -0 "$SERVER" 2>/dev/null || { echo "the LLM server exited; see ~/.local/share/deeprag/logs/" >&2; exit 1; }
    sleep 2
done

step "asking a first question"
.venv/bin/deeprag ask "How does multi-head latent attention shrink the KV cache?"

step "chat UI at http://127.0.0.1:${DEEPRAG_UI__PORT:-8501} (open it in a browser; Ctrl-C stops everything)"
.venv/bin/deeprag ui --headless
