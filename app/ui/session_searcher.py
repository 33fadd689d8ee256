"""The shared Searcher seen with one session's retrieval settings.

One Searcher (index snapshot and models) serves every browser session, but top-k, mode and rerank are
sidebar settings of each session. AnswerPipeline calls ``searcher.search(query)`` and relies on the
searcher's defaults, so each session wraps the shared searcher in this adapter with its own defaults.
"""

from __future__ import annotations

from app.config import RetrievalConfig
from ingest.index_dir import IndexSnapshot
from retrieval.searcher import Mode, Searcher, SearchResult


class SessionSearcher:
    def __init__(self, shared: Searcher, settings: RetrievalConfig):
        self.shared = shared
        self.settings = settings

    @property
    def snapshot(self) -> IndexSnapshot:
        return self.shared.snapshot

    def search(self, query: str, k: int | None = None, mode: Mode | None = None, rerank: bool | None = None) -> SearchResult:
        return self.shared.search(
            query,
            k=k or self.settings.k,
            mode=mode or self.settings.mode,
            rerank=self.settings.rerank if rerank is None else rerank,
        )
