"""Prompts for answering from retrieved passages, and fitting them into the model's context.

Two styles (``PromptConfig.style``): ``cited``, the chat's, asks for sentences citing passages as [n];
``short`` asks for the answer only, FlashRAG-style, so EM/F1 can score it. A short prompt without passages is the
same prompt minus the passage block, so a closed-book baseline differs from its RAG run in nothing else.

Pure functions over plain data: no server, no index. Token counting is passed in (`count`), so the answer
pipeline can use the server's own tokenizer and tests can use any counter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Literal, Sequence

from ingest.lexical_index import english_stemmer_and_stopwords

Message = dict[str, str]
TokenCounter = Callable[[list[Message]], int]
Style = Literal["cited", "short"]

SYSTEM_EN = (
    "You answer questions using only the numbered passages the user gives you. "
    "After each statement, put the number of the passage that supports it in square brackets. "
    "If the passages do not contain the answer, say that you don't know; do not use outside knowledge. "
    "Answer briefly."
)
SYSTEM_ZH = (
    "你只根据用户提供的编号段落回答问题。每句话后用方括号标注支持它的段落编号。"
    "如果段落中没有答案，就说你不知道；不要使用段落以外的知识。请用简体中文简洁作答。"
)
# FlashRAG's short-answer instruction (its default QA prompt), in one wording for RAG and closed-book runs.
SHORT_SYSTEM_EN = (
    "Answer the question with the answer only: a name, date, number or a few words. "
    "Do not explain and do not output any other words."
)
SHORT_SYSTEM_ZH = "只写出答案本身（一个名称、日期、数字或几个词），不要解释，不要输出任何其他文字。"
REMINDER_EN = "Answer from the passages above and cite the passage you used by its number in square brackets."
REMINDER_ZH = "请只根据以上段落回答，并在句末用方括号标注所用段落的编号。"
REWRITE_SYSTEM = (
    "Rewrite the user's last question as one standalone question that can be understood without the "
    "conversation: replace pronouns and references with what they refer to. Keep its language. "
    "Reply with the question only."
)
# A passage trimmed below this many characters says too little to be worth its number.
MIN_PASSAGE_CHARS = 200
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class Passage:
    title: str
    text: str


def is_chinese(text: str) -> bool:
    """Whether the question is written in Chinese (any CJK ideograph), so the answer should be too."""
    return bool(_CJK.search(text))


def build_messages(question: str, passages: Sequence[Passage], style: Style = "cited") -> list[Message]:
    """The chat messages for one answer: instructions, then the numbered passages and the question."""
    chinese = is_chinese(question)
    blocks = [f"[{number}] {p.title}\n{p.text}".strip() for number, p in enumerate(passages, 1)]
    heading, empty, asked = ("段落：", "（没有段落）", "问题：") if chinese else ("Passages:", "(no passages)", "Question: ")
    context = heading + "\n\n" + "\n\n".join(blocks) if blocks else empty
    if style == "short":
        # No passages: the passage block is left out entirely, nothing else changes (the closed-book baseline).
        answer_cue = "答案：" if chinese else "Answer:"
        body = (f"{context}\n\n" if blocks else "") + f"{asked}{question}\n{answer_cue}"
        return [{"role": "system", "content": SHORT_SYSTEM_ZH if chinese else SHORT_SYSTEM_EN},
                {"role": "user", "content": body}]
    # Small models follow what they read last: repeat the citation rule after the question.
    body = f"{context}\n\n{asked}{question}\n\n{REMINDER_ZH if chinese else REMINDER_EN}"
    return [{"role": "system", "content": SYSTEM_ZH if chinese else SYSTEM_EN}, {"role": "user", "content": body}]


_ANSWER_PREFIX = re.compile(r"^\s*(?:(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*:?|答案\s*(?:是|：|:))\s*", re.IGNORECASE)
_CITATION_MARK = re.compile(r"\s*[\[【]\s*\d+(?:\s*[,，、;\-–]\s*\d+)*\s*[\]】]")


def clean_short_answer(raw: str) -> str:
    """The answer phrase in a short-style output: its first line, without "The answer is", citation markers,
    surrounding quotes or a final full stop (small models add them although told not to)."""
    lines = [line for line in raw.strip().splitlines() if line.strip()]
    text = _ANSWER_PREFIX.sub("", lines[0] if lines else "")
    text = _CITATION_MARK.sub("", text).strip()
    return text.rstrip("。．.").strip("\"'“”‘’「」").rstrip("。．.").strip()


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]{3,}")


def best_window(text: str, question: str, sentences: int) -> str:
    """The ``sentences`` consecutive sentences of ``text`` that share the most distinct words (CJK: characters)
    with the question; the whole text when it has no more sentences than that. Earliest window wins a tie, so
    a passage's lead sentence (often its definition) is preferred."""
    parts = [part for part in _SENTENCE_END.split(text.strip()) if part.strip()]
    if len(parts) <= sentences:
        return text
    _, stopwords = english_stemmer_and_stopwords()
    wanted = {w for w in _WORD.findall(question.lower()) if w not in stopwords}

    def overlap(start: int) -> int:
        return len(wanted & set(_WORD.findall(" ".join(parts[start:start + sentences]).lower())))

    best = max(range(len(parts) - sentences + 1), key=lambda start: (overlap(start), -start))
    return " ".join(part.strip() for part in parts[best:best + sentences])


def build_rewrite_messages(history: Sequence[Message], question: str) -> list[Message]:
    """Messages asking the LLM to turn a follow-up into a standalone search query."""
    transcript = "\n".join(f"{turn['role']}: {turn['content']}" for turn in history)
    return [
        {"role": "system", "content": REWRITE_SYSTEM},
        {"role": "user", "content": f"Conversation:\n{transcript}\n\nLast question: {question}\n\nStandalone question:"},
    ]


def estimate_tokens(messages: list[Message]) -> int:
    """A deliberately high token estimate for servers without `/tokenize`: one token per 3 UTF-8 bytes
    (English runs ~4 bytes a token, Chinese ~4.5), plus a few tokens of chat-template overhead per message."""
    return sum(len(m["content"].encode("utf-8")) // 3 + 8 for m in messages)


def fit_passages(
    question: str, passages: Sequence[Passage], budget: int, count: TokenCounter, style: Style = "cited"
) -> list[Passage]:
    """Keep passages in rank order, trimming the last one that overflows, so the prompt fits ``budget`` tokens.

    The question is never cut. Returns the passages to send (possibly fewer, the last possibly shorter); if
    even the question alone does not fit, returns an empty list and the caller reports the overflow.
    """
    kept = list(passages)
    while kept:
        used = count(build_messages(question, kept, style))
        if used <= budget:
            return kept
        last = kept[-1]
        # Shrink the lowest-ranked passage by the overflow's share of the prompt, with a margin because
        # characters and tokens are not proportional; drop it when too little would remain.
        keep_chars = int(len(last.text) * (1 - (used - budget) / max(count([_as_message(last)]), 1)) * 0.9)
        if keep_chars < MIN_PASSAGE_CHARS:
            kept.pop()
        else:
            kept[-1] = replace(last, text=last.text[:keep_chars].rstrip() + " …")
    return []


def _as_message(passage: Passage) -> Message:
    return {"role": "user", "content": f"{passage.title}\n{passage.text}"}
