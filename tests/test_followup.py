"""Which follow-ups are rewritten with the conversation, and which are searched as asked."""

import pytest

from generation.followup import needs_rewrite


@pytest.mark.parametrize("question", [
    "How many experts does it activate?",
    "What about vLLM?",
    "And the KV cache?",
    "Why?",
    "more details",
    "Who designed that model?",
    "它有多少个专家？",
    "那推理速度呢？",
    "为什么？",
])
def test_follow_ups_that_point_back_are_rewritten(question):
    assert needs_rewrite(question)


@pytest.mark.parametrize("question", [
    "How does vLLM's prefix caching reuse computation?",
    "What is multi-head latent attention?",
    "Why does DeepSeek-V3 use a shared expert?",  # a question opening with "Why" can stand alone
    "How many routed experts does DeepSeek-V3 activate per token?",
    "检索增强生成分为哪两步？",
    "DeepSeek-V3 的多头潜在注意力如何压缩缓存？",
])
def test_standalone_follow_ups_are_searched_as_asked(question):
    assert not needs_rewrite(question)
