"""The access gate of the Streamlit app: with ``ui.access_token`` set, a browser session sees nothing (no
sidebar, no page, no document) until it has typed the token once.

It runs at the top of app/ui/main.py on every rerun, before any page renders: Streamlit runs the main script
for every page of the app, so one check there covers them all. Success is remembered in the session (a reload
opens a new session and asks again) as a digest of the token, so a token changed in the configuration asks
every session again at its next rerun, and the token itself is never kept in session state.
"""

from __future__ import annotations

import hashlib
import hmac

import streamlit as st

from app.ui.texts import t
from ground.config import UIConfig

GRANTED_KEY = "access_granted"


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so the time a refusal takes tells nothing about how much of the token was
    right."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def require_access(settings: UIConfig) -> None:
    """Return when this session may use the app; otherwise draw the token form and end the run (st.stop)."""
    expected = settings.access_token.get_secret_value()
    if not expected or st.session_state.get(GRANTED_KEY) == _digest(expected):
        return
    st.title("deeprag")
    with st.form("access", clear_on_submit=True):
        given = st.text_input(t("access.token"), type="password", help=t("access.token_help"))
        submitted = st.form_submit_button(t("access.open"))
    if submitted:
        if token_matches(given.strip(), expected):
            st.session_state[GRANTED_KEY] = _digest(expected)
            st.rerun()
        st.error(t("access.wrong"))
    st.stop()
