#!/usr/bin/env bash
# Install deeprag into ./.venv (created if missing). Usage: bash scripts/install.sh [extra ...]
#   bash scripts/install.sh          the application
#   bash scripts/install.sh test     plus what the tests need
#
# CPU machines get torch==2.13.0 first (constraints-cpu.txt): an unpinned torch would pull a CUDA build of
# several GB. GPU users: install your CUDA torch into the venv first; this script then leaves it alone.
# Idempotent: a second run with unchanged pyproject.toml returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS="${1:-}"
VENV=".venv"
PYTHON="${PYTHON:-python3}"
SPEC=".${EXTRAS:+[$EXTRAS]}"
STAMP="$VENV/.deeprag-installed"
WANT="$(sha256sum pyproject.toml constraints-cpu.txt | sha256sum | cut -c1-16) $SPEC"

if [[ -x "$VENV/bin/python" && -f "$STAMP" ]] && grep -qxF "$WANT" "$STAMP"; then
    echo "deeprag already installed in $VENV ($SPEC)"
    exit 0
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "installing torch (CPU build)"
    "$VENV/bin/python" -m pip install --quiet --progress-bar off -c constraints-cpu.txt torch
fi
echo "installing deeprag $SPEC"
"$VENV/bin/python" -m pip install --quiet --progress-bar off -c constraints-cpu.txt -e "$SPEC"
echo "$WANT" >> "$STAMP"
echo "deeprag installed in $VENV"
