"""Run vLLM's server as a child process: start it, wait until `/health` answers, warm it up, stop it with us.

The child gets its own session (process group), so a Ctrl-C in the terminal reaches deeprag only and deeprag
stops the child in order; `stop()` signals the whole group, which also ends any workers vLLM started.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import logging
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from ground.config import ServeConfig, user_data_dir
from app.serve.models import local_model_dir, provision
from app.serve.presets import Preset, server_argv, server_env
from app.serve.venv import venv_dir, venv_python
from ground.errors import DeepragError

log = logging.getLogger(__name__)

# vLLM reads its API key from this variable when --api-key is not given (vllm/envs.py).
API_KEY_ENV = "VLLM_API_KEY"


class ServerStartFailed(DeepragError):
    """vLLM exited or never became healthy."""


class PortInUse(DeepragError):
    """Something already answers on the port deeprag was asked to serve on."""


def is_healthy(root_url: str, timeout: float = 2.0) -> bool:
    """Whether a vLLM server answers `GET /health` with 200 at ``root_url`` (http://host:port)."""
    # A single GET with a short timeout: the standard library does it without another dependency.
    try:
        with urllib.request.urlopen(f"{root_url}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def warm_up(base_url: str, model: str, timeout_s: float = 300.0, api_key: str = "") -> float | None:
    """Send one tiny chat request (one token out) to the OpenAI-compatible server at ``base_url`` (…/v1), so
    that the first real question does not pay for what a server does on its first request; the seconds it
    took, or None (with a warning, never an exception) when it failed: the server may still serve.
    ``api_key``: the server's key, where it has one (vLLM answers /v1 without it with 401)."""
    body = {"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1, "temperature": 0}
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/chat/completions", data=json.dumps(body).encode(), headers=headers, method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
    except Exception as exc:  # refused, timed out, an HTTP error, a broken reply: none may stop `serve`
        detail = _error_body(exc)
        log.warning("warming up the LLM server at %s failed (%s%s); the first question may be slow",
                    base_url, exc, f": {detail}" if detail else "")
        return None
    seconds = time.perf_counter() - started
    log.info("warmed up %s at %s in %.1f s (one 1-token request)", model, base_url, seconds)
    return seconds


def _error_body(exc: Exception) -> str:
    """The start of an HTTP error's body (vLLM says there what was wrong), else nothing."""
    if not isinstance(exc, urllib.error.HTTPError):
        return ""
    try:
        return " ".join(exc.read().decode(errors="replace").split())[:200]
    except Exception:
        return ""


def connect_host(host: str) -> str:
    """The address to reach a server bound to ``host`` from this machine, as a URL writes it: a wildcard bind
    (0.0.0.0, ::) is reached on loopback, and an IPv6 address goes in brackets."""
    name = host.strip().removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return name  # a host name
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


class VllmServer:
    """One vLLM child process. Use as a context manager so it is stopped however the block ends."""

    def __init__(self, argv: list[str], env: dict[str, str], host: str, port: int, log_path: Path,
                 served_name: str = "", api_key: str = ""):
        self.argv = argv
        self.env = env
        self.root_url = f"http://{connect_host(host)}:{port}"
        self.log_path = log_path
        self.served_name = served_name  # the model name clients ask for; empty = no warm-up request
        # vLLM's API key, handed over as VLLM_API_KEY in the child's environment only: on the command line
        # (vLLM's --api-key) every user of the machine could read it in `ps`. Not in ``env``, which is printed.
        self.api_key = api_key
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL (what llm.base_url should be)."""
        return f"{self.root_url}/v1"

    def start(self) -> None:
        if is_healthy(self.root_url):
            raise PortInUse(
                f"a server already answers at {self.root_url}; use it (deeprag ask --base-url {self.url}) "
                "or choose another --port"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(self.log_path, "wb")
        self._process = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env, **({API_KEY_ENV: self.api_key} if self.api_key else {})},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log_file.close()  # the child holds its own descriptor
        atexit.register(self.stop)
        log.info("started vLLM (pid %d), log: %s", self._process.pid, self.log_path)

    def wait_healthy(self, timeout_s: float) -> None:
        """Poll `/health` until it answers, then warm the server up with one tiny request (a failed warm-up is
        only a warning); raise with the log's last lines if vLLM dies or takes too long to become healthy."""
        assert self._process is not None, "start() first"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServerStartFailed(
                    f"vLLM exited with status {self._process.returncode} while starting: {self.log_tail()} "
                    f"(full log: {self.log_path})"
                )
            if is_healthy(self.root_url):
                if self.served_name:
                    warm_up(self.url, self.served_name, timeout_s=max(deadline - time.monotonic(), 60.0),
                            api_key=self.api_key)
                return
            time.sleep(1.0)
        self.stop()
        raise ServerStartFailed(
            f"vLLM did not become healthy within {timeout_s:.0f} s (raise serve.startup_timeout_s); "
            f"last log lines: {self.log_tail()} (full log: {self.log_path})"
        )

    def wait(self) -> int:
        """Block until the server exits on its own; returns its exit status."""
        assert self._process is not None, "start() first"
        return self._process.wait()

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM the child's process group, SIGKILL it if it has not exited after ``grace_s``."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        log.info("stopping vLLM (pid %d)", process.pid)
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(line.strip() for line in text[-lines:])

    def __enter__(self) -> "VllmServer":
        self.start()
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def server_for_preset(config: ServeConfig, preset: Preset, extra: tuple[str, ...] = (), dry_run: bool = False) -> VllmServer:
    """A (not yet started) server for ``preset``. Provisions local models and checks the venv, unless
    ``dry_run``, where it only names the paths those steps would create."""
    if dry_run:
        python = venv_dir(config) / "bin" / "python"
        model = local_model_dir(preset.local) if preset.local else preset.model
    else:
        python = venv_python(config)
        model = provision(preset.local, python) if preset.local else preset.model
    argv = server_argv(preset, str(python), str(model), config.host, config.port, extra)
    log_path = user_data_dir() / "logs" / f"vllm-{config.port}.log"
    return VllmServer(argv, server_env(preset, config.cpu_kvcache_gib), config.host, config.port, log_path,
                      served_name=preset.served_name, api_key=config.api_key.get_secret_value())
