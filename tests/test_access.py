"""Nobody gets in who shouldn't: `deeprag serve` and `deeprag ui` refuse to listen beyond this machine without
a secret (unless --insecure), vLLM started with serve.api_key answers 401 without it (the real tiny vLLM
server), and the Streamlit app asks for ui.access_token before it shows anything (AppTest; the browser test
is in test_ui_browser.py)."""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request

import pytest
from streamlit.testing.v1 import AppTest

from app.cli import main
from app.exposure import is_loopback
from app.serve.launcher import connect_host
from app.serve.venv import venv_dir
from ground.config import load_config
from tests.conftest import REPO

# The vLLM venv as this machine has it, found before the fixtures below point XDG_DATA_HOME elsewhere.
VLLM_VENV = venv_dir(load_config(env={k: v for k, v in os.environ.items() if k.startswith("DEEPRAG_SERVE__")}).serve)
KEY = "test-key-0123456789abcdef"  # at least MIN_SECRET_CHARS
TOKEN = "ui-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    """No deeprag settings from the machine running the tests: no config file, no DEEPRAG_* variables."""
    for name in list(os.environ):
        if name.startswith("DEEPRAG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST", True), ("::ffff:127.0.0.1", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("10.0.0.1", False), ("example.org", False),
    ("fe80::1", False),
])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host, reached", [
    ("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]"), ("10.1.2.3", "10.1.2.3"), ("localhost", "localhost"),
])
def test_health_checks_reach_a_wildcard_bind_on_loopback(host, reached):
    assert connect_host(host) == reached


# -- deeprag serve ------------------------------------------------------------------------------------

@pytest.fixture
def no_server(monkeypatch):
    """Fail the test if `deeprag serve` gets as far as building (provisioning) a server."""
    def refuse(*args, **kwargs):
        raise AssertionError("a server was built although the command should have been refused")

    monkeypatch.setattr("app.serve.launcher.server_for_preset", refuse)


@pytest.mark.parametrize("dry_run", [True, False])
def test_serve_on_an_open_address_without_a_key_is_refused(no_server, capsys, dry_run):
    code = main(["serve", "--host", "0.0.0.0", *(["--dry-run"] if dry_run else [])])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("deeprag: serve.host = 0.0.0.0 is not a loopback address")
    assert "--api-key" in err and "DEEPRAG_SERVE__API_KEY" in err and "--insecure" in err


def test_serve_insecure_is_allowed_and_warned(capsys):
    assert main(["serve", "--host", "0.0.0.0", "--insecure", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "--host 0.0.0.0" in out and "VLLM_API_KEY" not in out
    assert "answers anyone" in err


def test_serve_with_a_key_passes_it_to_vllm_without_showing_it(monkeypatch, capsys):
    monkeypatch.setenv("DEEPRAG_SERVE__API_KEY", KEY)
    assert main(["serve", "--host", "0.0.0.0", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "VLLM_API_KEY='<serve.api_key>'" in out and KEY not in out
    monkeypatch.delenv("DEEPRAG_SERVE__API_KEY")
    assert main(["serve", "--host", "10.0.0.5", "--api-key", KEY, "--dry-run"]) == 0  # the flag does it too
    assert "--host 10.0.0.5" in capsys.readouterr().out


def test_serve_says_how_clients_get_in():
    from app.cli_answer import _client_key_line

    line = _client_key_line(KEY, KEY)
    assert "set llm.api_key to the same value (DEEPRAG_LLM__API_KEY" in line and "401" not in line and KEY not in line
    assert "its deeprag ask would get 401" in _client_key_line(KEY, "EMPTY")


def test_a_short_key_is_refused_without_echoing_it(capsys):
    assert main(["serve", "--api-key", "hunter2", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "serve.api_key" in err and "at least 16 characters" in err and "hunter2" not in err


def test_config_does_not_print_secrets(monkeypatch, capsys):
    monkeypatch.setenv("DEEPRAG_SERVE__API_KEY", KEY)
    monkeypatch.setenv("DEEPRAG_UI__ACCESS_TOKEN", TOKEN)
    assert main(["config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["serve"]["api_key"] == shown["ui"]["access_token"] == "**********"


@pytest.mark.slow
def test_vllm_with_an_api_key_refuses_requests_without_it(caplog):
    """The real tiny vLLM server, started through the launcher with serve.api_key: /v1 without the key is 401,
    deeprag's client with llm.api_key set to it is served, the warm-up (which sends the key) succeeds."""
    from app.serve.launcher import server_for_preset
    from app.serve.presets import resolve
    from generation.llm import LLMClient, LLMUnauthorized
    from ground.config import LLMConfig, ServeConfig
    from tests.llm_fixtures import _free_port

    if not (VLLM_VENV / "bin" / "python").exists():
        message = f"no vLLM venv at {VLLM_VENV}; run scripts/install-vllm.sh"
        if os.environ.get("DEEPRAG_REQUIRE_VLLM"):
            pytest.fail(message + " (DEEPRAG_REQUIRE_VLLM is set)")
        pytest.skip(message)
    settings = ServeConfig(venv=VLLM_VENV, port=_free_port(), cpu_kvcache_gib=1, startup_timeout_s=300, api_key=KEY)
    server = server_for_preset(settings, resolve("tiny-deepseek-v3"))
    assert KEY not in " ".join(server.argv)  # not on the command line, where `ps` shows it to every user
    with caplog.at_level(logging.INFO, logger="app.serve.launcher"), server:
        server.wait_healthy(settings.startup_timeout_s)
        assert any("warmed up tiny-deepseek-v3" in r.message for r in caplog.records)  # the key went with it
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.url}/models", timeout=30)
        assert refused.value.code == 401
        wrong = LLMClient(LLMConfig(base_url=server.url, api_key="not-the-key", max_retries=0))
        with pytest.raises(LLMUnauthorized, match="refused llm.api_key"):
            wrong.model
        client = LLMClient(LLMConfig(base_url=server.url, api_key=KEY, max_tokens=4))
        assert client.model.name == "tiny-deepseek-v3"
        text, usage = client.complete([{"role": "user", "content": "Hello"}])
        assert usage.completion_tokens > 0


