"""Which languages a text is in, told apart by script: what deciding "can this model read it?" needs.

No language-identification model: the question deeprag asks is whether an embedder or reranker trained on
English can read a query or a corpus, and for Chinese, Japanese and Korean the script answers it. A text is
counted in *units*, one per reader's token in each script: every Han character is a unit of Chinese ("zh"),
every kana one of Japanese ("ja"), every hangul syllable one of Korean ("ko"), and every Latin-script word one
of "en" (French or German count as "en" too: an English model reads their script, if not their words). Words in
other scripts (Cyrillic, Greek, Arabic, ...) are "other"; digits alone are no language. Counting Chinese by
characters and English by words keeps a Chinese sentence that names a few English terms ("DeepSeek-V3 的 MLA
是什么") Chinese, as its reader would call it.

Counts add up, so a chunk's, a file's and an index's counts are sums, and shares are taken at the end.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Iterable, Mapping

OTHER = "other"
LanguageCounts = dict[str, int]  # language code → units

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff"
_HANGUL = "\uac00-\ud7af"
_UNIT = re.compile(rf"([{_HAN}])|([{_KANA}])|([{_HANGUL}])|([^\W_{_HAN}{_KANA}{_HANGUL}]+)")
_DIGITS = re.compile(r"\d+")


def count_units(text: str) -> LanguageCounts:
    """Units of each language in ``text`` (see the module docstring); empty for text without letters."""
    counts: Counter[str] = Counter()
    for han, kana, hangul, word in _UNIT.findall(text):
        if han:
            counts["zh"] += 1
        elif kana:
            counts["ja"] += 1
        elif hangul:
            counts["ko"] += 1
        elif not _DIGITS.fullmatch(word):
            counts["en" if _is_latin(word) else OTHER] += 1
    return dict(counts)


def _is_latin(word: str) -> bool:
    """A word whose letters are all Latin script (digits allowed: "V3", "E6200")."""
    return all(ch.isdigit() or "LATIN" in unicodedata.name(ch, "") for ch in word)


def add_counts(total: LanguageCounts, more: Mapping[str, int]) -> LanguageCounts:
    """``total`` with ``more`` added (in place, and returned)."""
    for code, units in more.items():
        total[code] = total.get(code, 0) + int(units)
    return total


def sum_counts(counts: Iterable[Mapping[str, int]]) -> LanguageCounts:
    total: LanguageCounts = {}
    for one in counts:
        add_counts(total, one)
    return total


def shares(counts: Mapping[str, int]) -> dict[str, float]:
    """Each language's share of the units, largest first; empty when there are none."""
    total = sum(counts.values())
    if total <= 0:
        return {}
    return {code: units / total for code, units in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            if units > 0}


def primary_language(counts: Mapping[str, int]) -> str | None:
    """The language with the most units (a known code or "other"), None for text without letters."""
    ranked = shares(counts)
    return next(iter(ranked), None)


def language_of(text: str) -> str | None:
    """The primary language of one text (a query, a chunk)."""
    return primary_language(count_units(text))


def describe(counts: Mapping[str, int], minimum: float = 0.005) -> str:
    """"zh 62%, en 38%" (shares under ``minimum`` left out); "no text" for empty counts."""
    parts = [f"{code} {share:.0%}" for code, share in shares(counts).items() if share >= minimum]
    return ", ".join(parts) if parts else "no text"


def has_language(counts: Mapping[str, int], code: str, minimum: float = 0.05) -> bool:
    """Whether ``code`` makes up at least ``minimum`` of the units (a Chinese or mixed corpus: zh ≥ 5%)."""
    return shares(counts).get(code, 0.0) >= minimum

