"""Does a follow-up question need the conversation to be understood?

Rewriting a follow-up into a standalone query costs one LLM call before retrieval can start (7–27 s on 2 CPU
cores), and most follow-ups a user types are already standalone ("How does vLLM cache prefixes?"). A question
needs rewriting when it points back into the conversation: a pronoun or demonstrative ("it", "they", "that
model", "它", "这个"), an elliptical opener ("what about …", "and …", "how about …", "那…呢"), or so few content
words that it cannot be a query on its own ("why?", "more details"). Anything else is searched as asked.
"""

from __future__ import annotations

import re

_REFERRING = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|he|him|his|she|her|hers|there|former|latter|"
    r"above|previous|same|one|ones)\b",
    re.IGNORECASE,
)
_ELLIPTICAL = re.compile(r"^\s*(and|also|but|so|what about|how about|and what|why not|then)\b", re.IGNORECASE)
_CHINESE_REFERRING = re.compile(r"[它他她其该此]|这[个些种样里]|那[个些种样里]|上面|前者|后者|呢[？?]?\s*$")
_WORD = re.compile(r"[^\W\d_]{3,}")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
# Fewer content words than this (or CJK characters than _MIN_CJK) cannot stand alone as a search query.
_MIN_WORDS = 3
_MIN_CJK = 5


def needs_rewrite(question: str) -> bool:
    """Whether ``question`` depends on earlier turns (see the module docstring for the rule)."""
    if _CJK.search(question):
        return bool(_CHINESE_REFERRING.search(question)) or len(_CJK.findall(question)) < _MIN_CJK
    if _REFERRING.search(question) or _ELLIPTICAL.match(question):
        return True
    return len(_WORD.findall(question)) < _MIN_WORDS
