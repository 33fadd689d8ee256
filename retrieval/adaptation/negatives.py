"""The round-trip filter and the negatives, both from one first-stage search per synthetic query.

Round trip (Promptagator): a query is kept only if the current first stage finds its chunk among the top
``roundtrip_k``, the head the reranker reorders; a query whose chunk is not there cannot teach the reranker
anything it could use in search, and is often one the LLM wrote badly (too vague, about another chunk).
The reranker itself is not asked: it is what is being trained.

Negatives are the rest of the same hybrid top ``negatives_depth`` (routed per query like any search): the
chunks this corpus's own first stage confuses with the right one. The source chunk is left out, and so are its
near-duplicates (a word-set Jaccard of at least ``near_duplicate``: the same paragraph ingested twice, or an
overlapping neighbour), which would be unlabelled positives.
"""

from __future__ import annotations

import logging
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

from tqdm import tqdm

from ground.config import AdaptConfig
from retrieval.reranker_training import ict
from retrieval.reranker_training.mining import Mined
from retrieval.reranker_training.sources import Question

log = logging.getLogger(__name__)

PLAIN_PROGRESS_EVERY_S = 30
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W_]+")

# A first stage as adapt uses it: query → (chunk id, indexed text) pairs, best first.
Ranker = Callable[[str], list[tuple[int, str]]]


def source_chunk(question: Question) -> int:
    """The indexed chunk a synthetic query was written for (an ICT positive is a trimmed copy of it)."""
    return int(question.origin if question.origin is not None else question.positive)


def survives(source: int, ranked: Iterable[int], k: int) -> bool:
    """The round trip: is the query's own chunk among the first ``k`` of what the first stage returned?"""
    return source in list(ranked)[:k]


def near_duplicate(a: str, b: str, threshold: float) -> bool:
    """Word-set Jaccard (CJK characters count as words) of at least ``threshold``."""
    left, right = set(_TOKEN.findall(a.lower())), set(_TOKEN.findall(b.lower()))
    if not left or not right:
        return a.strip() == b.strip()
    return len(left & right) / len(left | right) >= threshold


@dataclass
class Mining:
    """What the round trip kept, with negatives, and the texts of every passage the rows name."""

    rows: list[Mined] = field(default_factory=list)
    passages: dict[str, str] = field(default_factory=dict)
    asked: Counter = field(default_factory=Counter)  # queries per source ("ict", "llm")
    kept: Counter = field(default_factory=Counter)

    def survivors(self) -> dict[str, str]:
        """'kept of asked' per source, for the report."""
        return {source: f"{self.kept[source]} of {n}" for source, n in sorted(self.asked.items())}


def mine(questions: list[Question], positives: dict[str, str], rank: Ranker, settings: AdaptConfig) -> Mining:
    """Round-trip filter ``questions`` and give each survivor ``settings.negatives_depth`` − 1 negatives at
    most (rows keep them all; training takes the first ``settings.negatives``)."""
    rng = random.Random(settings.seed)
    result = Mining(passages=dict(positives))
    bar = tqdm(questions, desc="round trip + negatives", unit="query", disable=not sys.stderr.isatty(), file=sys.stderr)
    last_line = time.monotonic()
    for done, question in enumerate(bar):
        if bar.disable and time.monotonic() - last_line > PLAIN_PROGRESS_EVERY_S:  # no terminal: a line now and then
            log.info("round trip: %d of %d queries searched", done, len(questions))
            last_line = time.monotonic()
        result.asked[question.source] += 1
        ranked = rank(question.text)
        source = source_chunk(question)
        if not survives(source, [i for i, _ in ranked], settings.roundtrip_k):
            continue
        texts = dict(ranked)
        own = texts[source]
        result.passages[str(source)] = own
        negatives = []
        for chunk_id, text in ranked:
            if chunk_id == source or near_duplicate(text, own, settings.near_duplicate):
                continue
            result.passages[str(chunk_id)] = text
            negatives.append(str(chunk_id))
        if not negatives:
            continue
        if question.source == "ict":  # trimmed like its positive, so length is no clue (ict.py)
            negatives = [ict.trim_like_a_positive(result.passages, pid, rng) for pid in negatives]
            result.passages.update({pid: ict.rebuild_passage(result.passages, pid) for pid in negatives})
        result.kept[question.source] += 1
        result.rows.append(Mined(question.qid, question.text, question.source, question.positive, negatives))
    log.info("round trip kept %s", ", ".join(f"{s}: {v}" for s, v in result.survivors().items()) or "nothing")
    return result
