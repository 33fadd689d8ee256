"""Which language the interface speaks to this browser session: English or Simplified Chinese.

The browser says what its user reads (``st.context.locale``, the page's ``navigator.language``); the sidebar
can override it for the session (a shared computer, a browser set up in another language). Only the
interface's own words follow this; an answer follows its question's language (generation/grounding.py).
"""

from __future__ import annotations

from typing import Literal

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

Lang = Literal["en", "zh"]
LANGUAGES: tuple[Lang, ...] = ("en", "zh")
FALLBACK: Lang = "en"
AUTO = "auto"
OVERRIDE_KEY = "ui_language"  # the sidebar's picker: AUTO or one of LANGUAGES


def language_for(locale: str | None) -> Lang:
    """The interface language for a browser locale such as ``zh-CN`` or ``en-US``; English when there is none
    or it is neither. Every Chinese locale (zh-TW and zh-HK too) gets the Simplified Chinese texts: a reader
    of Traditional Chinese reads them far more easily than English."""
    if not locale:
        return FALLBACK
    primary = locale.strip().replace("_", "-").split("-")[0].lower()
    return "zh" if primary == "zh" else FALLBACK


def current_language() -> Lang:
    """This session's language: the sidebar's choice, else the browser's. English outside a script run (no
    session, no browser), so code that also runs in plain tests and threads can ask too."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return FALLBACK
    chosen = st.session_state.get(OVERRIDE_KEY, AUTO)
    if chosen in LANGUAGES:
        return chosen
    return language_for(st.context.locale)
