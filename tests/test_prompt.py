"""Prompt building and trimming to the context window (pure functions, no server)."""

import pytest

from generation.prompt import (
    Passage, best_window, build_messages, build_rewrite_messages, clean_short_answer, estimate_tokens, fit_passages,
    is_chinese,
)


def words(messages):
    """A token counter for tests: one token per whitespace-separated word."""
    return sum(len(m["content"].split()) for m in messages)


def test_messages_number_passages_with_titles_and_end_with_the_question():
    messages = build_messages("Who found X-rays?", [Passage("Röntgen", "He found them."), Passage("Other", "No.")])
    assert messages[0]["role"] == "system"
    assert "only" in messages[0]["content"] and "square brackets" in messages[0]["content"]
    assert "don't know" in messages[0]["content"]
    user = messages[1]["content"]
    assert user.index("[1] Röntgen\nHe found them.") < user.index("[2] Other\nNo.") < user.index("Question: Who found X-rays?")
    assert user.endswith("by its number in square brackets.")


def test_chinese_question_gets_chinese_instructions():
    assert is_chinese("什么是多头潜在注意力？") and not is_chinese("What is MLA?")
    messages = build_messages("什么是多头潜在注意力？", [Passage("MLA", "压缩键值缓存。")])
    assert "中文" in messages[0]["content"]
    assert "问题：什么是多头潜在注意力？\n\n请只根据以上段落回答" in messages[1]["content"]


def test_fit_keeps_everything_that_fits():
    passages = [Passage("a", "one two three"), Passage("b", "four five")]
    assert fit_passages("q?", passages, budget=1000, count=words) == passages


def test_fit_trims_the_lowest_ranked_passage_and_never_the_question():
    question = "what does the long passage say about retrieval?"
    long_text = " ".join(f"w{i}" for i in range(400))
    passages = [Passage("first", "short passage here"), Passage("second", long_text)]
    budget = words(build_messages(question, passages[:1])) + 150
    fitted = fit_passages(question, passages, budget=budget, count=words)
    assert len(fitted) == 2 and fitted[0] == passages[0]
    assert long_text.startswith(fitted[1].text.removesuffix(" …")) and len(fitted[1].text) < len(long_text)
    final = build_messages(question, fitted)
    assert words(final) <= budget and f"Question: {question}" in final[1]["content"]


def test_fit_drops_passages_that_would_be_cut_to_nothing():
    passages = [Passage("a", "x " * 50), Passage("b", "y " * 400)]
    budget = words(build_messages("q?", passages[:1])) + 5
    assert fit_passages("q?", passages, budget=budget, count=words) == passages[:1]


def test_fit_returns_nothing_when_the_question_alone_overflows():
    question = "word " * 100
    assert fit_passages(question, [Passage("a", "text")], budget=50, count=words) == []


def test_estimate_is_not_below_real_token_counts_for_english_and_chinese():
    # Qwen's tokenizer: ~4 bytes per English token, ~1.4 Chinese characters (4+ bytes) per token.
    english = [{"role": "user", "content": "Retrieval-augmented generation answers questions. " * 20}]
    assert estimate_tokens(english) >= 20 * 6
    chinese = [{"role": "user", "content": "检索增强生成" * 20}]
    assert estimate_tokens(chinese) >= 120 / 1.4


def test_rewrite_prompt_carries_history_and_question():
    history = [{"role": "user", "content": "What is MLA?"}, {"role": "assistant", "content": "Latent attention [1]."}]
    messages = build_rewrite_messages(history, "Who introduced it?")
    assert "standalone" in messages[0]["content"]
    assert "user: What is MLA?" in messages[1]["content"] and "Last question: Who introduced it?" in messages[1]["content"]


def test_short_style_closed_book_differs_from_rag_only_in_the_passage_block():
    passages = [Passage("Röntgen", "He found them."), Passage("Other", "No.")]
    rag = build_messages("Who found X-rays?", passages, "short")
    closed = build_messages("Who found X-rays?", [], "short")
    assert rag[0] == closed[0] and "answer only" in rag[0]["content"]
    block = "Passages:\n\n[1] Röntgen\nHe found them.\n\n[2] Other\nNo.\n\n"
    assert rag[1]["content"] == block + closed[1]["content"]
    assert closed[1]["content"] == "Question: Who found X-rays?\nAnswer:"
    assert "square brackets" not in rag[1]["content"]


def test_short_style_in_chinese():
    messages = build_messages("谁发现了X射线？", [], "short")
    assert "答案" in messages[0]["content"] and messages[1]["content"] == "问题：谁发现了X射线？\n答案："


@pytest.mark.parametrize("raw, expected", [
    ("Wilhelm Röntgen", "Wilhelm Röntgen"),
    ("The answer is \"Wilhelm Röntgen\" [1].", "Wilhelm Röntgen"),
    ("Answer: 1901 [2][3]\nBecause the passage says so.", "1901"),
    ("答案：北京【1】。", "北京"),
    ("  \n", ""),
])
def test_short_answers_are_cleaned_of_what_small_models_add(raw, expected):
    assert clean_short_answer(raw) == expected


def test_window_picks_the_sentences_sharing_the_question_terms():
    text = "A cat sat. The dog ran far. Paris is the capital of France. It is big. Rain fell."
    assert best_window(text, "Which city is the capital of France?", 1) == "Paris is the capital of France."
    assert best_window(text, "unrelated words", 2) == "A cat sat. The dog ran far."  # no overlap: the lead
    assert best_window("Short. Text.", "anything", 3) == "Short. Text."
    assert best_window("北京是首都。上海很大。深圳在南方。", "首都在哪里", 1) == "北京是首都。"
