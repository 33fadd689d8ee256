"""Shared fixtures: real models (the offline MiniLM, a tiny cross-encoder built here) and throwaway indexes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ground.config import Config, EmbeddingConfig, load_config  # noqa: E402
from ingest.embedder import load_embedder  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
SEEDS = REPO.parent / "shared" / "seeds"
REQUIRE_DATA = "DEEPRAG_REQUIRE_DATA"


def shared_data(relative: str) -> Path:
    """The shared evaluation data at ``relative`` (found as `deeprag eval` finds it). Where it is missing the
    test is skipped with the reason, except under DEEPRAG_REQUIRE_DATA=1 (CI), where a missing set fails."""
    from eval.datasets import DatasetMissing, resolve

    try:
        return resolve(None, relative)
    except DatasetMissing as exc:
        _missing(str(exc))
        raise


def shared_seeds() -> Path:
    """../shared/seeds (the Chinese articles), skipped or failed like ``shared_data``."""
    if not SEEDS.is_dir():
        _missing(f"{SEEDS} (the Chinese articles) is not on this machine")
    return SEEDS


def _missing(reason: str) -> None:
    if os.environ.get(REQUIRE_DATA) == "1":
        pytest.fail(f"{reason} ({REQUIRE_DATA}=1 requires it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def embedder():
    """The default embedder, loaded once for the whole run (as the application does per process)."""
    return load_embedder(EmbeddingConfig())


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Default settings with a fresh index directory and no reranker (tests opt in)."""
    return load_config(env={}, overrides={"index_dir": str(tmp_path / "index"), "retrieval.reranker_model": ""})


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory) -> str:
    """A real CrossEncoder folder with random weights: 2 layers, 64 wide, MiniLM's vocabulary."""
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ingest.embedder import offline_minilm_path

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    torch.manual_seed(0)  # the same random weights every run, so tests that need it to reorder can rely on it
    tokenizer = AutoTokenizer.from_pretrained(offline_minilm_path())
    model = BertForSequenceClassification(BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, num_labels=1, max_position_embeddings=512,
    ))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CrossEncoder(str(folder))  # fail here, not in a test, if the folder is not loadable
    return str(folder)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path
