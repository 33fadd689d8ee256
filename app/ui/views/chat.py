"""Chat page: ask questions, watch the answer stream in, read the cited sources.

The conversation lives in ``st.session_state["messages"]`` (one browser session each); the searcher and
models are shared through app.ui.resources. Each turn runs AnswerPipeline.stream: sources are known when
retrieval ends, tokens are written as they arrive, and the finished answer replaces the stream with a version
whose [n] link to the source cards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import streamlit as st

from app.ui.citations import anchor, cited_span, citing_sentences, highlighted_html, in_context, link_citations
from app.ui.resources import searcher_for
from app.ui.turn import Turn, scores_line
from generation.answer import AnswerPipeline, Finished, Retrieved, TokenDelta
from generation.llm import LLMClient, LLMError
from ground.config import Config
from ground.errors import DeepragError
from ingest.errors import IndexMissing
from retrieval.hits import SearchHit
from retrieval.searcher import EmptyIndex

HISTORY_TURNS = 3  # earlier question/answer pairs sent along for rewriting follow-ups
PREVIEW_CHARS = 600

config: Config = st.session_state["config"]


def main() -> None:
    st.title("Chat")
    messages: list[Turn] = st.session_state.setdefault("messages", [])
    for turn in messages:
        with st.chat_message("user"):
            st.markdown(turn.question)
        with st.chat_message("assistant"):
            show_turn(turn)
    question = st.chat_input("Ask a question about your documents")
    if not question:
        if not messages:
            st.caption(f"Answers come from the index at `{config.index_dir}` and the LLM at {config.llm.base_url}.")
        return
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        turn = answer(question, messages)
        show_turn(turn)
    messages.append(turn)


def answer(question: str, earlier: list[Turn]) -> Turn:
    """Run the pipeline for ``question``, streaming tokens into the page; never raises a DeepragError."""
    turn = Turn(len(earlier) + 1, question)
    history = []
    for past in earlier[-HISTORY_TURNS:]:
        if past.text:
            history += [{"role": "user", "content": past.question}, {"role": "assistant", "content": past.text}]
    try:
        pipeline = AnswerPipeline(searcher_for(config), LLMClient(config.llm), config.retrieval, config.prompt,
                                  config.grounding)
        events = pipeline.stream(question, history)
        stream_area = st.empty()  # the stream is drawn here, then cleared for the final, linked answer
        with stream_area:
            st.write_stream(_tokens(events, turn))
        stream_area.empty()
    except (IndexMissing, EmptyIndex):
        turn.empty_index = True
    except LLMError as exc:
        turn.problem = str(exc)
        turn.hits = list(exc.hits) or turn.hits
    except DeepragError as exc:
        turn.problem = str(exc)
    return turn


def _tokens(events: Iterator, turn: Turn) -> Iterator[str]:
    """The text deltas of ``events``, recording retrieval and the finished answer on ``turn`` on the way."""
    for event in events:
        if isinstance(event, Retrieved):
            turn.hits, turn.timings_ms = event.hits, dict(event.timings_ms)
            turn.query = event.query if event.rewritten else ""
        elif isinstance(event, TokenDelta):
            yield event.text
        elif isinstance(event, Finished):
            done = event.answer
            turn.text, turn.hits, turn.timings_ms = done.text, done.hits, done.timings_ms
            turn.cited = [c.number for c in done.citations]
            turn.tokens = (done.usage.prompt_tokens, done.usage.completion_tokens)


def show_turn(turn: Turn) -> None:
    if turn.empty_index:
        st.info("The index has no documents yet, so there is nothing to answer from.")
        st.page_link("views/documents.py", label="Add documents on the Documents page", icon="📄")
        return
    if turn.query:
        st.caption(f"Searched for: {turn.query}")
    if turn.problem:
        st.warning(turn.problem, icon="⚠️")
    if turn.text:
        st.markdown(link_citations(turn.text, len(turn.hits), turn.number))
        st.caption(turn.timings_line())
        with st.popover("📋 Copy answer"):
            st.code(turn.text, language=None, wrap_lines=True)  # the code block's own button copies it
    elif not turn.problem and turn.hits:
        st.caption("The model returned no text.")
    show_sources(turn)


def show_sources(turn: Turn) -> None:
    """Cards for the cited passages; the rest of the retrieved ones behind an expander."""
    cited = [n for n in turn.cited if 1 <= n <= len(turn.hits)]
    others = [n for n in range(1, len(turn.hits) + 1) if n not in cited]
    if cited:
        st.markdown("**Sources**")
        for number in cited:
            source_card(turn, number)
    if others:
        heading = "Retrieved passages" if not cited else f"{len(others)} more retrieved passages"
        if not cited:
            st.markdown(f"**{heading}**")
            for number in others:
                source_card(turn, number)
        else:
            with st.expander(heading):
                for number in others:
                    source_card(turn, number)


def source_card(turn: Turn, number: int) -> None:
    hit = turn.hits[number - 1]
    chunk = hit.chunk
    span = cited_span(chunk.text, citing_sentences(turn.text, number)) if number in turn.cited else None
    # The key gives the card a CSS class (st-key-card-t1-2) that the browser test finds it by.
    with st.container(border=True, key=f"card-t{turn.number}-{number}"):
        st.markdown(f'<div id="{anchor(turn.number, number)}"></div>', unsafe_allow_html=True)
        page = f" · page {chunk.page}" if chunk.page else ""
        st.markdown(f"**[{number}] {chunk.title or Path(chunk.source).name}**")
        st.caption(f"{Path(chunk.source).name}{page} · characters {chunk.start}–{chunk.end} · {scores_line(hit)}")
        preview = chunk.text if len(chunk.text) <= PREVIEW_CHARS else _preview(chunk.text, span)
        shown_span = span if preview is chunk.text else None
        st.markdown(highlighted_html(preview, shown_span), unsafe_allow_html=True)
        with st.expander("Whole passage"):
            st.markdown(_whole_passage(hit, span), unsafe_allow_html=True)
            st.caption(chunk.source)


def _whole_passage(hit: SearchHit, span: tuple[int, int] | None) -> str:
    """The chunk among its neighbours, the chunk marked (and within it the cited sentence, bolder)."""
    try:
        text, where = in_context(searcher_for(config).snapshot.docstore, hit.chunk)
    except DeepragError:
        text, where = hit.chunk.text, (0, len(hit.chunk.text))
    if span is not None:
        where = (where[0] + span[0], where[0] + span[1])
    return highlighted_html(text, where)


def _preview(text: str, span: tuple[int, int] | None) -> str:
    start = max(0, (span[0] if span else 0) - PREVIEW_CHARS // 4)
    cut = text[start:start + PREVIEW_CHARS]
    return ("… " if start else "") + cut + (" …" if start + PREVIEW_CHARS < len(text) else "")


main()
