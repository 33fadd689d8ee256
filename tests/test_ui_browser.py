"""End to end in a real browser: Debian's headless Chromium, driven by Playwright, against `deeprag ui` served
on 127.0.0.1 with a real vLLM server (tiny-deepseek-v3, random weights: its answers are gibberish, so these
tests check the path, not the wording). Writes docs/screenshots/chat.png and documents.png.

Needs scripts/install-browser.sh (Chromium) and scripts/install-vllm.sh (the vLLM venv); without Chromium the
module is skipped unless DEEPRAG_REQUIRE_BROWSER is set (CI), where that is an error.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Page, expect

from ground.config import ServeConfig, load_config
from app.serve.launcher import server_for_preset
from app.serve.presets import resolve
from app.serve.venv import venv_dir
from app.ui.chat_store import ChatStore, StoredChat
from app.ui.language import language_for
from app.ui.texts import t
from generation.grounding import ABSTAIN_EN
from tests.conftest import REPO, write
from tests.browser_kit import (CHROMIUM, WAIT_MS, VIEWPORT, ask, assistant_messages, choose_in_multiselect, chromium,
                               free_port, new_page, running_ui, screenshot, user_messages)
from tests.test_ui_apptest import checked_turn

SCREENSHOTS = REPO / "docs" / "screenshots"
ANSWER_MS = 360_000  # a whole 160-token answer; on 2 cores shared with other jobs it has taken over 2 minutes

if not CHROMIUM.exists():
    if os.environ.get("DEEPRAG_REQUIRE_BROWSER"):
        raise RuntimeError("no /usr/bin/chromium; run scripts/install-browser.sh (DEEPRAG_REQUIRE_BROWSER is set)")
    pytest.skip("no /usr/bin/chromium; run scripts/install-browser.sh", allow_module_level=True)

expect.set_options(timeout=WAIT_MS)  # the first question loads the embedder; answers take seconds on 2 cores


@pytest.fixture(scope="module")
def llm_server():
    """A vLLM server of this module's own, because one test stops it."""
    settings = ServeConfig(venv=load_config(env={}).serve.venv, port=free_port(), cpu_kvcache_gib=1,
                           startup_timeout_s=300)
    if not (venv_dir(settings) / "bin" / "python").exists():
        pytest.skip("no vLLM venv; run scripts/install-vllm.sh")
    server = server_for_preset(settings, resolve("tiny-deepseek-v3"))
    with server:
        server.wait_healthy(settings.startup_timeout_s)
        yield server


DOCS = {
    "penguins.txt": "Emperor penguins breed during the Antarctic winter. They eat krill, fish and squid, which they "
                    "catch in dives deeper than 500 metres.",
    "大熊猫.md": "# 大熊猫\n大熊猫生活在中国四川、陕西和甘肃的山区竹林里。它们几乎只吃竹子，每天进食十几个小时。",
}


@contextlib.contextmanager
def serve_ui(root: Path, llm_url: str, embedder, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """`deeprag ui` on a free port, over an index of the test's own English and Chinese documents, with its
    own user data dir (chats) under ``root``; stopped on exit."""
    from ingest.pipeline import Ingestor

    for name, text in DOCS.items():
        write(root / "docs" / name, text)
    env = {
        "XDG_DATA_HOME": str(root / "xdg"),
        "DEEPRAG_INDEX_DIR": str(root / "index"),
        "DEEPRAG_RETRIEVAL__RERANKER_MODEL": "",
        "DEEPRAG_LLM__BASE_URL": llm_url,
        "DEEPRAG_LLM__MAX_TOKENS": "160",  # long enough to watch it stream
        "DEEPRAG_EVAL__RUNS_DIR": str(root / "runs"),
        "HF_HUB_OFFLINE": "1",
        **(extra_env or {}),
    }
    Ingestor.for_config(load_config(env=env), embedder=embedder).run([root / "docs"])
    with running_ui(env) as url:
        yield url


@pytest.fixture(scope="module")
def ui_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ui-browser")


@pytest.fixture(scope="module")
def app_url(ui_root, llm_server, embedder):
    """The app most tests share (each in its own browser session, so each has its own chat)."""
    with serve_ui(ui_root, llm_server.url, embedder) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def vllm_metric(llm_server, name: str, **labels: str) -> float:
    """The sum of one counter over its samples (those with ``labels``), from vLLM's Prometheus /metrics."""
    root = llm_server.url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/metrics", timeout=10) as response:
        text = response.read().decode()
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if re.match(rf"{re.escape(name)}[{{ ]", line) and all(label in line for label in wanted)]
    assert values, f"vLLM reports no {name} {labels}"
    return sum(values)