# -- deeprag ui ---------------------------------------------------------------------------------------

class FakeStreamlit:
    """Stands in for the Streamlit server process: records the command instead of starting it."""

    started: list[list[str]] = []

    def __init__(self, argv, env=None, **kwargs):
        FakeStreamlit.started.append(argv)
        self.env = env

    def wait(self):
        return 0


@pytest.fixture
def fake_streamlit(monkeypatch):
    FakeStreamlit.started = []
    monkeypatch.setattr("app.cli_ui.subprocess.Popen", FakeStreamlit)
    return FakeStreamlit.started


def test_ui_on_an_open_address_without_a_token_is_refused(fake_streamlit, capsys):
    assert main(["ui", "--host", "0.0.0.0", "--headless"]) == 2
    err = capsys.readouterr().err
    assert fake_streamlit == []  # nothing started
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("deeprag: ui.host = 0.0.0.0 is not a loopback address")
    assert "ui.access_token" in err and "DEEPRAG_UI__ACCESS_TOKEN" in err and "--insecure" in err


def test_ui_insecure_or_with_a_token_starts(fake_streamlit, monkeypatch, capsys):
    assert main(["ui", "--host", "0.0.0.0", "--headless", "--insecure"]) == 0
    assert "open to anyone" in capsys.readouterr().err
    monkeypatch.setenv("DEEPRAG_UI__ACCESS_TOKEN", TOKEN)
    assert main(["ui", "--host", "192.168.7.7", "--headless"]) == 0
    assert "asks each browser session for ui.access_token" in capsys.readouterr().err
    assert main(["ui", "--headless"]) == 0  # loopback: no token needed either way
    addresses = [argv[argv.index("--server.address") + 1] for argv in fake_streamlit]
    assert addresses == ["0.0.0.0", "192.168.7.7", "127.0.0.1"]


def test_app_asks_for_the_token_before_anything_else(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPRAG_UI__ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("DEEPRAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("DEEPRAG_LLM__BASE_URL", "http://127.0.0.1:9/v1")
    at = AppTest.from_file(str(REPO / "app" / "ui" / "main.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    assert [t.label for t in at.text_input] == ["Access token"] and at.text_input[0].proto.type == 1  # password
    assert len(at.sidebar) == 0 and "config" not in at.session_state  # no page, no sidebar, no settings
    at.text_input[0].input("wrong-token-0123456789")
    at.button[0].click().run()
    assert "not this deeprag's access token" in at.error[0].value
    assert "config" not in at.session_state
    at.text_input[0].input(TOKEN)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert "config" in at.session_state and len(at.sidebar) > 0  # the app itself
    assert not any(t.label == "Access token" for t in at.text_input)
    at.run()  # later reruns of this session do not ask again
    assert not any(t.label == "Access token" for t in at.text_input)
