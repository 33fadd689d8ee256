"""Sentence-aware chunking, budgeted in the embedder's own tokens, with exact character offsets.

Written here rather than taken from llama-index's SentenceSplitter because that splitter recovers a chunk's
offsets by searching for its text again (wrong when a passage repeats) and its default tokenizer downloads
tiktoken data at run time, which fails offline. The rules:

- sentences end at . ! ? ; and their CJK forms 。！？；… or at a line break, so Chinese text without spaces
  splits too;
- sentences are packed greedily until the next one would exceed the budget;
- consecutive chunks share whole sentences worth up to ``overlap_tokens``;
- a sentence longer than the budget is cut into windows that fit, preferring a break at white space.

Every step is linear in the text, because one long "sentence" (a log line, a minified file, a PDF without
punctuation) can be megabytes: the sentence pattern never backtracks over a run of full stops, and the window
cutter counts only window-sized strings.
"""

from __future__ import annotations

import bisect
import logging
import re
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from ingest.models import Chunk, Document

log = logging.getLogger(__name__)

TokenCounter = Callable[[Sequence[str]], list[int]]

# A Latin end of sentence is a run of . ! ? ; (then closing quotes) before white space. The run is matched
# only from its first character and possessively: a backtracking pattern tried the run again from each of
# its characters, so 64 KB of dots before a letter took minutes. The matches are the same.
_SENTENCE_END = re.compile(r"(?:(?<![.!?;])[.!?;]++[\"'”’)\]]*+(?=\s|$)|[。！？；…]+[”’」』）)]*|\n)\s*")
# Longer sentences go to the window cutter without being counted whole. Such a count is a wasted pass (to fit
# 256 tokens they would need 64 characters a token, which only runs of unknown tokens have, and the cutter
# finds those out cheaply), and fast tokenizers slow down more than linearly on one huge string (MiniLM's on
# 2 cores: 64 KB in 0.12 s, 1 MB in 2.4 s, 4 MB in 18 s; window-sized strings cost 1 s a MB).
_COUNT_WHOLE_MAX_CHARS = 16_384
# A sentence still being cut after this many seconds gets a progress line, and another as often again.
PROGRESS_EVERY_S = 10.0


