"""The configuration: file < environment < flags, and strict refusals that name the key, value, source and rule."""

import subprocess
import sys
from pathlib import Path

import pytest

from ground.config import ConfigError, RetrievalConfig, load_config, updated


def test_layers_file_then_env_then_flags(tmp_path: Path):
    file = tmp_path / "deeprag.toml"
    file.write_text('[retrieval]\nk = 3\nmode = "bm25"\n[embedding]\nmodel = "from-file"\n')
    env = {"DEEPRAG_RETRIEVAL__K": "4", "DEEPRAG_INDEX_DIR": str(tmp_path / "idx")}
    config = load_config(file, env=env, overrides={"retrieval.k": 7, "retrieval.mode": None})
    assert config.retrieval.k == 7  # flag beats env beats file
    assert config.retrieval.mode == "bm25"  # unset flag (None) leaves the file's value
    assert config.embedding.model == "from-file"
    assert config.index_dir == tmp_path / "idx"


def test_env_coerces_types_and_ignores_non_settings():
    config = load_config(env={"DEEPRAG_RETRIEVAL__RERANK": "off", "DEEPRAG_INGEST__EXCLUDE": "a,b",
                              "DEEPRAG_REQUIRE_VLLM": "1", "DEEPRAG_PAUSE_AT": "x"})
    assert config.retrieval.rerank is False
    assert config.ingest.exclude == ["a", "b"]


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DEEPRAG_RETRIEVAL__K": "0"},
         r"retrieval\.k = '0' in environment variable DEEPRAG_RETRIEVAL__K is refused: .*greater than or equal to 1"),
        ({"DEEPRAG_RETRIEVAL__K": "many"}, r"retrieval\.k = 'many' .* valid integer"),
        ({"DEEPRAG_RETRIEVAL__CANDIDATES": "-4"}, r"retrieval\.candidates = '-4' .*greater than or equal to 1"),
        ({"DEEPRAG_RETRIEVAL__MODE": "fuzzy"}, r"retrieval\.mode = 'fuzzy' .*'hybrid', 'dense' or 'bm25'"),
        ({"DEEPRAG_RETRIEVAL__TOPK": "3"}, r"unknown setting 'retrieval\.topk' in environment variable"),
        ({"DEEPRAG_RETRIEVAL": "3"}, r"retrieval = 3 .* valid dictionary"),
        ({"DEEPRAG_RETRIEVAL__RERANK_WEIGHT": "1.5"}, r"rerank_weight = '1.5' .*less than or equal to 1"),
        ({"DEEPRAG_RETRIEVAL__RERANKER_PRECISION": "int4"}, "'auto', 'float32', 'bfloat16' or 'float16'"),
        ({"DEEPRAG_RETRIEVAL__DENSE_WEIGHT": "-0.1"}, r"dense_weight = '-0.1' .*greater than or equal to 0"),
        ({"DEEPRAG_RETRIEVAL__FUSION": "max"}, "'zscore' or 'rrf'"),
        ({"DEEPRAG_INDEX__KIND": "typo"}, r"index\.kind = 'typo' .*'exact', 'hnsw' or 'ivfpq'"),
        ({"DEEPRAG_CHUNKING__OVERLAP_TOKENS": "200"}, r"chunking\.overlap_tokens = '200' .*use 0 to 127"),
        ({"DEEPRAG_LLM__BASE_URL": "localhost:8000"}, r"llm\.base_url = 'localhost:8000' .*match pattern"),
        ({"DEEPRAG_SERVE__PORT": "70000"}, r"serve\.port = '70000' .*less than or equal to 65535"),
    ],
)
def test_bad_environment_values_name_key_value_and_rule(env, message):
    with pytest.raises(ConfigError, match=message):
        load_config(env=env)


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[retrieval]\nk = 2.9\n", r"retrieval\.k = 2\.9 in config file .* fractional part"),  # not rounded to 2
        ("[retrieval]\ncandidates = -4\n", r"retrieval\.candidates = -4 .*greater than or equal to 1"),
        ("[retrieval]\nrerank = 2\n", r"retrieval\.rerank = 2 .*valid boolean"),
        ("[retrieval\nk = 2\n", "is not valid TOML"),
    ],
)
def test_bad_file_values_are_refused_not_rounded(tmp_path: Path, toml, message):
    file = tmp_path / "deeprag.toml"
    file.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_config(file, env={})


def test_several_problems_are_counted_in_one_line(tmp_path: Path):
    file = tmp_path / "deeprag.toml"
    file.write_text("[retrieval]\nk = 0\nrerank = 2\n")
    with pytest.raises(ConfigError, match=r"^retrieval\.k = 0 .* \(and 1 more problem\)$"):
        load_config(file, env={})


def test_missing_config_file_is_reported(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})


def test_updated_copies_are_checked_and_sections_are_frozen():
    settings = RetrievalConfig()
    assert updated(settings, {"k": 4, "mode": None}).k == 4 and settings.k == 3
    with pytest.raises(ConfigError, match=r"k = 0 in changed settings"):
        updated(settings, {"k": 0})
    with pytest.raises(Exception, match="frozen"):
        settings.k = 0  # type: ignore[misc]


def _cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **(env or {})}, cwd=cwd)


def test_cli_config_refuses_k_zero_from_the_environment_in_one_line():
    done = _cli("config", env={"DEEPRAG_RETRIEVAL__K": "0"})
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "retrieval.k" in done.stderr and "DEEPRAG_RETRIEVAL__K" in done.stderr


def test_cli_config_refuses_a_fractional_k_in_the_toml_file(tmp_path: Path):
    (tmp_path / "deeprag.toml").write_text("[retrieval]\nk = 2.9\n")
    done = _cli("config", cwd=tmp_path)  # ./deeprag.toml is read by default
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "retrieval.k = 2.9" in done.stderr


def test_cli_flags_are_checked_like_the_file(tmp_path: Path):
    done = _cli("search", "q", "--k", "0", "--index", str(tmp_path / "index"))
    assert done.returncode == 2 and "retrieval.k = 0 in command-line flags" in done.stderr
