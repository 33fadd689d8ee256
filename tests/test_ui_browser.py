"""End to end in a real browser: Debian's headless Chromium, driven by Playwright, against `deeprag ui` served
on 127.0.0.1 with a real vLLM server (tiny-deepseek-v3, random weights: its answers are gibberish, so these
tests check the path, not the wording). Writes docs/screenshots/chat.png and documents.png.

Needs scripts/install-browser.sh (Chromium) and scripts/install-vllm.sh (the vLLM venv); without Chromium the
module is skipped unless DEEPRAG_REQUIRE_BROWSER is set (CI), where that is an error.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from app.cli_ui import launch
from ground.config import ServeConfig, load_config
from app.serve.launcher import server_for_preset
from app.serve.presets import resolve
from app.serve.venv import venv_dir
from tests.conftest import REPO, write

CHROMIUM = Path("/usr/bin/chromium")
# The flags this machine needs (see /work/.library/env/machines/python.md): no sandbox as root, no GPU, and no
# background connections, which a closed network refuses many at a time.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "docs" / "screenshots"
WAIT_MS = 120_000

if not CHROMIUM.exists():
    if os.environ.get("DEEPRAG_REQUIRE_BROWSER"):
        raise RuntimeError("no /usr/bin/chromium; run scripts/install-browser.sh (DEEPRAG_REQUIRE_BROWSER is set)")
    pytest.skip("no /usr/bin/chromium; run scripts/install-browser.sh", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=WAIT_MS)  # the first question loads the embedder; answers take seconds on 2 cores


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


@pytest.fixture(scope="module")
def llm_server():
    """A vLLM server of this module's own, because one test stops it."""
    settings = ServeConfig(venv=load_config(env={}).serve.venv, port=_free_port(), cpu_kvcache_gib=1,
                           startup_timeout_s=300)
    if not (venv_dir(settings) / "bin" / "python").exists():
        pytest.skip("no vLLM venv; run scripts/install-vllm.sh")
    server = server_for_preset(settings, resolve("tiny-deepseek-v3"))
    with server:
        server.wait_healthy(settings.startup_timeout_s)
        yield server


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, llm_server, embedder):
    """`deeprag ui` on a free port, over an index of the test's own English and Chinese documents."""
    from ingest.pipeline import Ingestor

    root = tmp_path_factory.mktemp("ui-browser")
    docs = root / "docs"
    write(docs / "penguins.txt", "Emperor penguins breed during the Antarctic winter. They eat krill, fish and "
                                 "squid, which they catch in dives deeper than 500 metres.")
    write(docs / "大熊猫.md", "# 大熊猫\n大熊猫生活在中国四川、陕西和甘肃的山区竹林里。它们几乎只吃竹子，每天进食十几个小时。")
    env = {
        "XDG_DATA_HOME": str(root / "xdg"),
        "DEEPRAG_INDEX_DIR": str(root / "index"),
        "DEEPRAG_RETRIEVAL__RERANKER_MODEL": "",
        "DEEPRAG_LLM__BASE_URL": llm_server.url,
        "DEEPRAG_LLM__MAX_TOKENS": "160",  # long enough to watch it stream
        "DEEPRAG_EVAL__RUNS_DIR": str(root / "runs"),
        "HF_HUB_OFFLINE": "1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("DEEPRAG_CONFIG", raising=False)
        Ingestor.for_config(load_config(), embedder=embedder).run([docs])
        port = _free_port()
        process = launch(argparse.Namespace(headless=True, config=None, index_dir=None),
                         load_config(overrides={"ui.host": "127.0.0.1", "ui.port": port}))
    try:
        _wait_http(f"http://127.0.0.1:{port}/_stcore/health", 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_page(browser, url: str) -> Page:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    expect(page.get_by_role("heading", name="Chat", exact=True)).to_be_visible()
    return page


def ask(page: Page, question: str) -> None:
    box = page.get_by_placeholder("Ask a question about your documents")
    box.fill(question)
    box.press("Enter")


def screenshot(page: Page, name: str) -> None:
    """A tall window for the picture: Streamlit scrolls inside its own pane, so full_page alone shows no more."""
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.wait_for_timeout(800)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))
    page.set_viewport_size({"width": 1400, "height": 1000})


