"""Which browser this is, and which chat it has open.

Both ids live in the URL (``?browser=<id>&chat=<id>``), so a reload, or a bookmark, reopens the same
conversation and lists the same chats, and in st.session_state, because Streamlit drops the query string
when the user moves to another page; the browser id is put back on every page (`browser_id`, called by
main.py), so a reload of the Documents page keeps it too. Streamlit cannot set a cookie, so the URL is the
one place that outlives a session. The browser id owns the chats started under it: the sidebar lists those
and no other user's. Ids from the URL are untrusted input: anything but a well-formed id is ignored.
"""

from __future__ import annotations

import logging

import streamlit as st

from app.ui.chat_store import new_id, valid_id
from app.ui.conversation import Conversation
from app.ui.resources import conversations

log = logging.getLogger(__name__)

CHAT_QUERY_KEY = "chat"
CHAT_SESSION_KEY = "chat_id"
BROWSER_QUERY_KEY = "browser"
BROWSER_SESSION_KEY = "browser_id"


def browser_id() -> str:
    """This browser's id: the URL's, else this session's, else a new one; the URL is made to carry it."""
    return _kept(BROWSER_QUERY_KEY, BROWSER_SESSION_KEY)


def current_chat() -> Conversation:
    """This session's chat: the one the URL names, else the one it had open, else a new one owned by this
    browser; the URL is made to name it."""
    return conversations().get(_kept(CHAT_QUERY_KEY, CHAT_SESSION_KEY), owner=browser_id())


def open_chat(chat_id: str) -> None:
    """Widget callback: switch this session to ``chat_id``."""
    _show(CHAT_QUERY_KEY, CHAT_SESSION_KEY, chat_id)


def start_new_chat() -> None:
    """Widget callback: an empty chat (the old one stays listed)."""
    _show(CHAT_QUERY_KEY, CHAT_SESSION_KEY, new_id())


def _kept(query_key: str, session_key: str) -> str:
    """The id under ``query_key`` in the URL if well-formed, else the session's, else a fresh one; kept in
    both places."""
    wanted = st.query_params.get(query_key)
    if wanted is not None and not valid_id(wanted):
        log.warning("ignoring malformed %s id in the URL: %r", query_key, wanted[:80])
    if not valid_id(wanted):
        wanted = st.session_state.get(session_key)
    value = wanted if valid_id(wanted) else new_id()
    _show(query_key, session_key, value)
    return value


def _show(query_key: str, session_key: str, value: str) -> None:
    st.session_state[session_key] = value
    if st.query_params.get(query_key) != value:
        st.query_params[query_key] = value
