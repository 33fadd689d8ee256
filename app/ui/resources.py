"""Objects made once per server process and shared by every browser session (st.cache_resource): the
embedder, one Searcher per index directory, the background job runner, and the open chats (each chat is
reached only through its own id, kept in its session and its URL). Per-session state (which chat is open,
the sidebar's settings) lives in st.session_state instead.

A searcher is shared by index directory only: every retrieval setting a session changes (top-k, mode,
fusion, weights, reranking) travels with each query (``Searcher.search(query, settings)``), so no session
can be served another's settings by the cache."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import streamlit as st

from app.ui.chat_store import ChatStore, chats_dir
from app.ui.conversation import Conversations
from app.ui.health import LLMHealth, check_llm
from app.ui.jobs import JobRunner
from ground.config import Config, EmbeddingConfig, IndexConfig
from ingest.embedder import Embedder, load_embedder
from ingest.errors import IndexMissing
from ingest.index_dir import Manifest
from retrieval.searcher import Searcher, embedding_for_index

log = logging.getLogger(__name__)

_refresh_lock = threading.Lock()


@st.cache_resource(show_spinner="Loading the embedding model…")
def _embedder(settings: EmbeddingConfig) -> Embedder:
    return load_embedder(settings)


def embedder_for(config: Config) -> Embedder:
    """The embedder an index was built with (its manifest decides), or the configured one for a new index."""
    try:
        manifest = Manifest.read(Path(config.index_dir))
    except IndexMissing:
        return _embedder(config.embedding)
    return _embedder(embedding_for_index(config.embedding, manifest.embedder, Path(config.index_dir)))


@st.cache_resource(show_spinner="Opening the index…")
def _searcher(index_dir: str, index: IndexConfig, embedding: EmbeddingConfig) -> Searcher:
    # The Searcher resolves the index's own embedder and loads it at the first dense search; load_embedder
    # keeps one instance per process, so the Documents page's jobs share it.
    return Searcher(Path(index_dir), index=index, embedding=embedding)


def searcher_for(config: Config) -> Searcher:
    """The shared Searcher for ``config.index_dir``, moved to the newest committed index first. Pass the
    session's ``config.retrieval`` with each query.

    Raises IndexMissing when there is no index there yet."""
    searcher = _searcher(str(config.index_dir), config.index, config.embedding)
    with _refresh_lock:  # two sessions refreshing at once would open the new snapshot twice
        searcher.refresh()
    return searcher


@st.cache_resource(show_spinner=False)
def _warming(index_dir: str, index: IndexConfig, embedding: EmbeddingConfig) -> threading.Thread:
    searcher = _searcher(index_dir, index, embedding)
    thread = threading.Thread(target=_load_embedder, args=(searcher,), name="deeprag-warm-up", daemon=True)
    thread.start()
    return thread


def warm_up(config: Config) -> None:
    """Start loading the index's embedding model in the background, once per index and process, when the chat
    is first opened: loading it (imports included) takes from seconds to minutes on a busy small machine, and
    the first question would otherwise wait for all of it. A question asked meanwhile waits only for the rest."""
    if config.retrieval.mode == "bm25":
        return
    try:
        _warming(str(config.index_dir), config.index, config.embedding)
    except IndexMissing:
        pass  # no index yet: nothing to search, nothing to load


def _load_embedder(searcher: Searcher) -> None:
    started = time.perf_counter()
    try:
        searcher.embedder  # noqa: B018 (the property loads the model)
    except Exception as exc:  # the question that needs it will report the failure; here only log it
        log.warning("could not load the embedding model in advance: %s", exc)
        return
    log.info("embedding model ready in %.1f s", time.perf_counter() - started)


@st.cache_resource
def job_runner() -> JobRunner:
    return JobRunner(embedder_for)


@st.cache_resource
def _conversations(directory: str) -> Conversations:
    return Conversations(ChatStore(Path(directory)))


def conversations() -> Conversations:
    """The chats of this server process, stored under the user data dir."""
    return _conversations(str(chats_dir()))


@st.cache_data(ttl=10, show_spinner=False)
def llm_health(base_url: str, model: str, api_key: str) -> LLMHealth:
    """The sidebar light's probe, asked at most every 10 s per endpoint and model."""
    return check_llm(base_url, model, api_key)