def stored_chat(ui_root: Path, page: Page) -> dict:
    """The chat file the app wrote for the chat this page shows (its id is in the URL)."""
    chat_id = re.search(r"[?&]chat=([A-Za-z0-9_-]+)", page.url).group(1)
    return json.loads((ui_root / "xdg" / "deeprag" / "chats" / f"{chat_id}.json").read_text(encoding="utf-8"))


def set_max_tokens(page: Page, tokens: int) -> None:
    """This session's "Max answer tokens" (the sidebar's setting, applied to the questions asked after it)."""
    box = page.get_by_label("Max answer tokens")
    box.fill(str(tokens))
    box.press("Enter")
    expect(box).to_have_value(str(tokens))


def wait_for(condition, timeout_s: float = WAIT_MS / 1000) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


# The abstain test runs first, with a server of its own, so two UI servers never run at once on a small machine.
def test_abstains_without_asking_the_llm(browser, llm_server, embedder, tmp_path):
    floors = {"DEEPRAG_GROUNDING__MIN_RERANK_SCORE": "0.99", "DEEPRAG_GROUNDING__MIN_DENSE_SCORE": "0.99"}
    with serve_ui(tmp_path, llm_server.url, embedder, floors) as url:
        page = new_page(browser, url)
        requests = vllm_metric(llm_server, "vllm:request_success_total")
        prompt_tokens = vllm_metric(llm_server, "vllm:prompt_tokens_total")
        ask(page, "What do emperor penguins eat?")
        answer = assistant_messages(page).first
        expect(answer.get_by_text(ABSTAIN_EN)).to_be_visible()
        expect(answer.get_by_text("Closest passages", exact=True)).to_be_visible()
        card = page.locator(".st-key-card-t1-1")
        expect(card.get_by_text("low relevance")).to_be_visible()  # the card itself is marked
        expect(card.get_by_text("[1]", exact=False)).to_have_count(0)  # not presented as a citation
        expect(answer.get_by_text("Sources", exact=True)).to_have_count(0)
        assert vllm_metric(llm_server, "vllm:request_success_total") == requests  # the LLM was never asked
        assert vllm_metric(llm_server, "vllm:prompt_tokens_total") == prompt_tokens


# -- the Documents page and the access gate: each with a UI server of its own and no LLM, run before the shared
# app starts, so two UI servers never run at once here either.

NO_LLM = "http://127.0.0.1:9/v1"  # the discard port: these pages need no LLM
FIRST_INGEST_MS = 600_000  # a UI process imports torch and loads the embedder at its first ingestion:
                           # seconds on an idle machine, minutes on 2 cores shared with benchmark jobs


