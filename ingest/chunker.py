"""Sentence-aware chunking, budgeted in the embedder's own tokens, with exact character offsets.

Written here rather than taken from llama-index's SentenceSplitter because that splitter recovers a chunk's
offsets by searching for its text again (wrong when a passage repeats) and its default tokenizer downloads
tiktoken data at run time, which fails offline. The rules:

- sentences end at . ! ? ; and their CJK forms 。！？；… or at a line break, so Chinese text without spaces
  splits too;
- sentences are packed greedily until the next one would exceed the budget;
- consecutive chunks share whole sentences worth up to ``overlap_tokens``;
- a sentence longer than the budget is cut into windows that fit, preferring a break at white space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from ingest.models import Chunk, Document

TokenCounter = Callable[[Sequence[str]], list[int]]

_SENTENCE_END = re.compile(r"(?:[.!?;]+[\"'”’)\]]*(?=\s|$)|[。！？；…]+[”’」』）)]*|\n)\s*")


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


def _split_long(text: str, start: int, end: int, budget: int, count: TokenCounter) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into windows of at most ``budget`` tokens."""
    pieces = []
    while start < end:
        remaining = count([text[start:end]])[0]
        if remaining <= budget:
            pieces.append((start, end))
            break
        chars_per_token = (end - start) / max(remaining, 1)
        window = max(1, int(budget * chars_per_token))
        while window > 1 and count([text[start:start + window]])[0] > budget:
            window = max(1, int(window * 0.85))
        cut = start + window
        space = text.rfind(" ", start + window // 2, cut)
        if space > start:
            cut = space + 1
        pieces.append((start, cut))
        start = cut
    return pieces


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
        sizes = count([text[s:e] for s, e in spans])
        units: list[tuple[int, int, int]] = []
        for (s, e), size in zip(spans, sizes):
            if size > budget:
                units.extend((ps, pe, count([text[ps:pe]])[0]) for ps, pe in _split_long(text, s, e, budget, count))
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
