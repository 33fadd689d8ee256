"""Heavy objects, loaded once per server process and shared by every browser session (st.cache_resource):
the embedder, one Searcher per index directory, and the background job runner. Per-session state (the chat,
the settings being edited) lives in st.session_state instead, so sessions never see each other's chats."""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

from app.config import Config
from app.llm import LLMClient, LLMError
from app.ui.jobs import JobRunner
from ingest.embedder import Embedder, load_embedder
from ingest.errors import IndexMissing
from ingest.index_dir import Manifest
from retrieval.searcher import Searcher, embedding_config_for

_refresh_lock = threading.Lock()


@st.cache_resource(show_spinner="Loading the embedding model…")
def _embedder(model: str, device: str, query_prefix: str | None, passage_prefix: str | None, batch_size: int) -> Embedder:
    from app.config import EmbeddingConfig

    return load_embedder(EmbeddingConfig(model, batch_size, device, query_prefix, passage_prefix))


def embedder_for(config: Config) -> Embedder:
    """The embedder an index was built with (its manifest decides), or the configured one for a new index."""
    try:
        settings = embedding_config_for(config, Manifest.read(Path(config.index_dir)).embedder)
    except IndexMissing:
        settings = config.embedding
    return _embedder(settings.model, settings.device, settings.query_prefix, settings.passage_prefix, settings.batch_size)


@st.cache_resource(show_spinner="Opening the index…")
def _searcher(index_dir: str, reranker_model: str, _config: Config) -> Searcher:
    # `_config` is not part of the cache key (leading underscore); index_dir and reranker_model are what the
    # Searcher keeps from it. k, mode and rerank are passed per query.
    return Searcher(_config, embedder=embedder_for(_config))


def searcher_for(config: Config) -> Searcher:
    """The shared Searcher for ``config.index_dir``, moved to the newest committed index first.

    Raises IndexMissing when there is no index there yet."""
    searcher = _searcher(str(config.index_dir), config.retrieval.reranker_model, config)
    with _refresh_lock:  # two sessions refreshing at once would open the new snapshot twice
        searcher.refresh()
    return searcher


@st.cache_resource
def job_runner() -> JobRunner:
    return JobRunner(embedder_for)


@st.cache_data(ttl=10, show_spinner=False)
def llm_health(base_url: str, model: str, api_key: str) -> tuple[bool, str]:
    """(reachable, one line) for the sidebar's light; asked at most every 10 s per endpoint."""
    from app.config import LLMConfig

    probe = LLMConfig(base_url=base_url, api_key=api_key, model=model, timeout_s=3.0, max_retries=0)
    try:
        return True, f"serving {LLMClient(probe).model.name}"
    except LLMError as exc:
        return False, str(exc)

