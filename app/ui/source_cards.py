"""The source cards under an answer: the passages it cites, with the sentences that support it marked, then
the other retrieved passages. When the pipeline abstained, the closest passages instead, each visibly marked
"low relevance": they are what was found, not what an answer rests on."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.ui.citations import Span, anchor, highlighted_html, in_context, preview, support_spans, supporting_claims
from app.ui.resources import searcher_for
from app.ui.turn import Turn, scores_line
from generation.citations import parse_citations
from ground.config import Config
from ground.errors import DeepragError
from retrieval.hits import SearchHit

PREVIEW_CHARS = 600
LOW_RELEVANCE = "low relevance"


def show_sources(turn: Turn, config: Config) -> None:
    """Cards for the cited passages; the rest of the retrieved ones behind an expander."""
    if turn.abstained:
        if turn.hits:
            st.markdown(f"**Closest passages** :orange-badge[{LOW_RELEVANCE}]")
            st.caption("None was relevant enough to answer from, so no answer was written from them.")
            for number in range(1, len(turn.hits) + 1):
                source_card(turn, number, config)
        return
    cited = [n for n in _cited(turn) if 1 <= n <= len(turn.hits)]
    others = [n for n in range(1, len(turn.hits) + 1) if n not in cited]
    if cited:
        st.markdown("**Sources**")
        for number in cited:
            source_card(turn, number, config)
    if not others:
        return
    if not cited:
        st.markdown("**Retrieved passages**")
        for number in others:
            source_card(turn, number, config)
    else:
        with st.expander(f"{len(others)} more retrieved passages"):
            for number in others:
                source_card(turn, number, config)


def source_card(turn: Turn, number: int, config: Config) -> None:
    hit = turn.hits[number - 1]
    chunk = hit.chunk
    spans = support_spans(chunk.text, supporting_claims(turn.checked, turn.text, number)) if not turn.abstained else []
    # The key gives the card a CSS class (st-key-card-t1-2) that the browser test finds it by.
    with st.container(border=True, key=f"card-t{turn.number}-{number}"):
        st.markdown(f'<div id="{anchor(turn.number, number)}"></div>', unsafe_allow_html=True)
        name = chunk.title or Path(chunk.source).name
        if turn.abstained:  # not a citation: no [n], and the mark says why it is shown
            st.markdown(f"**{name}** :orange-badge[{LOW_RELEVANCE}]")
        else:
            st.markdown(f"**[{number}] {name}**")
        page = f" · page {chunk.page}" if chunk.page else ""
        st.caption(f"{Path(chunk.source).name}{page} · characters {chunk.start}–{chunk.end} · {scores_line(hit)}")
        shown, shown_spans = preview(chunk.text, spans, PREVIEW_CHARS)
        st.markdown(highlighted_html(shown, shown_spans), unsafe_allow_html=True)
        with st.expander("Whole passage"):
            st.markdown(_whole_passage(hit, spans, config), unsafe_allow_html=True)
            st.caption(chunk.source)


def _cited(turn: Turn) -> list[int]:
    """The passages to show as sources: the check's list for a finished answer; for one stopped halfway
    (no check ran), the numbers its partial text cites."""
    return turn.cited if turn.state != "stopped" else parse_citations(turn.text, len(turn.hits))


def _whole_passage(hit: SearchHit, spans: list[Span], config: Config) -> str:
    """The chunk among its neighbours: the supporting sentences marked, else the chunk itself."""
    chunk = hit.chunk
    try:
        text, where = in_context(searcher_for(config).snapshot.docstore, chunk)
    except DeepragError:
        text, where = chunk.text, (0, len(chunk.text))
    if text[where[0]:where[1]] != chunk.text:  # a stored chat from before the index changed
        text, where = chunk.text, (0, len(chunk.text))
    marks = [(where[0] + a, where[0] + b) for a, b in spans] or [where]
    return highlighted_html(text, marks)
