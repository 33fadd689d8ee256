"""Turning an answer's citations into what the source cards show: links from [n] to card n, the stretches of
the cited chunk that support the answer's sentences, and the chunk in the context of its neighbours.

Plain functions over strings and chunks; the chat page draws the result.
"""

from __future__ import annotations

import html
import re
from typing import Sequence

from generation.citations import CITATION, numbers_in
from generation.grounding import CheckedSentence
from ingest.chunker import sentence_spans
from ingest.docstore import Docstore
from ingest.lexical_index import Tokenizer
from ingest.models import Chunk

Span = tuple[int, int]
ELLIPSIS = "… "


def anchor(turn: int, number: int) -> str:
    """The HTML id of source card ``number`` of chat turn ``turn`` (ids must be unique on the page)."""
    return f"t{turn}-source-{number}"


def citation_link(turn: int, number: int, title: str = "") -> str:
    """Markdown for "[n]" linking to source card n of ``turn``; ``title`` becomes its tooltip."""
    tip = f' "{title.replace(chr(34), chr(39))}"' if title else ""
    return f"[\\[{number}\\]](#{anchor(turn, number)}{tip})"


def link_citations(answer: str, passage_count: int, turn: int) -> str:
    """The answer as Markdown where each valid [n] links to source card n of the same turn."""

    def links(match: re.Match) -> str:
        numbers = numbers_in(match.group(1))
        if not all(1 <= n <= passage_count for n in numbers):
            return match.group(0)
        return "".join(citation_link(turn, n) for n in numbers)

    return CITATION.sub(links, answer)


def citing_sentences(answer: str, number: int) -> list[str]:
    """The sentences of ``answer`` that cite passage ``number``."""
    found = []
    for start, end in sentence_spans(answer):
        sentence = answer[start:end]
        for match in CITATION.finditer(sentence):
            if number in numbers_in(match.group(1)):
                found.append(CITATION.sub("", sentence).strip())
                break
    return found


def supporting_claims(checked: Sequence[CheckedSentence], answer: str, number: int) -> list[str]:
    """The answer's sentences that passage ``number`` supports, as the citation check decided (re-pointed and
    uncited sentences included where the check found this passage saying them; filler sentences never). An
    answer that was not checked falls back to the sentences that cite the passage."""
    if not checked:
        return citing_sentences(answer, number)
    return [CITATION.sub("", c.text).strip() for c in checked if c.status != "no_claim" and number in c.supported_by]


def support_spans(text: str, claims: Sequence[str]) -> list[Span]:
    """For each claim, the sentence of ``text`` sharing the most terms with it (the citation check's own
    terms: stemmed words, CJK bigrams, no stop words); claims sharing none mark nothing. Sorted, each once.
    A lexical pointer for the reader's eye; the check has already decided that the passage supports the claim."""
    terms = Tokenizer()  # the stemmer and stop words are loaded once per process
    sentences = [(_trimmed(text, span), set(terms(text[span[0]:span[1]]))) for span in sentence_spans(text)]
    found: set[Span] = set()
    for claim in claims:
        wanted = set(terms(claim))
        best, best_overlap = None, 0
        for span, sentence_terms in sentences:
            overlap = len(wanted & sentence_terms)
            if overlap > best_overlap:
                best, best_overlap = span, overlap
        if best is not None:
            found.add(best)
    return sorted(found)


def preview(text: str, spans: Sequence[Span], limit: int) -> tuple[str, list[Span]]:
    """At most ``limit`` characters of ``text`` around the first span, with the spans moved into the preview
    (clipped to it). The whole text when it is short enough."""
    if len(text) <= limit:
        return text, list(spans)
    start = max(0, (spans[0][0] if spans else 0) - limit // 4)
    end = min(len(text), start + limit)
    prefix = ELLIPSIS if start else ""
    shift = len(prefix) - start
    moved = [(max(a, start) + shift, min(b, end) + shift) for a, b in spans if a < end and b > start]
    return prefix + text[start:end] + (" …" if end < len(text) else ""), moved


def highlighted_html(text: str, spans: Sequence[Span] = ()) -> str:
    """``text`` escaped for HTML (documents are untrusted), with each span in <mark>."""
    parts, at = [], 0
    for start, end in _merged(spans):
        parts += [_escape(text[at:start]), f"<mark>{_escape(text[start:end])}</mark>"]
        at = end
    parts.append(_escape(text[at:]))
    # One line inside a <div>: an HTML block, so Markdown in the document ("# title", "*") stays literal text.
    return f'<div class="deeprag-passage">{"".join(parts)}</div>'


def in_context(docstore: Docstore, chunk: Chunk, radius: int = 2) -> tuple[str, tuple[int, int]]:
    """The chunk joined with up to ``radius`` neighbours on each side (same document and page), and where
    the chunk itself lies in that text. Chunks are stored in document order, so neighbours have nearby ids;
    their character offsets (into the same section) let overlapping chunks be joined without repeats."""
    if chunk.chunk_id is None:
        return chunk.text, (0, len(chunk.text))
    ids = range(chunk.chunk_id - radius, chunk.chunk_id + radius + 1)
    found = docstore.chunks(list(ids))
    near = sorted(
        (c for c in found.values() if c.doc_id == chunk.doc_id and c.source == chunk.source and c.page == chunk.page),
        key=lambda c: c.start,
    ) or [chunk]
    text, covered, span = "", near[0].start, (0, len(chunk.text))
    for piece in near:
        if piece.start > covered and text:
            text += " … "
        skip = max(0, covered - piece.start) if text else 0
        if piece.chunk_id == chunk.chunk_id:
            span = (len(text) - skip, len(text) - skip + len(piece.text))
        text += piece.text[skip:]
        covered = max(covered, piece.end)
    return text, span


def _trimmed(text: str, span: Span) -> Span:
    """``span`` without the white space sentence_spans keeps after a sentence."""
    return span[0], span[0] + len(text[span[0]:span[1]].rstrip())


def _merged(spans: Sequence[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _escape(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")
