from pathlib import Path

import pytest

from app.config import ConfigError, load_config


def test_layers_file_then_env_then_flags(tmp_path: Path):
    file = tmp_path / "deeprag.toml"
    file.write_text('[retrieval]\nk = 3\nmode = "bm25"\n[embedding]\nmodel = "from-file"\n')
    env = {"DEEPRAG_RETRIEVAL__K": "4", "DEEPRAG_INDEX_DIR": str(tmp_path / "idx")}
    config = load_config(file, env=env, overrides={"retrieval.k": 7, "retrieval.mode": None})
    assert config.retrieval.k == 7  # flag beats env beats file
    assert config.retrieval.mode == "bm25"  # unset flag (None) leaves the file's value
    assert config.embedding.model == "from-file"
    assert config.index_dir == tmp_path / "idx"


def test_env_coerces_types():
    config = load_config(env={"DEEPRAG_RETRIEVAL__RERANK": "off", "DEEPRAG_INGEST__EXCLUDE": "a,b"})
    assert config.retrieval.rerank is False
    assert config.ingest.exclude == ["a", "b"]


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DEEPRAG_RETRIEVAL__K": "many"}, "not a valid int"),
        ({"DEEPRAG_RETRIEVAL__MODE": "fuzzy"}, "choose one of hybrid, dense, bm25"),
        ({"DEEPRAG_RETRIEVAL__TOPK": "3"}, "unknown setting 'retrieval.topk'"),
        ({"DEEPRAG_RETRIEVAL": "3"}, "'retrieval' in environment is a section"),
        ({"DEEPRAG_RETRIEVAL__RERANK_WEIGHT": "1.5"}, r"rerank_weight is 1.5; .* must lie in \[0, 1\]"),
        ({"DEEPRAG_RETRIEVAL__RERANKER_PRECISION": "int4"}, "choose one of auto, float32, bfloat16, float16"),
        ({"DEEPRAG_RETRIEVAL__DENSE_WEIGHT": "-0.1"}, r"dense_weight is -0.1; .* must lie in \[0, 1\]"),
        ({"DEEPRAG_RETRIEVAL__FUSION": "max"}, "choose one of zscore, rrf"),
    ],
)
def test_bad_values_name_key_and_fix(env, message):
    with pytest.raises(ConfigError, match=message):
        load_config(env=env)


def test_missing_config_file_is_reported(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})
