"""The sidebar's chat section: a "New chat" button and this browser's recent chats, each reopened with one
click."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from app.ui.chat_session import browser_id, current_chat, open_chat, start_new_chat
from app.ui.resources import conversations
from app.ui.texts import t

RECENT_CHATS = 15


def render_chat_list() -> None:
    """Draw the section (inside ``st.sidebar``)."""
    current = current_chat().id
    st.subheader(t("chats.title"))
    st.button(t("chats.new"), key="new_chat", on_click=start_new_chat, width="stretch")
    for chat in conversations().store.recent(browser_id(), RECENT_CHATS):
        when = dt.datetime.fromtimestamp(chat.updated).strftime("%d %b %H:%M")
        st.button(chat.title, key=f"open_chat_{chat.id}", on_click=open_chat, args=(chat.id,),
                  type="primary" if chat.id == current else "tertiary", disabled=chat.id == current,
                  help=_turns_line(chat.turns, when), width="stretch")


def _turns_line(turns: int, when: str) -> str:
    return t("chats.one_question", when=when) if turns == 1 else t("chats.questions", count=turns, when=when)
