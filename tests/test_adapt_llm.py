"""LLM-written queries for `deeprag adapt` against a real vLLM server serving tiny-deepseek-v3 (random weights:
its text is gibberish, so these tests check the writing path: requests, the cache, resuming, refusals), and
the refusal rules themselves on hand-written replies."""

from __future__ import annotations

import json
import time

from llm_fixtures import vllm_url  # noqa: F401 (fixture)

from generation import query_writer
from generation.llm import LLMClient
from ground.config import load_config

CHUNK = ("Mixture of experts\nA mixture-of-experts layer routes each token to a few expert networks. Only the "
         "chosen experts run, so compute grows slower than parameters. A router learns which experts to pick.")
CHUNK_ZH = "检索增强生成\n检索增强生成先从文档中检索相关段落。然后把段落和问题一起交给语言模型。这样回答可以引用来源。"


def test_replies_are_parsed_and_copies_of_a_sentence_refused():
    reply = "Question: Why does compute grow slower than the parameter count?\nClaim: Only a few experts run per token."
    assert query_writer.parse(reply) == ["Why does compute grow slower than the parameter count?",
                                         "Only a few experts run per token."]
    assert query_writer.acceptable("Why does compute grow slower than the parameter count?", CHUNK)
    copied = "Only the chosen experts run, so compute grows slower than parameters."
    assert not query_writer.acceptable(copied, CHUNK)  # a whole sentence of the chunk
    assert not query_writer.acceptable("experts", CHUNK)  # not a query's length
    assert query_writer.acceptable("检索增强生成的回答为什么能引用来源？", CHUNK_ZH)
    assert not query_writer.acceptable("Why can the answers cite their sources?", CHUNK_ZH)  # Chinese chunk, English query
    assert "请用中文" in query_writer.messages_for(CHUNK_ZH)[0]["content"]
    assert "Question:" in query_writer.messages_for(CHUNK)[0]["content"]


def test_queries_are_written_cached_and_resumed(vllm_url, tmp_path):  # noqa: F811
    client = LLMClient(load_config(env={}, overrides={"llm.base_url": vllm_url, "llm.temperature": 0.0}).llm)
    cache = tmp_path / "queries-llm.jsonl"
    chunks = [(1, CHUNK), (2, CHUNK_ZH), (3, CHUNK)]
    first = query_writer.write_queries(client, chunks[:2], cache, workers=2, deadline=time.monotonic() + 600,
                                       max_tokens=24)
    assert sorted(first) == [1, 2]
    assert len(cache.read_text().splitlines()) == 2
    for written in first.values():  # gibberish from a random model: whatever is kept obeys the rules
        assert all(query_writer.acceptable(q, dict(chunks)[written.chunk]) for q in written.queries)
        assert len(written.queries) + written.refused == 2
    # A second run asks only for the chunk not yet written, and a cut-off last line is skipped.
    with open(cache, "a") as handle:
        handle.write('{"chunk": 9, "quer')
    again = query_writer.write_queries(client, chunks, cache, workers=2, deadline=time.monotonic() + 600, max_tokens=24)
    assert sorted(again) == [1, 2, 3]
    rows = [json.loads(line) for line in cache.read_text().splitlines() if line.endswith("}")]
    assert sorted(row["chunk"] for row in rows) == [1, 2, 3]
    # Past the deadline nothing new is asked.
    late = query_writer.write_queries(client, [(4, CHUNK)], cache, workers=1, deadline=time.monotonic() - 1, max_tokens=24)
    assert 4 not in late
