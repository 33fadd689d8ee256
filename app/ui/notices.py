"""Messages about what a user just did (an upload refused and why, a name made safe, a job that could not
start) that stay on the page until that user dismisses them.

A message drawn once with st.error vanishes at the page's next redraw, which the Documents page does by itself
a second or two later when a job ends; these live in the session's state instead and are drawn on every run.
They are per session: another user's refused upload is none of this user's business.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

import streamlit as st

from app.display import one_line
from app.ui.texts import t

Level = Literal["error", "warning", "info", "success"]
KEY = "page_notices"
_ids = itertools.count(1)


@dataclass(frozen=True)
class Notice:
    id: int
    level: Level
    text: str


def plain(text: str) -> str:
    """``text`` shown as it is in Streamlit's markdown: file names and reasons come from users and documents,
    and ``*``, ``_``, ``[..](..)``, ``$`` or ``:red[..]`` in them must not turn into formatting or links."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", one_line(text))


def notify(level: Level, text: str) -> None:
    """Keep ``text`` on the page for this session until dismissed; the same message twice is kept once."""
    notices: list[Notice] = st.session_state.setdefault(KEY, [])
    if not any(n.text == text and n.level == level for n in notices):
        notices.append(Notice(next(_ids), level, text))


def dismiss(notice_id: int | None = None) -> None:
    """Drop one notice, or all of them with None (a button callback)."""
    st.session_state[KEY] = [n for n in st.session_state.get(KEY, []) if notice_id is not None and n.id != notice_id]


def render_notices() -> None:
    """Each notice in its colour with a Dismiss button; one button for all when there are several."""
    notices: list[Notice] = st.session_state.get(KEY, [])
    for notice in notices:
        text_col, button_col = st.columns([12, 1], vertical_alignment="center")
        with text_col:
            getattr(st, notice.level)(plain(notice.text))
        button_col.button(t("notices.dismiss"), key=f"dismiss-notice-{notice.id}", on_click=dismiss, args=(notice.id,))
    if len(notices) > 1:
        st.button(t("notices.dismiss_all"), key="dismiss-all-notices", on_click=dismiss)
