"""Turning an answer's citations into what the source cards show: links from [n] to card n, the stretch of
the cited chunk that supports the citing sentence, and the chunk in the context of its neighbours.

Plain functions over strings and chunks; the chat page draws the result.
"""

from __future__ import annotations

import html
import re

from generation.citations import CITATION, numbers_in
from ingest.chunker import sentence_spans
from ingest.docstore import Docstore
from ingest.models import Chunk

_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]{3,}", re.UNICODE)


def anchor(turn: int, number: int) -> str:
    """The HTML id of source card ``number`` of chat turn ``turn`` (ids must be unique on the page)."""
    return f"t{turn}-source-{number}"


def link_citations(answer: str, passage_count: int, turn: int) -> str:
    """The answer as Markdown where each valid [n] links to source card n of the same turn."""

    def links(match: re.Match) -> str:
        numbers = numbers_in(match.group(1))
        if not all(1 <= n <= passage_count for n in numbers):
            return match.group(0)
        return "".join(f"[\\[{n}\\]](#{anchor(turn, n)})" for n in numbers)

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


def cited_span(text: str, claims: list[str]) -> tuple[int, int] | None:
    """The sentence of ``text`` sharing the most words with ``claims`` (CJK characters count as words),
    or None when no sentence shares two. A lexical match, not an entailment judge: it points the reader's
    eye at the likely support, the eval's faithfulness judge decides whether it really supports."""
    wanted = _words(" ".join(claims))
    best, best_overlap = None, 1
    for start, end in sentence_spans(text):
        overlap = len(wanted & _words(text[start:end]))
        if overlap > best_overlap:
            best, best_overlap = (start, end), overlap
    return best


def highlighted_html(text: str, span: tuple[int, int] | None) -> str:
    """``text`` escaped for HTML (documents are untrusted), with ``span`` in <mark>."""
    if span is None:
        body = _escape(text)
    else:
        start, end = span
        body = f"{_escape(text[:start])}<mark>{_escape(text[start:end])}</mark>{_escape(text[end:])}"
    # One line inside a <div>: an HTML block, so Markdown in the document ("# title", "*") stays literal text.
    return f'<div class="deeprag-passage">{body}</div>'



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


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def _escape(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")