def open_documents(browser, url: str) -> Page:
    """The Documents page in a new session whose downloads land where Playwright sees them (the table's own
    "Download as CSV" would otherwise ask for a place through the browser's save-file picker)."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.add_init_script("delete window.showSaveFilePicker")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{url}/documents")
    expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible()
    return page


def table_rows(page: Page) -> dict[str, str]:
    """Document → status, as the table holds them: its canvas shows no text to a test, so through the table's
    own CSV download."""
    page.locator('[data-testid="stDataFrame"]').hover()
    with page.expect_download() as download:
        # Dispatched, not clicked: the toolbar floats over the grid, which a redraw may slide under the pointer.
        page.get_by_role("button", name="Download as CSV").dispatch_event("click")
    with open(download.value.path(), encoding="utf-8-sig", newline="") as handle:
        return {row["document"]: row["status"] for row in csv.DictReader(handle)}


def upload_files(page: Page, *paths: Path) -> None:
    """Send ``paths`` through the file picker, wait until the browser has sent each to the server (submitting
    earlier submits nothing), then submit the form."""
    sent: list[str] = []
    page.on("response", lambda response: sent.append(response.url) if "upload_file" in response.url
            and response.ok else None)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([str(p) for p in paths])
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(sent) < len(paths):  # Playwright delivers events while it is called: wait with it, not time.sleep
        assert time.monotonic() < deadline, f"the browser sent {len(sent)} of {len(paths)} files"
        page.wait_for_timeout(200)
    page.get_by_role("button", name="Upload and ingest").click()


def test_delete_refreshes_the_table_and_the_sidebar(browser, embedder, tmp_path):
    with serve_ui(tmp_path, NO_LLM, embedder) as url:
        page = open_documents(browser, url)
        expect(page.get_by_text("2 documents ·", exact=False)).to_be_visible()
        expect(page.get_by_text("2 files ·", exact=False)).to_be_visible()  # the sidebar's count
        assert table_rows(page) == {"penguins.txt": "indexed", "大熊猫.md": "indexed"}

        page.get_by_text("Delete documents").click()
        choose_in_multiselect(page, "delete_choice", page.get_by_role("option", name=re.compile(r"^penguins\.txt")))
        delete = page.get_by_role("button", name="Delete", exact=True)
        expect(delete).to_be_enabled()
        delete.click()
        # A delete loads no model, so it ends within a poll of the page: no reload, no click, and still the
        # page redraws itself when the job has ended.
        expect(page.get_by_text("Deleting 1 document(s): ", exact=False)).to_be_visible()
        expect(page.get_by_text("1 documents ·", exact=False)).to_be_visible()
        expect(page.get_by_text("1 files ·", exact=False)).to_be_visible()
        assert table_rows(page) == {"大熊猫.md": "indexed"}


def test_a_failed_upload_stays_listed_with_its_reason(browser, embedder, tmp_path):
    with serve_ui(tmp_path, NO_LLM, embedder) as url:
        page = open_documents(browser, url)
        broken = write(tmp_path / "upload" / "broken.pdf", b"this is not a PDF")
        upload_files(page, broken)
        failure = page.get_by_text(re.compile(r"^broken\.pdf failed: "))
        expect(failure).to_be_visible(timeout=FIRST_INGEST_MS)
        expect(page.get_by_text("· 1 failed", exact=False)).to_be_visible()
        reason = failure.inner_text().removeprefix("broken.pdf failed: ")
        assert reason and table_rows(page)["broken.pdf"] == f"failed: {reason}"
        page.wait_for_timeout(4000)  # several polls and a redraw later: still there, still in the table
        expect(failure).to_be_visible()
        assert table_rows(page)["broken.pdf"] == f"failed: {reason}"
        screenshot(page, SCREENSHOTS / "documents-failed.png")
        page.get_by_role("button", name="Dismiss 1 failed").click()
        expect(failure).to_have_count(0)
        assert "broken.pdf" not in table_rows(page)


def test_access_token_gate(browser, embedder, tmp_path):
    token = "team-token-0123456789abcdef"
    with serve_ui(tmp_path, NO_LLM, embedder, {"DEEPRAG_UI__ACCESS_TOKEN": token}) as url:
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{url}/documents")
        box = page.get_by_label("Access token", exact=True)
        expect(box).to_be_visible()
        assert box.get_attribute("type") == "password"
        expect(page.get_by_role("link", name="Documents")).to_have_count(0)  # no page, no sidebar behind it
        expect(page.get_by_text("penguins.txt")).to_have_count(0)
        box.fill("not-the-token-0123456789")
        page.get_by_role("button", name="Open").click()
        expect(page.get_by_text("That is not this deeprag's access token", exact=False)).to_be_visible()
        expect(page.get_by_role("heading", name="Chat", exact=True)).to_have_count(0)
        box.fill(token)
        page.get_by_role("button", name="Open").click()
        expect(page.get_by_role("heading", name="Chat", exact=True)).to_be_visible()
        expect(page.get_by_label("Access token", exact=True)).to_have_count(0)


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_interface_follows_the_browser_language(browser, embedder, tmp_path, locale):
    """A browser set to Chinese gets the interface in Chinese, one set to English in English; the question's
    language, not the browser's, still decides the answer's (tests/test_grounding.py)."""
    lang = language_for(locale)
    with serve_ui(tmp_path, NO_LLM, embedder) as url:
        page = new_page(browser, url, locale)  # the Chat page's heading in the browser's language
        expect(page.get_by_placeholder(t("chat.input", lang))).to_be_visible()
        sidebar = page.locator('[data-testid="stSidebar"]')
        expect(sidebar.get_by_text(t("health.unreachable", lang))).to_be_visible()
        expect(sidebar.get_by_text(t("sidebar.index_size", lang, files=2, chunks=2))).to_be_visible()
        page.get_by_role("link", name=t("page.documents", lang)).click()
        expect(page.get_by_role("heading", name=t("docs.title", lang), exact=True)).to_be_visible()
        expect(page.get_by_role("button", name=t("docs.upload", lang))).to_be_visible()


def test_check_marks_render_in_the_browser(browser, app_url, ui_root):
    """Each verdict of the citation check as a reader meets it: badges with their tooltips after their sentences,
    a re-pointed citation leading to the passage that says it, the supporting sentence marked in a long chunk."""
    ChatStore(ui_root / "xdg" / "deeprag" / "chats").save(StoredChat("browser-marks-1", "marks", 0.0, [checked_turn()]))
    page = new_page(browser, f"{app_url}/?chat=browser-marks-1")
    answer = assistant_messages(page).first
    unsupported = answer.locator(".deeprag-unsupported")
    expect(unsupported).to_have_text("unsupported")
    expect(unsupported).to_have_attribute("title", "The cited passage [1] does not say this")
    expect(unsupported).to_have_css("background-color", "rgb(255, 225, 204)")  # drawn as a badge, not plain text
    expect(answer.locator(".deeprag-uncited")).to_have_text("no source")
    expect(answer.locator(".deeprag-badge")).to_have_count(2)  # nothing on the supported and filler sentences
    repointed = answer.locator('a[title^="The answer cited [1]"]')
    expect(repointed).to_have_text("[2]")
    repointed.click()  # it leads to card 2, the pandas passage
    expect(page.locator("#t1-source-2")).to_be_in_viewport()
    expect(page.locator(".st-key-card-t1-1 mark").first).to_have_text("Emperor penguins eat krill, fish and squid.")
    expect(page.locator(".st-key-card-t1-2 mark").first).to_have_text(
        "Giant pandas live in the bamboo forests of Sichuan.")


def test_citation_check_marks_the_real_answer(browser, app_url, ui_root):
    """The test server's model has random weights, so what it writes (and which mark each sentence gets) cannot
    be chosen; this checks that the check ran on the real answer and that the page shows exactly its verdicts.
    Each mark's rendering is pinned down with constructed answers in test_ui_apptest.py."""
    page = new_page(browser, app_url)
    set_max_tokens(page, 48)  # enough for a few sentences; 160 take minutes on a busy 2-core machine
    ask(page, "What do emperor penguins eat?")
    answer = assistant_messages(page).first
    expect(answer.get_by_text("first token", exact=False)).to_be_visible(timeout=ANSWER_MS)
    turn = stored_chat(ui_root, page)["turns"][0]
    statuses = [sentence["status"] for sentence in turn["checked"]]
    assert turn["state"] == "done" and statuses, "the citation check did not run"
    unsupported, uncited = answer.locator(".deeprag-unsupported"), answer.locator(".deeprag-uncited")
    expect(unsupported).to_have_count(statuses.count("unsupported"))
    expect(uncited).to_have_count(statuses.count("uncited"))
    for mark in (unsupported, uncited):
        for i in range(mark.count()):
            assert mark.nth(i).get_attribute("title")  # the tooltip that says why
    repointed = sum(len(s["supported_by"]) for s in turn["checked"] if s["status"] == "repointed")
    expect(answer.locator('a[title^="The answer cited"]')).to_have_count(repointed)
    warning = answer.get_by_text("No sentence of this answer is supported by the passages")
    expect(warning).to_have_count(1 if turn["grounded"] is False else 0)


