"""Cross-encoder reranking with sentence-transformers' CrossEncoder, any model name or folder.

Loading is lazy and failure is not fatal: with no loadable model deeprag warns once per process and keeps
the fused order, because a missing reranker must never take search down with it.
"""

from __future__ import annotations

import functools
import logging
from typing import Sequence

log = logging.getLogger(__name__)


class CrossEncoderReranker:
    def __init__(self, model_name: str, device: str = "cpu", batch_size: int = 32):
        from sentence_transformers import CrossEncoder

        self.name = model_name
        self._model = CrossEncoder(model_name, device=device)
        self._batch_size = batch_size

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        scores = self._model.predict(
            [(query, passage) for passage in passages], batch_size=self._batch_size, show_progress_bar=False
        )
        return [float(s) for s in scores]


@functools.lru_cache(maxsize=4)
def load_reranker(model_name: str, device: str = "cpu") -> CrossEncoderReranker | None:
    """The reranker, or None (warned once) when no model is configured or it cannot be loaded."""
    if not model_name:
        log.warning("no reranker configured (retrieval.reranker_model is empty); results keep the fused order")
        return None
    try:
        return CrossEncoderReranker(model_name, device=device)
    except Exception as exc:  # hub, file and format errors alike mean "not available here"
        log.warning(
            "reranker '%s' cannot be loaded (%s: %s); results keep the fused order. Set retrieval.reranker_model "
            "to a local CrossEncoder folder, or connect to the internet for hub models.",
            model_name, type(exc).__name__, str(exc).splitlines()[0][:160] if str(exc) else "",
        )
        return None
