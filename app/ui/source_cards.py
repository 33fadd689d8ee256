"""The source cards under an answer: the passages it cites, with the sentences that support it marked, then
the other retrieved passages. When the pipeline abstained, the closest passages instead, each visibly marked
"low relevance": they are what was found, not what an answer rests on."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.ui.citations import Span, anchor, highlighted_html, in_context, preview, support_spans, supporting_claims
from app.ui.resources import searcher_for
from app.ui.texts import t
from app.ui.turn import Turn, scores_line
from generation.citations import parse_citations
from ground.config import Config
from ground.errors import DeepragError
from retrieval.hits import SearchHit

PREVIEW_CHARS = 600


def show_sources(turn: Turn, config: Config) -> None:
    """Cards for the cited passages; the rest of the retrieved ones behind an expander."""
    if turn.abstained:
        if turn.hits:
            st.markdown(f"**{t('sources.closest')}** :orange-badge[{t('sources.low_relevance')}]")
            st.caption(t("sources.none_relevant"))
            for number in range(1, len(turn.hits) + 1):
                source_card(turn, number, config)
        return
    cited = [n for n in _cited(turn) if 1 <= n <= len(turn.hits)]
    others = [n for n in range(1, len(turn.hits) + 1) if n not in cited]
    if cited:
        st.markdown(f"**{t('sources.sources')}**")
        for number in cited:
            source_card(turn, number, config)
    if not others:
        return
    if not cited:
        st.markdown(f"**{t('sources.retrieved')}**")
        for number in others:
            source_card(turn, number, config)
    else:
        with st.expander(t("sources.more", count=len(others))):
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
            st.markdown(f"**{name}** :orange-badge[{t('sources.low_relevance')}]")
        else:
            st.markdown(f"**[{number}] {name}**")
        where = [Path(chunk.source).name, t("sources.page", page=chunk.page) if chunk.page else "",
                 t("sources.characters", start=chunk.start, end=chunk.end), scores_line(hit)]
        st.caption(" · ".join(part for part in where if part))
        shown, shown_spans = preview(chunk.text, spans, PREVIEW_CHARS)
        st.markdown(highlighted_html(shown, shown_spans), unsafe_allow_html=True)
        with st.expander(t("sources.whole")):
            st.markdown(_whole_passage(hit, spans, config), unsafe_allow_html=True)
            st.caption(chunk.source)


def _cited(turn: Turn) -> list[int]:
    """The passages to show as sources, each once (a passage several sentences cite or were re-pointed to is
    one card): the check's list for a finished answer; for one stopped halfway (no check ran), the numbers its
    partial text cites."""
    numbers = turn.cited if turn.state != "stopped" else parse_citations(turn.text, len(turn.hits))
    return list(dict.fromkeys(numbers))


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
