"""Prompts for answering from retrieved passages, and fitting them into the model's context.

Pure functions over plain data: no server, no index. Token counting is passed in (`count`), so the answer
pipeline can use the server's own tokenizer and tests can use any counter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Sequence

Message = dict[str, str]
TokenCounter = Callable[[list[Message]], int]

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


def build_messages(question: str, passages: Sequence[Passage]) -> list[Message]:
    """The chat messages for one answer: instructions, then the numbered passages and the question."""
    chinese = is_chinese(question)
    blocks = [f"[{number}] {p.title}\n{p.text}".strip() for number, p in enumerate(passages, 1)]
    heading, empty, asked = ("段落：", "（没有段落）", "问题：") if chinese else ("Passages:", "(no passages)", "Question: ")
    context = heading + "\n\n" + "\n\n".join(blocks) if blocks else empty
    # Small models follow what they read last: repeat the citation rule after the question.
    body = f"{context}\n\n{asked}{question}\n\n{REMINDER_ZH if chinese else REMINDER_EN}"
    return [{"role": "system", "content": SYSTEM_ZH if chinese else SYSTEM_EN}, {"role": "user", "content": body}]


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


def fit_passages(question: str, passages: Sequence[Passage], budget: int, count: TokenCounter) -> list[Passage]:
    """Keep passages in rank order, trimming the last one that overflows, so the prompt fits ``budget`` tokens.

    The question is never cut. Returns the passages to send (possibly fewer, the last possibly shorter); if
    even the question alone does not fit, returns an empty list and the caller reports the overflow.
    """
    kept = list(passages)
    while kept:
        used = count(build_messages(question, kept))
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
