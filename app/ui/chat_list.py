"""The sidebar's chat section: a "New chat" button and this browser's recent chats, each reopened with one
click."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from app.ui.chat_session import browser_id, current_chat, open_chat, start_new_chat
from app.ui.resources import conversations

RECENT_CHATS = 15


def render_chat_list() -> None:
    """Draw the section (inside ``st.sidebar``)."""
    current = current_chat().id
    st.subheader("Chats")
    st.button("➕ New chat", key="new_chat", on_click=start_new_chat, width="stretch")
    for chat in conversations().store.recent(browser_id(), RECENT_CHATS):
        when = dt.datetime.fromtimestamp(chat.updated).strftime("%d %b %H:%M")
        st.button(chat.title, key=f"open_chat_{chat.id}", on_click=open_chat, args=(chat.id,),
                  type="primary" if chat.id == current else "tertiary", disabled=chat.id == current,
                  help=f"{chat.turns} question{'s' if chat.turns != 1 else ''} · {when}", width="stretch")
