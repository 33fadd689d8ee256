"""Drawing one chat turn: the finished (or stopped) answer with its marks and sources, or the answer still
being written, redrawn as the answering thread (app/ui/conversation.py) fills the turn in."""

from __future__ import annotations

import streamlit as st

from app.ui.answer_marks import badge, marked_answer
from app.ui.conversation import Conversation
from app.ui.source_cards import show_sources
from app.ui.texts import t
from app.ui.turn import Turn
from ground.config import Config

CURSOR = " ▌"
POLL_S = 0.4  # how often a streaming answer is redrawn (each redraw is a small script run)


def show_turn(turn: Turn, config: Config) -> None:
    """A turn that is no longer live, in the assistant's chat bubble."""
    if turn.empty_index:
        st.info(t("turn.empty_index"))
        st.page_link("views/documents.py", label=t("turn.add_documents"), icon="📄")
        return
    if turn.query:
        st.caption(t("turn.searched_for", query=turn.query))
    if turn.problem:
        st.warning(turn.problem, icon="⚠️")
    if turn.text:
        show_answer(turn)
    elif turn.state == "stopped":
        st.markdown(_stopped_badge() + " " + t("turn.stopped_early"), unsafe_allow_html=True)
    elif not turn.problem and turn.hits:
        st.caption(t("turn.no_text"))
    show_sources(turn, config)


def show_answer(turn: Turn) -> None:
    if turn.abstained:
        st.markdown(turn.text)  # deeprag's own sentence, in the question's language
    else:
        text = marked_answer(turn.text, turn.checked, len(turn.hits), turn.number)
        if turn.state == "stopped":
            text += " " + _stopped_badge()
        st.markdown(text, unsafe_allow_html=True)
    if turn.grounded is False:
        st.warning(t("marks.not_grounded"), icon="⚠️")
    if timings := turn.timings_line():
        st.caption(timings)
    with st.popover(t("turn.copy")):
        st.code(turn.text, language=None, wrap_lines=True)  # the code block's own button copies it


def show_live_turn(chat: Conversation, turn: Turn) -> None:
    """The turn being answered, redrawn from what the answering thread has written every ``POLL_S`` by a
    fragment, so each script run ends at once: a click or a new question never waits for the answer, and no
    element of an earlier run lingers on the page. When the turn ends, the whole page is drawn again."""

    @st.fragment(run_every=POLL_S)
    def live() -> None:
        if not turn.live:
            st.rerun()  # the whole app: the turn drawn whole, the next queued turn live
        st.button(t("turn.stop"), key=f"stop_{chat.id}_{turn.number}", on_click=chat.stop, args=(turn.number,),
                  help=t("turn.stop_help"))
        if turn.text:
            st.markdown(turn.text + CURSOR)  # no HTML allowed: the model's text as Markdown, as when finished
        elif turn.hits:
            st.caption(t("turn.writing", count=len(turn.hits)))
        else:
            st.caption(t("turn.searching") if turn.state == "answering" else t("turn.waiting"))

    live()


def show_queued() -> None:
    st.caption(t("turn.queued"))


def _stopped_badge() -> str:
    return badge("stopped", t("turn.stopped"), t("turn.stopped_tip"))
