"""Driving `deeprag ui` in Debian's headless Chromium with Playwright: start the UI on a free port, open a
browser session in a given language, ask, take a picture. Shared by the browser tests (tests/test_ui_browser.py)
and the script that takes the README's screenshots against a real server (scripts/readme_screenshots.py).

Needs /usr/bin/chromium (scripts/install-browser.sh); importing this module without it fails at the first
browser launch, so callers check ``CHROMIUM.exists()`` first and say what to install.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, TimeoutError as PlaywrightTimeout, expect, sync_playwright

from app.cli_ui import launch
from app.ui.language import language_for
from app.ui.texts import t
from ground.config import load_config

CHROMIUM = Path("/usr/bin/chromium")
# The flags this machine needs (see /work/.library/env/machines/python.md): no sandbox as root, no GPU, and no
# background connections, which a closed network refuses many at a time.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 120_000
VIEWPORT = {"width": 1400, "height": 1000}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


@contextlib.contextmanager
def running_ui(env: dict[str, str]) -> Iterator[str]:
    """`deeprag ui` on a free port of 127.0.0.1, configured by the ``DEEPRAG_*`` (and other) variables in
    ``env`` on top of this process's environment; yields its URL once it answers, stops it on exit."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("DEEPRAG_CONFIG", raising=False)
        port = free_port()
        process = launch(argparse.Namespace(headless=True, config=None, index_dir=None),
                         load_config(overrides={"ui.host": "127.0.0.1", "ui.port": port}))
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, url: str, locale: str = "en-US") -> Page:
    """A new browser session (its own chat) from a browser set to ``locale``, once the Chat page is drawn."""
    page = browser.new_context(locale=locale, viewport=VIEWPORT).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    heading = t("page.chat", language_for(locale))
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=WAIT_MS)
    return page


def ask(page: Page, question: str) -> None:
    box = page.locator('[data-testid="stChatInputTextArea"]')  # found the same way in every language
    box.fill(question)
    box.press("Enter")


def screenshot(page: Page, path: Path, top: Locator | None = None) -> None:
    """A tall window for the picture: Streamlit scrolls inside its own pane, so full_page alone shows no more.
    With ``top``, its pane is scrolled so that element starts the picture (a long answer's question would
    otherwise be scrolled away, the chat keeping its newest end in view)."""
    page.set_viewport_size({"width": VIEWPORT["width"], "height": 2000})
    page.wait_for_timeout(800)
    if top is not None:
        top.evaluate("element => element.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    page.set_viewport_size(VIEWPORT)


def choose_in_multiselect(page: Page, key: str, option: Locator, tries: int = 5) -> None:
    """Pick ``option`` in the multiselect with widget key ``key``, then close its menu.

    A page that redraws itself (the documents page polls its job once a second) can close an open menu before
    the click lands, so the menu is opened again until the option is there. The menu is closed by clicking the
    widget's label, not with Escape: Escape on a multiselect whose menu has already closed clears its value."""
    box = page.locator(f".st-key-{key}")
    for attempt in range(tries):
        box.locator("input").click()
        try:
            option.click(timeout=5_000)
            break
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise
    box.locator("label").click()


def assistant_messages(page: Page) -> Locator:
    return page.locator('[data-testid="stChatMessage"]:has([data-testid="stChatMessageAvatarAssistant"])')


def user_messages(page: Page) -> Locator:
    return page.locator('[data-testid="stChatMessage"]:has([data-testid="stChatMessageAvatarUser"])')