@dataclass(frozen=True)
class ChunkingPlan:
    max_tokens: int
    overlap_tokens: int

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise ValueError(f"chunking.max_tokens is {self.max_tokens}; use at least 8")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ValueError(
                f"chunking.overlap_tokens is {self.overlap_tokens}; use 0 to {self.max_tokens // 2 - 1}"
            )


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Spans (start, end) of sentences in ``text``, each including its trailing white space."""
    spans = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() > start:
            spans.append((start, match.end()))
            start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _split_long(
    text: str, start: int, end: int, budget: int, count: TokenCounter, source: str
) -> list[tuple[int, int, int]]:
    """Cut ``text[start:end]`` into windows of at most ``budget`` tokens, as (start, end, tokens).

    Each window is the longest prefix of the rest that fits, cut back to just after its last space if that
    space lies in the window's second half. Only window-sized strings are counted, two per window where the
    text is even and a few more where its density changes, so time grows linearly with the sentence. (This
    once counted the whole rest for every window: quadratic, an hour for 5 MB of one repeated word.)
    """
    first = start
    pieces = []
    chars_per_token = 4.0  # a first guess; each window corrects it for the next
    began = reported = time.monotonic()
    while start < end:
        cut, tokens = _window(text, start, end, budget, count, chars_per_token)
        pieces.append((start, cut, tokens))
        chars_per_token = (cut - start) / max(tokens, 1)
        start = cut
        if time.monotonic() - reported >= PROGRESS_EVERY_S:
            reported = time.monotonic()
            log.info(
                "%s: cutting a sentence of %d characters into windows, %d%% done (%d windows, %.0f s)",
                source, end - first, 100 * (start - first) // (end - first), len(pieces), reported - began,
            )
    if reported > began:
        log.info("%s: cut the sentence into %d windows in %.0f s", source, len(pieces), time.monotonic() - began)
    return pieces


def _window(
    text: str, start: int, end: int, budget: int, count: TokenCounter, chars_per_token: float
) -> tuple[int, int]:
    """Where the window that begins at ``start`` ends, and its tokens (the rule is in ``_split_long``).

    The search runs over the breaks after spaces first, within a reach of twice the expected window, whose
    last candidate is the reach itself: a reach that fits is doubled, and one that fits at the sentence end
    is the final window. The exact character limit matters only when the word after the last fitting break
    is long, to choose between that break and a hard cut; only then is it searched character by character.
    """
    counted: dict[int, int] = {}
    target = start + budget * chars_per_token
    reach = max(64, int(2 * budget * chars_per_token))
    while True:
        limit = min(end, start + reach)
        ends = [i + 1 for i in _spaces(text, start + 1, limit - 1)] + [limit]
        k = _last_fit(text, start, ends, budget, count, target, counted)
        if k < len(ends) - 1:
            break
        if limit == end:
            return end, counted[end]
        reach *= 2
    fit, over = (ends[k] if k >= 0 else start), ends[k + 1]  # the longest window ends in [fit, over)

    def keeps_break(longest: int) -> bool:
        return k >= 0 and fit - 1 >= start + (longest - start) // 2

    if keeps_break(over - 1):
        return fit, counted[fit]
    chars = range(fit + 1, over)
    j = _last_fit(text, start, chars, budget, count, target, counted)
    longest = chars[j] if j >= 0 else fit
    if keeps_break(longest):
        return fit, counted[fit]
    cut = max(longest, start + 1)  # a single character over budget still moves on
    if cut not in counted:
        counted[cut] = count([text[start:cut]])[0]
    return cut, counted[cut]


def _spaces(text: str, first: int, last: int) -> list[int]:
    """Positions of the spaces in ``text[first:last]``."""
    found = []
    position = text.find(" ", first, last)
    while position >= 0:
        found.append(position)
        position = text.find(" ", position + 1, last)
    return found


def _last_fit(
    text: str, start: int, ends: Sequence[int], budget: int, count: TokenCounter, target: float,
    counted: dict[int, int],
) -> int:
    """Index of the last of the increasing ``ends`` whose window ``text[start:end]`` fits the budget, -1 if
    none does, taking it that a longer window has no fewer tokens. It counts at the end nearest ``target``,
    jumps to where that count puts the limit, then gallops out and halves the gap: a right guess costs two
    counts, one that is d ends off about 2·log2(d). Counts go into ``counted`` (by end) for the caller."""

    def tokens(i: int) -> int:
        if ends[i] not in counted:
            counted[ends[i]] = count([text[start:ends[i]]])[0]
        return counted[ends[i]]

    def nearest(position: float) -> int:
        return min(max(bisect.bisect_right(ends, position) - 1, 0), len(ends) - 1)

    i = nearest(target)
    if tokens(i):
        i = nearest(start + (ends[i] - start) * budget / tokens(i))
    lo, hi = -1, len(ends)  # ends[lo] fits, or lo is -1; ends[hi] does not fit, or hi is len(ends)
    step = 1
    if tokens(i) <= budget:
        lo = i
        while lo < len(ends) - 1:
            j = min(lo + step, len(ends) - 1)
            if tokens(j) > budget:
                hi = j
                break
            lo, step = j, step * 2
    else:
        hi = i
        while hi > 0:
            j = max(hi - step, 0)
            if tokens(j) <= budget:
                lo = j
                break
            hi, step = j, step * 2
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if tokens(middle) <= budget:
            lo = middle
        else:
            hi = middle
    return lo


def chunk_document(document: Document, plan: ChunkingPlan, count: TokenCounter) -> list[Chunk]:
    """All chunks of one document, in order. The title's tokens come off the budget because the title
    is prepended to each chunk for embedding (see Chunk.indexed_text), and the model must see it all."""
    title_tokens = count([document.title])[0] + 1 if document.title else 0
    budget = max(plan.max_tokens - min(title_tokens, plan.max_tokens // 2), 8)
    overlap = min(plan.overlap_tokens, budget // 2)
    chunks: list[Chunk] = []
    for section in document.sections:
        text = section.text
        spans = sentence_spans(text)
        if not spans:
            continue
        whole = [text[s:e] for s, e in spans if e - s <= _COUNT_WHOLE_MAX_CHARS]
        sizes = iter(count(whole) if whole else [])  # HF tokenizers fail on an empty batch
        units: list[tuple[int, int, int]] = []
        for s, e in spans:
            if e - s > _COUNT_WHOLE_MAX_CHARS or (size := next(sizes)) > budget:
                units.extend(_split_long(text, s, e, budget, count, document.source))
            else:
                units.append((s, e, size))
        for first, last in _pack(units, budget, overlap):
            start, end = _trim(text, units[first][0], units[last][1])
            chunks.append(
                Chunk(
                    source=document.source,
                    doc_id=document.doc_id,
                    title=document.title,
                    text=text[start:end],
                    page=section.page,
                    start=start,
                    end=end,
                    ordinal=len(chunks),
                )
            )
    return chunks


def _pack(units: list[tuple[int, int, int]], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy packing of units into (first, last) index ranges with sentence overlap."""
    ranges = []
    first = 0
    while first < len(units):
        total = 0
        last = first
        while last < len(units) and (total + units[last][2] <= budget or last == first):
            total += units[last][2]
            last += 1
        ranges.append((first, last - 1))
        if last >= len(units):
            break
        next_first = last
        carried = 0
        while next_first - 1 > first and carried + units[next_first - 1][2] <= overlap:
            next_first -= 1
            carried += units[next_first][2]
        first = next_first
    return ranges


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