def assistant_messages(page: Page):
    return page.locator('[data-testid="stChatMessage"]:has([data-testid="stChatMessageAvatarAssistant"])')


def test_ask_upload_and_server_down(browser, app_url, llm_server, tmp_path):
    page = new_page(browser, app_url)
    expect(page.get_by_text("🟢 LLM serving tiny-deepseek-v3")).to_be_visible()

    # Record how the answer's text grows while it streams.
    page.evaluate("""() => {
        window.answerLengths = [];
        new MutationObserver(() => {
            const answers = document.querySelectorAll('[data-testid="stChatMessageAvatarAssistant"]');
            if (!answers.length) return;
            const message = answers[answers.length - 1].closest('[data-testid="stChatMessage"]');
            window.answerLengths.push(message.innerText.length);
        }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    ask(page, "What do emperor penguins eat?")
    first = assistant_messages(page).first
    expect(first.get_by_text("first token", exact=False)).to_be_visible()
    lengths = page.evaluate("window.answerLengths")
    assert len(set(lengths)) >= 5, lengths  # many distinct sizes: tokens arrived one after another
    card = page.locator(".st-key-card-t1-1")  # source card 1 of turn 1
    expect(card).to_be_visible()
    expect(card.get_by_text("[1] penguins", exact=False)).to_be_visible()
    expect(card.get_by_text("penguins.txt ·", exact=False)).to_be_visible()

    # A question in Chinese, answered from the Chinese document; this screenshot is the README's chat picture.
    ask(page, "大熊猫主要吃什么？")
    second = assistant_messages(page).nth(1)
    expect(second.get_by_text("first token", exact=False)).to_be_visible()
    expect(page.locator(".st-key-card-t2-1").get_by_text("大熊猫.md ·", exact=False)).to_be_visible()
    screenshot(page, "chat.png")

    # Upload a new document on the Documents page; the next answer finds it.
    page.get_by_role("link", name="Documents").click()
    expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible()
    otters = write(tmp_path / "sea otters.txt", "Sea otters hold hands while they sleep so that the current does "
                                                 "not carry them apart. A group of resting otters is called a raft.")
    bad = write(tmp_path / "notes.exe", "MZ")
    # The browser sends the file to the server on its own request; submitting before it finishes submits nothing.
    with page.expect_response(lambda response: "upload_file" in response.url and response.ok):
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([str(otters)])
    page.get_by_role("button", name="Upload and ingest").click()
    expect(page.get_by_text("1 added", exact=False)).to_be_visible()
    expect(page.get_by_text("3 documents", exact=False)).to_be_visible()
    screenshot(page, "documents.png")
    assert bad.exists()  # not offered to the browser: the file picker only accepts the allowlist

    page.get_by_role("link", name="Chat").click()
    ask(page, "Why do sea otters hold hands while sleeping?")
    third = assistant_messages(page).nth(2)
    expect(third.get_by_text("first token", exact=False)).to_be_visible()
    expect(third.locator("[class*=st-key-card-t3-]").filter(has_text="sea otters.txt ·").first).to_be_visible()

    # A second browser session sees none of this chat.
    other = new_page(browser, app_url)
    other.wait_for_timeout(1000)
    assert assistant_messages(other).count() == 0
    assert assistant_messages(page).count() == 3

    # The LLM server stops: the chat says so in one line and still shows the sources.
    llm_server.stop()
    ask(page, "What do emperor penguins eat?")
    fourth = assistant_messages(page).nth(3)
    expect(fourth.get_by_text("cannot reach the LLM server", exact=False)).to_be_visible()
    expect(page.locator(".st-key-card-t4-1").get_by_text("penguins.txt ·", exact=False)).to_be_visible()
