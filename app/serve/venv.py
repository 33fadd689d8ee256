"""Where the vLLM venv lives and how to tell the user to create it."""

from __future__ import annotations

from pathlib import Path

from ground.config import ServeConfig, user_data_dir
from ground.errors import DeepragError

INSTALL_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-vllm.sh"
# An installed (non-editable) deeprag has no scripts/ folder: name the script's place in a checkout instead.
INSTALL_HINT = f"bash {INSTALL_SCRIPT}" if INSTALL_SCRIPT.is_file() else "bash scripts/install-vllm.sh (in a deeprag checkout)"


class VllmNotInstalled(DeepragError):
    """The separate vLLM environment does not exist yet."""


def venv_dir(config: ServeConfig) -> Path:
    return Path(config.venv) if config.venv else user_data_dir() / "vllm-venv"


def venv_python(config: ServeConfig) -> Path:
    """The vLLM venv's interpreter; raises with the install command when it is missing."""
    python = venv_dir(config) / "bin" / "python"
    if not python.exists():
        raise VllmNotInstalled(
            f"vLLM is not installed at {venv_dir(config)}; run `{INSTALL_HINT}` (about 3.5 GB, a few minutes) "
            "or point serve.venv (DEEPRAG_SERVE__VENV) at an existing vLLM venv"
        )
    return python
