"""The interface's words in English and Chinese (app/ui/texts.py) and the choice between them
(app/ui/language.py): every text in both languages with the same placeholders, every key the UI asks for
defined and every defined key used, the browser's locale mapped to a language, and pages drawn in it."""

from __future__ import annotations

import re
import string

import pytest
from app.ui.language import OVERRIDE_KEY, language_for
from app.ui.texts import TEXTS, t
from tests.conftest import REPO
from tests.test_ui_apptest import app, ui_env  # noqa: F401 (fixture: a private index, runs dir and data dir)

UI = REPO / "app" / "ui"
CJK = re.compile(r"[\u4e00-\u9fff]")
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_.]+)["']""")  # t("page.chat")
KEY_PREFIX = re.compile(r"""\bt\(\s*f["']([a-z_.]+)\{""")  # t(f"doc.{state}"): every key under the prefix


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_text_has_both_languages_with_the_same_placeholders(key):
    text = TEXTS[key]
    assert text.en.strip() and text.zh.strip()
    assert fields(text.en) == fields(text.zh)
    assert text.zh == text.en or CJK.search(text.zh), "the Chinese text is still English"
    filled = {name: "X" for name in fields(text.en)}
    assert "{" not in t(key, "en", **filled) and "{" not in t(key, "zh", **filled)


def test_every_key_the_ui_asks_for_exists_and_every_text_is_used():
    sources = "\n".join(path.read_text(encoding="utf-8") for path in UI.rglob("*.py") if path.name != "texts.py")
    used = set(LITERAL_KEY.findall(sources))
    prefixes = set(KEY_PREFIX.findall(sources))
    assert used and prefixes
    assert used - set(TEXTS) == set(), "asked for but not in the catalogue"
    assert {p for p in prefixes if not any(k.startswith(p) for k in TEXTS)} == set()
    unused = {k for k in TEXTS if k not in used and not any(k.startswith(p) for p in prefixes)}
    assert unused == set(), "in the catalogue but never shown"


@pytest.mark.parametrize(("locale", "language"), [
    ("zh-CN", "zh"), ("zh-TW", "zh"), ("zh", "zh"), ("zh_Hans_CN", "zh"), ("ZH-cn", "zh"),
    ("en-US", "en"), ("en", "en"), ("fr-FR", "en"), ("", "en"), (None, "en"),
])
def test_the_browser_locale_picks_the_language(locale, language):
    assert language_for(locale) == language


def test_fields_are_filled_in_the_chosen_language():
    assert t("turn.writing", "en", count=3) == "Found 3 passages; writing the answer…"
    assert t("turn.writing", "zh", count=3) == "找到 3 个段落，正在撰写回答…"
    assert t("page.chat") == "Chat"  # outside a page run: no browser, English


@pytest.mark.parametrize(("locale", "language"), [("zh-CN", "zh"), ("en-US", "en"), (None, "en")])
def test_the_chat_page_speaks_the_browsers_language(ui_env, locale, language):  # noqa: F811
    at = app(locale=locale)
    assert at.title[0].value == t("page.chat", language)
    assert [s.value for s in at.sidebar.subheader] == [t(k, language) for k in (
        "chats.title", "sidebar.index", "sidebar.retrieval", "sidebar.llm")]
    assert at.sidebar.markdown[-1].value == t("health.unreachable", language)
    assert at.sidebar.slider(key="set_k").label == t("sidebar.top_k", language)


def test_the_sidebar_overrides_the_browser_for_this_session(ui_env):  # noqa: F811
    at = app(locale="zh-CN")
    assert at.title[0].value == "对话"
    at.sidebar.slider(key="set_k").set_value(9).run()
    at.sidebar.selectbox(key=OVERRIDE_KEY).set_value("en").run()
    assert at.title[0].value == "Chat"
    assert at.sidebar.subheader[1].value == "Index"
    at.run()  # relabelled widgets keep their values: the choice sticks, and so do the other settings
    assert at.title[0].value == "Chat" and at.sidebar.selectbox(key=OVERRIDE_KEY).value == "en"
    assert at.sidebar.slider(key="set_k").value == 9 and at.session_state["config"].retrieval.k == 9
    fresh = app(locale="zh-CN")  # another session keeps its browser's language
    assert fresh.title[0].value == "对话"


def test_the_documents_and_benchmarks_pages_speak_chinese_too(ui_env):  # noqa: F811
    documents = app("documents", "zh-CN")
    assert documents.title[0].value == "文档"
    assert documents.info[0].value == t("docs.none", "zh")
    assert documents.subheader[0].value == "文档状态"
    benchmarks = app("benchmarks", "zh-CN")
    assert benchmarks.title[0].value == "基准测试"
    assert benchmarks.info[0].value == t("bench.no_runs", "zh", folder=(ui_env / "runs").resolve())
