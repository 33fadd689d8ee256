"""Chat page: ask questions, watch the answers stream in, read the checked citations and their sources.

The chat is a `Conversation` (app/ui/conversation.py): its own thread answers the questions in order while
this page draws it, so nothing typed is lost to a rerun. This run queues a new question with this session's
settings and draws every turn; a fragment redraws the one being answered until it is done.
"""

from __future__ import annotations

import functools

import streamlit as st

from app.ui.answer_marks import STYLE
from app.ui.answering import answer_turn
from app.ui.chat_session import current_chat
from app.ui.conversation import Conversation
from app.ui.resources import searcher_for, warm_up
from app.ui.texts import t
from app.ui.turn import Turn
from app.ui.turn_view import show_live_turn, show_queued, show_turn
from generation.answer import AnswerPipeline
from generation.llm import LLMClient
from ground.config import Config
from ground.errors import DeepragError
from ingest.errors import IndexMissing

config: Config = st.session_state["config"]


def main() -> None:
    chat = current_chat()
    warm_up(config)
    st.title(t("page.chat"))
    st.html(STYLE)
    question = st.chat_input(t("chat.input"))  # pinned to the bottom wherever it is called
    if question:
        submit(chat, question, config)
    following = False
    for turn in list(chat.turns):
        with st.chat_message("user"):
            st.markdown(turn.question)
        with st.chat_message("assistant"):
            if not turn.live:
                show_turn(turn, config)
            elif not following:  # the first live turn is being answered (or is about to be)
                show_live_turn(chat, turn)
                following = True
            else:
                show_queued()
    if not chat.turns:
        st.caption(t("chat.where_from", index=config.index_dir, llm=config.llm.base_url))


def submit(chat: Conversation, question: str, settings: Config) -> None:
    """Queue ``question``, to be answered with ``settings`` (this session's, at the time it was asked)."""
    try:
        pipeline = AnswerPipeline(searcher_for(settings), LLMClient(settings.llm), settings.retrieval,
                                  settings.prompt, settings.grounding)
    except IndexMissing:
        chat.ask(question, None, prepared=_mark_empty)
        return
    except DeepragError as exc:
        chat.ask(question, None, prepared=functools.partial(_mark_problem, str(exc)))
        return
    chat.ask(question, functools.partial(answer_turn, pipeline))


def _mark_empty(turn: Turn) -> None:
    turn.empty_index = True


def _mark_problem(problem: str, turn: Turn) -> None:
    turn.problem, turn.state = problem, "failed"


main()
