#!/usr/bin/env bash
# Install everything the tests need (venv, vLLM's CPU build in its own venv, Debian's Chromium), then run
# the whole test suite. This is what CI runs (.ci/run). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh test,train
bash scripts/install-vllm.sh
bash scripts/install-browser.sh

export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export DEEPRAG_REQUIRE_VLLM=1 DEEPRAG_REQUIRE_BROWSER=1   # these tests must run, not skip
exec .venv/bin/python -m pytest "$@"
