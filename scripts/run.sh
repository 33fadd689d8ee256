#!/usr/bin/env bash
# The main job on a fresh machine: install, ingest the bundled sample corpus, answer a search.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/deeprag ingest data/sample
.venv/bin/deeprag search "How does multi-head latent attention shrink the KV cache?"
