"""`deeprag serve` warms the server with one 1-token request after `/health`; `deeprag ask` ends with how long
the first token took. Against the real vLLM test server (tiny-deepseek-v3, random weights)."""

from __future__ import annotations

import logging
import re
import urllib.request

from llm_fixtures import _free_port, sample_index, vllm_url  # noqa: F401 (fixtures)

from app.cli import main
from app.serve.launcher import warm_up

QUESTION = "What does multi-head latent attention compress?"


def _requests_served(base_url: str) -> float:
    """vLLM's own count of finished requests, from its Prometheus /metrics."""
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts = re.findall(r"^vllm:request_success_total\{[^}]*\} ([0-9.e+]+)$", text, flags=re.M)
    return sum(float(c) for c in counts)


def test_warm_up_sends_one_request_and_returns_its_time(vllm_url, caplog):  # noqa: F811
    before = _requests_served(vllm_url)
    assert before >= 1  # the fixture's wait_healthy already sent its warm-up request
    with caplog.at_level(logging.INFO, logger="app.serve.launcher"):
        seconds = warm_up(vllm_url, "tiny-deepseek-v3")
    assert seconds is not None and 0 < seconds < 120
    assert _requests_served(vllm_url) == before + 1  # the server answered it
    assert any(r.levelno == logging.INFO and "warmed up tiny-deepseek-v3" in r.message for r in caplog.records)


def test_a_failed_warm_up_is_a_warning_not_an_error(vllm_url, caplog):  # noqa: F811
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    with caplog.at_level(logging.WARNING, logger="app.serve.launcher"):
        assert warm_up(dead, "tiny-deepseek-v3", timeout_s=5) is None
        assert warm_up(vllm_url, "no-such-model", timeout_s=30) is None  # the server's refusal: also a warning
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("warming up the LLM server" in w for w in warnings)
    assert "no-such-model" in warnings[1]  # vLLM's own reason is quoted


def test_cli_ask_ends_with_the_time_to_first_token(sample_index, vllm_url, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("DEEPRAG_RETRIEVAL__RERANKER_MODEL", "")
    monkeypatch.setenv("DEEPRAG_LLM__MAX_TOKENS", "8")
    code = main(["ask", QUESTION, "--index", str(sample_index), "--base-url", vllm_url, "--k", "3"])
    assert code == 0
    captured = capsys.readouterr()
    assert "sources:" in captured.out
    footer = captured.err.strip().splitlines()[-1]
    assert re.match(r"first token \d+\.\d s · total \d+\.\d s · [1-3] passages? \(\d+ prompt tokens\) · ", footer)
    assert footer.endswith("answer tokens") and "tiny-deepseek-v3" in footer