def test_second_question_while_streaming_stop_and_reload_keep_every_turn(browser, app_url, ui_root, llm_server):
    page = new_page(browser, app_url)
    finished = vllm_metric(llm_server, "vllm:request_success_total")
    ask(page, "Which animals do emperor penguins hunt?")
    first = assistant_messages(page).first
    expect(first.get_by_text("▌", exact=False)).to_be_visible(timeout=ANSWER_MS)  # streaming: text and cursor
    # While it streams: a sidebar change (a rerun of the page) for the next question, then the question.
    set_max_tokens(page, 24)
    ask(page, "How deep do emperor penguins dive?")
    expect(user_messages(page)).to_have_count(2)
    expect(assistant_messages(page).nth(1).get_by_text("Queued", exact=False)).to_be_visible()
    expect(first.get_by_text("▌", exact=False)).to_be_visible()  # the first answer goes on streaming

    first.get_by_role("button", name="Stop").click()
    expect(first.locator(".deeprag-stopped")).to_be_visible()
    partial = first.locator('[data-testid="stMarkdownContainer"]').filter(has=page.locator(".deeprag-stopped"))
    stopped_text = partial.inner_text()
    assert len(stopped_text.replace("stopped", "").strip()) > 0  # the partial answer is kept
    second = assistant_messages(page).nth(1)
    expect(second.get_by_text("first token", exact=False)).to_be_visible(timeout=ANSWER_MS)  # then the queued one
    # Stop ended the request on the server too, not only on the page: of the two generations only the second
    # ran to its end (vLLM counts a request the client abandoned as no success).
    wait_for(lambda: vllm_metric(llm_server, "vllm:num_requests_running") == 0)
    assert vllm_metric(llm_server, "vllm:request_success_total") == finished + 1
    # The queued question was answered with the setting changed while the first one streamed.
    assert 0 < stored_chat(ui_root, page)["turns"][1]["tokens"][1] <= 24

    page.reload()  # a new browser session with the same URL: the whole chat is still there
    expect(user_messages(page)).to_have_count(2)
    expect(user_messages(page).first).to_contain_text("Which animals do emperor penguins hunt?")
    expect(user_messages(page).nth(1)).to_contain_text("How deep do emperor penguins dive?")
    first = assistant_messages(page).first
    expect(first.locator(".deeprag-stopped")).to_be_visible()
    again = first.locator('[data-testid="stMarkdownContainer"]').filter(has=page.locator(".deeprag-stopped"))
    assert again.inner_text() == stopped_text
    expect(assistant_messages(page).nth(1).get_by_text("first token", exact=False)).to_be_visible()

    # A new chat is empty; the old one is listed in the sidebar and reopens whole.
    page.get_by_role("button", name="New chat").click()
    expect(user_messages(page)).to_have_count(0)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_role("button", name="Which animals do emperor penguins hunt?").click()
    expect(user_messages(page)).to_have_count(2)
    expect(assistant_messages(page).first.locator(".deeprag-stopped")).to_be_visible()


