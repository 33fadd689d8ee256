"""Passage citations in answers: [1], [1, 2], [1-3], 【2】 and [1][2] (each bracket matched on its own).

The one pattern and its readers, shared by the answer pipeline (which passages an answer cites), the evaluation
(answers scored without their markers) and the chat UI (markers turned into links to source cards).
"""

from __future__ import annotations

import re

CITATION = re.compile(r"[\[【]\s*(\d+(?:\s*[,，、;\-–]\s*\d+)*)\s*[\]】]")
_LIST_SEPARATOR = re.compile(r"\s*[,，、;]\s*")
_RANGE_SEPARATOR = re.compile(r"\s*[\-–]\s*")


def numbers_in(group: str) -> list[int]:
    """The passage numbers one bracket names, ranges expanded ("1-3, 5" → 1, 2, 3, 5), in order, once each."""
    found: list[int] = []
    for part in _LIST_SEPARATOR.split(group):
        bounds = [int(n) for n in _RANGE_SEPARATOR.split(part)]
        numbers = range(bounds[0], bounds[-1] + 1) if len(bounds) == 2 and bounds[0] <= bounds[1] else bounds[:1]
        found.extend(n for n in numbers if n not in found)
    return found


def parse_citations(answer: str, passage_count: int) -> list[int]:
    """Passage numbers cited in ``answer``, in order of first mention, limited to 1..passage_count."""
    found: list[int] = []
    for match in CITATION.finditer(answer):
        found.extend(n for n in numbers_in(match.group(1)) if 1 <= n <= passage_count and n not in found)
    return found


def strip_citations(text: str) -> str:
    """``text`` with its citation markers replaced by a space (so they cost no exact-match or support score)."""
    return CITATION.sub(" ", text)
