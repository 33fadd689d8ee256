"""Cross-encoder reranking with sentence-transformers' CrossEncoder, any model name or folder.

The default, ``deeprag-reranker-minilm-l6``, is the project's own model in ``models/`` (trained with
``retrieval/reranker_training``; see its MODEL_CARD.md). It is installed with the package as
``deeprag_models`` (pyproject maps that package onto ``models/``), so reranking works with no internet after a
plain ``pip install .`` as well as in a checkout.

Loading is lazy and failure is not fatal: with no loadable model deeprag warns and keeps the fused order,
because a missing reranker must never take search down with it. Only loaded models are cached: a model that
failed (a folder still being copied, a network that was down) is tried again on the next search.
"""

from __future__ import annotations

import importlib.resources
import logging
import threading
from pathlib import Path
from typing import Sequence

from ground.errors import DeepragError
from ingest.language import language_of
from retrieval.hits import SearchHit
from retrieval.language import reads
from retrieval.score_mix import mix

log = logging.getLogger(__name__)

SHIPPED_PACKAGE = "deeprag_models"


class RerankerUnavailable(DeepragError):
    """A reranker was asked for where keeping the fused order would be wrong (a benchmark, an explicit
    llama-index postprocessor), and it cannot be loaded."""


def shipped_models_dir() -> Path:
    """Where the models deeprag ships are installed (``models/`` of a checkout, under an editable install)."""
    return Path(str(importlib.resources.files(SHIPPED_PACKAGE)))


def resolve_model(model_name: str) -> str:
    """A shipped model by its folder name; anything else as given (a folder or a hub name)."""
    if not model_name or "/" in model_name:
        return model_name
    shipped = shipped_models_dir() / model_name
    return str(shipped) if shipped.is_dir() else model_name


def weights_sha256(model_name: str) -> str | None:
    """The weights' hash when the reranker is a local folder (the shipped one or the user's), else None: what
    evaluation runs and adaptations record of the reranker they used."""
    from ground.files import file_sha256

    weights = Path(resolve_model(model_name)) / "model.safetensors"
    return file_sha256(weights) if weights.is_file() else None


class CrossEncoderReranker:
    """Scores (query, passage) pairs with one cross-encoder."""

    def __init__(self, model_name: str, device: str = "cpu", batch_size: int = 32, precision: str = "auto"):
        self.name = model_name
        self._model = load_cross_encoder(model_name, device, precision)
        self.dtype = next(self._model.parameters()).dtype
        self._batch_size = batch_size

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        scores = self._model.predict(
            [(query, passage) for passage in passages], batch_size=self._batch_size, show_progress_bar=False
        )
        return [float(s) for s in scores]


class CrossEncoderRerank:
    """The rerank stage, a postprocessor from hits to hits (llama-index's node-postprocessor shape): the
    cross-encoder's score mixed with the first-stage score (``weight`` is the cross-encoder's share), best first.

    Only passages in a language the cross-encoder reads (``languages``; None = every language) are scored. An
    English-only model gives Chinese text confident scores that mean nothing (0.57–0.66 for passages about an
    unrelated topic, seen over the sample corpus), which would both reorder a mixed corpus at random and hold up
    the abstention floor; such a passage keeps no rerank score and is placed by its first-stage score."""

    name = "rerank"

    def __init__(self, scorer: CrossEncoderReranker, weight: float, languages: frozenset[str] | None = None):
        self.scorer = scorer
        self.weight = weight
        self.languages = languages

    def process(self, query: str, hits: list[SearchHit]) -> list[SearchHit]:
        texts = [hit.chunk.indexed_text() for hit in hits]
        readable = [i for i, text in enumerate(texts)  # a multilingual model reads all: no detection needed
                    if self.languages is None or reads(self.languages, language_of(text))]
        scored = self.scorer.score(query, [texts[i] for i in readable])
        scores: list[float | None] = [None] * len(hits)
        for i, score in zip(readable, scored):
            scores[i] = score
        final = mix(scores, [hit.score for hit in hits], self.weight)
        for hit, score, mixed in zip(hits, scores, final):
            hit.rerank_score, hit.score = score, mixed
        return sorted(hits, key=lambda hit: -hit.score)


def load_cross_encoder(model_name: str, device: str = "cpu", precision: str = "auto"):
    """sentence-transformers' CrossEncoder for a shipped name, a folder or a hub name, in the dtype that
    ``precision`` picks for ``device`` (search and the offline scoring of evaluation candidates share this).
    ``auto`` on a CPU is the faster of fp32 and bf16 as measured on this machine (retrieval.precision_probe)."""
    from sentence_transformers import CrossEncoder

    path = resolve_model(model_name)

    def load(dtype):
        return CrossEncoder(path, device=device, model_kwargs={"dtype": dtype})

    if precision == "auto" and device == "cpu":
        from retrieval.precision_probe import load_fastest

        return load_fastest(path, load)
    return load(compute_dtype(precision, device))


def compute_dtype(precision: str, device: str):
    """The torch dtype to run in, without measuring: the one named, else (``auto``) fp16 on GPUs and fp32
    elsewhere (``load_cross_encoder`` measures instead on a CPU)."""
    import torch

    if precision != "auto":
        return getattr(torch, precision)
    return torch.float16 if device.startswith("cuda") else torch.float32


_loaded: dict[tuple[str, str, str], CrossEncoderReranker] = {}
_warned: set[tuple[str, str]] = set()
_load_lock = threading.Lock()


def load_reranker(model_name: str, device: str = "cpu", precision: str = "auto") -> CrossEncoderReranker | None:
    """The reranker (one per process and setting), or None when none is configured or it cannot be loaded;
    each distinct failure is warned about once, and a failed load is retried on the next call."""
    if not model_name:
        _warn_once(model_name, "no reranker configured (retrieval.reranker_model is empty); results keep the fused order")
        return None
    key = (model_name, device, precision)
    with _load_lock:
        if key in _loaded:
            return _loaded[key]
        try:
            _loaded[key] = CrossEncoderReranker(model_name, device=device, precision=precision)
        except Exception as exc:  # hub, file and format errors alike mean "not available now"
            cause = str(exc).splitlines()[0][:160] if str(exc) else ""
            _warn_once(model_name, (
                f"reranker '{model_name}' cannot be loaded ({type(exc).__name__}: {cause}); results keep the fused "
                "order. Set retrieval.reranker_model to a local CrossEncoder folder, or connect to the internet "
                "for hub models."
            ))
            return None
        return _loaded[key]


def _warn_once(model_name: str, message: str) -> None:
    if (model_name, message) not in _warned:
        _warned.add((model_name, message))
        log.warning("%s", message)
