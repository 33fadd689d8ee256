"""Which chat a browser session has open.

The id lives in the URL (``?chat=<id>``), so a reload, or a bookmark, reopens the same conversation, and in
st.session_state, because Streamlit drops the query string when the user moves to another page and back. An
id from the URL is untrusted input: anything but a well-formed id is ignored.
"""

from __future__ import annotations

import logging

import streamlit as st

from app.ui.chat_store import new_chat_id, valid_chat_id
from app.ui.conversation import Conversation
from app.ui.resources import conversations

log = logging.getLogger(__name__)

QUERY_KEY = "chat"
SESSION_KEY = "chat_id"


def current_chat() -> Conversation:
    """This session's chat: the one the URL names, else the one it had open, else a new one; the URL is
    made to name it."""
    wanted = st.query_params.get(QUERY_KEY)
    if wanted is not None and not valid_chat_id(wanted):
        log.warning("ignoring malformed chat id in the URL: %r", wanted[:80])
    if not valid_chat_id(wanted):
        wanted = st.session_state.get(SESSION_KEY)
    chat_id = wanted if valid_chat_id(wanted) else new_chat_id()
    _show(chat_id)
    return conversations().get(chat_id)


def open_chat(chat_id: str) -> None:
    """Widget callback: switch this session to ``chat_id``."""
    _show(chat_id)


def start_new_chat() -> None:
    """Widget callback: an empty chat (the old one stays listed)."""
    _show(new_chat_id())


def _show(chat_id: str) -> None:
    st.session_state[SESSION_KEY] = chat_id
    if st.query_params.get(QUERY_KEY) != chat_id:
        st.query_params[QUERY_KEY] = chat_id
