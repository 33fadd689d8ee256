"""Heavy objects, loaded once per server process and shared by every browser session (st.cache_resource):
the embedder, one Searcher per index directory, and the background job runner. Per-session state (the chat,
the settings being edited) lives in st.session_state instead, so sessions never see each other's chats.

A searcher is shared by index directory only: every retrieval setting a session changes (top-k, mode,
fusion, weights, reranking) travels with each query (``Searcher.search(query, settings)``), so no session
can be served another's settings by the cache."""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

from app.ui.jobs import JobRunner
from generation.llm import LLMClient, LLMError
from ground.config import Config, EmbeddingConfig, IndexConfig, LLMConfig, updated
from ground.errors import ConfigError
from ingest.embedder import Embedder, load_embedder
from ingest.errors import IndexMissing
from ingest.index_dir import Manifest
from retrieval.searcher import Searcher, embedding_for_index

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


@st.cache_resource
def job_runner() -> JobRunner:
    return JobRunner(embedder_for)


@st.cache_data(ttl=10, show_spinner=False)
def llm_health(base_url: str, model: str, api_key: str) -> tuple[bool, str]:
    """(reachable, one line) for the sidebar's light; asked at most every 10 s per endpoint."""
    try:
        probe = updated(LLMConfig(), {"base_url": base_url, "api_key": api_key, "model": model, "timeout_s": 3.0,
                                      "max_retries": 0})
        return True, f"serving {LLMClient(probe).model.name}"
    except (ConfigError, LLMError) as exc:
        return False, str(exc)
