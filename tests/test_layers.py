"""The layers contract (pyproject's [tool.importlinter]): imports point down only, and the check can fail."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
LAYERS = ("ground", "ingest", "data", "retrieval", "generation", "eval", "app")


def lint(root: Path) -> subprocess.CompletedProcess:
    """Run import-linter on the packages under ``root`` (PYTHONPATH puts them before the installed checkout)."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_the_checkout_keeps_the_layers():
    done = lint(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    for layer in LAYERS:
        shutil.copytree(REPO / layer, tmp_path / layer, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    # ingest reaching up into retrieval: what the contract exists to stop.
    (tmp_path / "ingest" / "upward.py").write_text("from retrieval.searcher import Searcher  # noqa: F401\n")
    done = lint(tmp_path)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout and "ingest.upward -> retrieval.searcher" in done.stdout
