"""Search an index directory: first stages (dense, BM25), fusion, reranking, composed per query.

The searcher holds what is expensive and shared (the open index snapshot, the embedder) and takes the
retrieval settings per query, so one searcher serves every UI session and evaluation setting. Each stage is a
small component (``retrieval.retrievers``, ``retrieval.fusion``, ``retrieval.reranker``) with its own timing;
``run`` executes any composition of them, ``search`` the one the settings describe.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ground.config import Config, EmbeddingConfig, IndexConfig, Mode, RetrievalConfig, updated
from ground.errors import DeepragError
from ingest.embedder import Embedder, load_embedder
from ingest.errors import IndexMismatch
from ingest.index_dir import IndexSnapshot, open_docstore, open_snapshot
from retrieval.fusion import Fusion, fusion_for
from ingest.corpus_languages import measure
from ingest.language import describe
from retrieval import language
from retrieval.adaptation.store import Adaptation
from retrieval.hits import Candidates, SearchHit, SearchResult
from retrieval.reranker import CrossEncoderRerank, RerankerUnavailable, load_reranker
from retrieval.retrievers import Bm25Retriever, CandidateRetriever, DenseRetriever

log = logging.getLogger(__name__)


class EmptyQuery(DeepragError):
    pass


class EmptyIndex(DeepragError):
    pass


@dataclass
class Stages:
    """One query's composition: first stages (their lists are fused when there are several), then an
    optional rerank over the fused head."""

    retrievers: list[CandidateRetriever]
    fusion: Fusion | None = None
    rerank: CrossEncoderRerank | None = None


def embedding_for_index(embedding: EmbeddingConfig, index_embedder: str, directory: Path) -> EmbeddingConfig:
    """The index decides its embedder (an index directory describes itself); naming a different model
    explicitly is refused rather than silently searched with the wrong vectors."""
    asked = embedding.model
    if asked not in (index_embedder, EmbeddingConfig().model):
        raise IndexMismatch(
            f"index at {directory} was built with embedding.model = '{index_embedder}', "
            f"but the settings ask for '{asked}'; drop the setting, use another --index, or re-embed this one "
            f"with `deeprag ingest --reembed --embedder {asked} --index {directory}`"
        )
    return updated(embedding, {"model": index_embedder})


class Searcher:
    """Holds one consistent index snapshot and the embedder; safe to share between threads."""

    def __init__(
        self,
        index_dir: Path,
        settings: RetrievalConfig | None = None,
        index: IndexConfig | None = None,
        embedding: EmbeddingConfig | None = None,
        embedder: Embedder | None = None,
    ):
        self.directory = Path(index_dir)
        self.settings = settings or RetrievalConfig()
        self._index_settings = index or IndexConfig()
        self._device = (embedding or EmbeddingConfig()).device
        self._lock = threading.Lock()
        self._snapshot = open_snapshot(self.directory, self._index_settings)
        # Checked now (a mismatch is a settings error), loaded at the first dense search: an empty index or a
        # BM25-only search never waits for the model.
        self._configured_embedding = embedding or EmbeddingConfig()
        self._embedding = embedding_for_index(self._configured_embedding, self._snapshot.manifest.embedder, self.directory)
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._adaptation = self._read_adaptation(self._snapshot)

    @property
    def embedder(self) -> Embedder:
        # Locked: concurrent first queries (an evaluation's workers, two chat sessions) load the model once.
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = load_embedder(self._embedding)
        return self._embedder

    @classmethod
    def for_config(cls, config: Config, embedder: Embedder | None = None) -> "Searcher":
        """A searcher over ``config.index_dir`` with the sections it reads."""
        return cls(config.index_dir, config.retrieval, config.index, config.embedding, embedder)

    @property
    def snapshot(self) -> IndexSnapshot:
        return self._snapshot

    def refresh(self) -> bool:
        """Reopen the index if an ingestion committed since; returns whether it did. Queries in flight keep
        the snapshot they started with."""
        docstore = open_docstore(self.directory)
        try:
            changed = docstore.generation() != self._snapshot.generation
        finally:
            docstore.close()
        if changed:
            fresh = open_snapshot(self.directory, self._index_settings)
            with self._lock, self._embedder_lock:
                if fresh.manifest.embedder != self._embedding.model:  # re-embedded meanwhile: its model now
                    self._embedding = embedding_for_index(
                        updated(self._configured_embedding, {"model": fresh.manifest.embedder}),
                        fresh.manifest.embedder, self.directory)
                    self._embedder = None
                self._snapshot = fresh  # the old snapshot's connection closes when its last query lets go
                self._adaptation = self._read_adaptation(fresh)
        return changed

    def search(
        self,
        query: str,
        settings: RetrievalConfig | None = None,
        *,
        k: int | None = None,
        mode: Mode | None = None,
        rerank: bool | None = None,
        candidates: int | None = None,
        use_adaptation: bool = True,
    ) -> SearchResult:
        """The best ``k`` chunks for ``query`` under ``settings`` (default: the searcher's), with any of k,
        mode, rerank and candidates (per first stage) changed for this call; changes are checked like any
        setting. The evaluation asks for deeper lists than a user would, to score recall@100. The index's
        adaptation is applied unless ``use_adaptation`` is False (`deeprag adapt` itself starts without it)."""
        settings = updated(settings or self.settings, {"k": k, "mode": mode, "rerank": rerank, "candidates": candidates})
        snapshot = self._snapshot
        self._check(query, snapshot)  # before the stages: they load models
        settings, adaptation = self.adapted(settings) if use_adaptation else (settings, None)
        plan = self.route(query, settings, snapshot)
        result = self.run(query, self.stages(settings, snapshot, plan), settings, snapshot, plan)
        result.adaptation = adaptation
        return result

    def adapted(self, settings: RetrievalConfig) -> tuple[RetrievalConfig, dict | None]:
        """``settings`` with the index's adaptation (`deeprag adapt`) applied where they are the ones it started
        from, and what was applied (None: the index has none, or the settings chose otherwise since)."""
        found = self._adaptation
        if found is None:
            return settings, None
        adaptation, stale = found
        if not adaptation.applies_to(settings):
            language.once.warn(("adaptation-unused", str(self.directory)), lambda: (
                f"the index at {self.directory} has an adaptation (`deeprag adapt`) made for "
                f"{adaptation.start.get('reranker_model')!r} and the shares it started from; these settings "
                "choose others, so it is not used"))
            return settings, None
        if stale:
            language.once.warn(("adaptation-stale", str(self.directory)), lambda: (
                f"the adaptation of the index at {self.directory} is stale: files changed since `deeprag adapt` "
                f"ran; it is still used. Run `deeprag adapt --index {self.directory}` again to refresh it"))
        return adaptation.applied(settings, self.directory), {
            "shares": adaptation.shares.describe(), "adapted_reranker": adaptation.shares.adapted_reranker,
            "stale": stale, "base_model": adaptation.base_model}

    @staticmethod
    def _read_adaptation(snapshot: IndexSnapshot) -> tuple[Adaptation, bool] | None:
        """The snapshot's adaptation and whether the corpus changed since it was made."""
        adaptation = Adaptation.from_manifest(snapshot.manifest)
        if adaptation is None:
            return None
        if adaptation.shares.adapted_reranker and not adaptation.model_path(snapshot.directory).is_dir():
            log.warning("the adapted reranker %s is missing; searching without the adaptation (run `deeprag adapt "
                        "--reset --index %s`, then adapt again)", adaptation.model_path(snapshot.directory),
                        snapshot.directory)
            return None
        return adaptation, adaptation.is_stale(snapshot.docstore)

    def route(self, query: str, settings: RetrievalConfig, snapshot: IndexSnapshot | None = None) -> language.Route:
        """Which of the stages ``settings`` ask for run for ``query``, given the languages the index's embedder
        and the reranker read (retrieval.language); the first time a stage is dropped, a warning names the fix."""
        embedding = self._embedding
        plan = language.route(
            query, settings.mode, settings.rerank,
            embedding.model, language.model_languages(embedding.model, embedding.languages, language.ENGLISH_ONLY_EMBEDDERS),
            settings.reranker_model,
            language.reranker_languages(settings),
        )
        if "dense" in plan.skipped or "dense" in plan.notes:
            language.once.warn((str(self.directory), embedding.model, "dense", str(plan.dense)), lambda: language.dense_advice(
                self.directory, embedding.model, plan.language, self._corpus_languages(snapshot or self._snapshot),
                dropped=not plan.dense))
        if "rerank" in plan.skipped:
            language.once.warn(("rerank", settings.reranker_model), lambda: language.rerank_advice(
                settings.reranker_model, plan.language))
        return plan

    @staticmethod
    def _corpus_languages(snapshot: IndexSnapshot) -> str:
        """"zh 62%, en 38%" as recorded in the manifest, else measured now (an index from before they were)."""
        recorded = snapshot.manifest.corpus_languages
        return describe((recorded or measure(snapshot.docstore)).totals())

    def require_reranker(self, settings: RetrievalConfig | None = None) -> None:
        """Raise RerankerUnavailable when ``settings`` (with the index's adaptation) rerank but their reranker
        cannot be loaded. Search keeps the fused order then, which is right for a user and wrong for a
        benchmark: its figures would be filed under a reranking setting they never had."""
        settings, _ = self.adapted(settings or self.settings)
        # An empty reranker_model is the documented way to switch deeprag's reranking off: nothing to load.
        if not (settings.rerank and settings.reranker_model):
            return
        if load_reranker(settings.reranker_model, self._device, settings.reranker_precision) is None:
            raise RerankerUnavailable(
                f"reranker '{settings.reranker_model}' cannot be loaded (the warning above says why); set "
                "retrieval.reranker_model to a local CrossEncoder folder, or retrieval.rerank = false "
                "(DEEPRAG_RETRIEVAL__RERANK=false) to measure without reranking"
            )

    def stages(self, settings: RetrievalConfig, snapshot: IndexSnapshot, plan: language.Route | None = None) -> Stages:
        """The composition ``settings`` describe, over ``snapshot``; with ``plan``, only the stages it keeps."""
        dense = settings.mode in ("hybrid", "dense") and (plan is None or plan.dense)
        bm25 = settings.mode in ("hybrid", "bm25") and (plan is None or plan.bm25)
        retrievers: list[CandidateRetriever] = []
        if dense:
            retrievers.append(DenseRetriever(snapshot.vectors, self.embedder))
        if bm25:
            retrievers.append(Bm25Retriever(snapshot.lexical))
        scorer = (
            load_reranker(settings.reranker_model, self._device, settings.reranker_precision)
            if settings.rerank and (plan is None or plan.rerank) else None
        )
        return Stages(
            retrievers,
            fusion=fusion_for(settings) if len(retrievers) > 1 else None,
            rerank=CrossEncoderRerank(scorer, settings.rerank_weight, language.reranker_languages(settings))
            if scorer is not None else None,
        )

    def run(self, query: str, stages: Stages, settings: RetrievalConfig, snapshot: IndexSnapshot,
            plan: language.Route | None = None) -> SearchResult:
        """Run ``stages`` for one query: each first stage to ``settings.candidates``, fusion, fetch of the
        head (``k``, or ``rerank_candidates`` when reranking), rerank; every stage timed."""
        self._check(query, snapshot)
        timings: dict[str, float] = {}
        lists: dict[str, Candidates] = {}
        for retriever in stages.retrievers:
            with _timed(timings, retriever.name):
                lists[retriever.name] = retriever.retrieve(query, settings.candidates)
        if stages.fusion is not None:
            with _timed(timings, "fuse"):
                ranked = stages.fusion.fuse(list(lists.values()))
            lists["fused"] = ranked
        else:
            ranked = next(iter(lists.values()), [])
        head = max(settings.k, settings.rerank_candidates) if stages.rerank else settings.k
        with _timed(timings, "fetch"):
            hits = self._hits(ranked[:head], lists, snapshot, fused=stages.fusion is not None)
        if stages.rerank is not None:
            with _timed(timings, stages.rerank.name):
                hits = stages.rerank.process(query, hits)
        return SearchResult(query, settings.mode, stages.rerank is not None, hits[: settings.k], timings, lists, plan,
                            reranker=settings.reranker_model if stages.rerank is not None else None,
                            embedder=self._embedding.model if "dense" in lists else None)

    def _check(self, query: str, snapshot: IndexSnapshot) -> None:
        if not query or not query.strip():
            raise EmptyQuery("empty query; type a question")
        if snapshot.vectors.ntotal == 0:
            raise EmptyIndex(f"the index at {self.directory} is empty; add documents with `deeprag ingest PATH`")

    @staticmethod
    def _hits(pool: Candidates, lists: dict[str, Candidates], snapshot: IndexSnapshot, fused: bool) -> list[SearchHit]:
        chunks = snapshot.docstore.chunks([i for i, _ in pool])
        dense, bm25 = dict(lists.get("dense", [])), dict(lists.get("bm25", []))
        return [
            SearchHit(chunks[i], score, dense_score=dense.get(i), bm25_score=bm25.get(i),
                      fused_score=score if fused else None)
            for i, score in pool if i in chunks
        ]


@contextlib.contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - start) * 1000