def test_sidebar_settings_belong_to_one_session(browser, app_url, llm_server):
    first = new_page(browser, app_url)
    light = "🟢 LLM serving tiny-deepseek-v3"
    expect(first.get_by_text(light)).to_be_visible()
    first.get_by_text("bm25", exact=True).click()
    endpoint = first.get_by_label("Endpoint")
    endpoint.fill("http://127.0.0.1:9/v1")
    endpoint.press("Enter")
    expect(first.get_by_text("🔴 LLM unreachable")).to_be_visible()
    expect(first.get_by_role("radio", name="bm25")).to_be_checked()

    second = new_page(browser, app_url)  # another user: the server's settings, not the first user's changes
    expect(second.get_by_text(light)).to_be_visible()
    expect(second.get_by_label("Endpoint")).to_have_value(llm_server.url)
    expect(second.get_by_role("radio", name="hybrid")).to_be_checked()

    first.get_by_role("link", name="Documents").click()  # the first session keeps its own across its pages
    expect(first.get_by_role("heading", name="Documents", exact=True)).to_be_visible()
    # While the new page draws, the old page's sidebar can still be on screen beside it: wait for one light.
    expect(first.get_by_text("🔴 LLM unreachable")).to_have_count(1)
    expect(first.get_by_text("🔴 LLM unreachable")).to_be_visible()
    first.reload()  # a reload is a new session: the server's settings again
    expect(first.get_by_text(light)).to_be_visible()
    expect(first.get_by_role("radio", name="hybrid")).to_be_checked()


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
    screenshot(page, SCREENSHOTS / "chat.png")

    # Upload a new document on the Documents page; the next answer finds it.
    page.get_by_role("link", name="Documents").click()
    expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible()
    otters = write(tmp_path / "sea otters.txt", "Sea otters hold hands while they sleep so that the current does "
                                                 "not carry them apart. A group of resting otters is called a raft.")
    refused = write(tmp_path / "notes.exe", "MZ")
    upload_files(page, otters, refused)
    expect(page.get_by_text("1 added", exact=False)).to_be_visible()
    expect(page.get_by_text("3 documents", exact=False)).to_be_visible()
    # The refused file says why on the page (not only in a tooltip), and is not in the table.
    expect(page.get_by_text("notes.exe: file type '.exe' is not supported", exact=False)).to_be_visible()
    screenshot(page, SCREENSHOTS / "documents.png")

    page.get_by_role("link", name="Chat").click()
    # A standalone question (searched as asked): a rewrite by the random-weight model would search for gibberish.
    ask(page, "How do sea otters keep from drifting apart while sleeping?")
    third = assistant_messages(page).nth(2)
    expect(third.get_by_text("first token", exact=False)).to_be_visible()
    expect(third.locator("[class*=st-key-card-t3-]").filter(has_text="sea otters.txt ·").first).to_be_visible()

    # A second browser session sees none of this chat, and is not offered it in its chat list.
    other = new_page(browser, app_url)
    other.wait_for_timeout(1000)
    assert assistant_messages(other).count() == 0
    expect(other.locator('[data-testid="stSidebar"]').get_by_role("button", name="What do emperor penguins eat?")
           ).to_have_count(0)
    expect(page.locator('[data-testid="stSidebar"]').get_by_role("button", name="What do emperor penguins eat?")
           ).to_have_count(1)
    assert assistant_messages(page).count() == 3

    # The LLM server stops: the chat says so in one line and still shows the sources.
    llm_server.stop()
    ask(page, "What do emperor penguins eat?")
    fourth = assistant_messages(page).nth(3)
    expect(fourth.get_by_text("cannot reach the LLM server", exact=False)).to_be_visible()
    expect(page.locator(".st-key-card-t4-1").get_by_text("penguins.txt ·", exact=False)).to_be_visible()
