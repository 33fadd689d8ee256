"""Which chunks adapt writes queries for, and the queries that need no LLM: inverse-cloze statements.

Chunks are sampled round-robin over the index's files (each file's chunks shuffled), so a corpus of one huge
manual and many short notes is adapted to both, and ``max_chunks`` caps the sample the budget can afford.
An inverse-cloze statement (``retrieval.reranker_training.ict``) is one sentence cut from a chunk; its positive
is the chunk without that sentence, so the reranker learns where a statement belongs rather than to spot a
copy of it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ingest.docstore import Docstore
from ingest.language import language_of
from ingest.models import Chunk
from retrieval.reranker_training import ict
from retrieval.reranker_training.sources import Question


@dataclass(frozen=True)
class CorpusSample:
    """The sampled chunks: their texts as the reranker sees them (``Chunk.indexed_text``) by the string id the
    training packs use, in sampling order."""

    chunks: dict[int, Chunk]
    order: list[int]

    @property
    def passages(self) -> dict[str, str]:
        return {str(i): self.chunks[i].indexed_text() for i in self.order}

    def language(self, chunk_id: int) -> str | None:
        return language_of(self.chunks[chunk_id].text)


def sample_chunks(docstore: Docstore, max_chunks: int, seed: int) -> CorpusSample:
    """Up to ``max_chunks`` chunks, taken in turn from each file (files and chunks in a seeded random order)."""
    rng = random.Random(seed)
    by_file: dict[str, list[int]] = {}
    for chunk_id, source in docstore.chunk_sources():
        by_file.setdefault(source, []).append(chunk_id)
    queues = list(by_file.values())
    rng.shuffle(queues)
    for queue in queues:
        rng.shuffle(queue)
    order: list[int] = []
    while len(order) < max_chunks and queues:
        queues = [queue for queue in queues if queue]
        for queue in queues:
            if len(order) >= max_chunks:
                break
            order.append(queue.pop())
    found = docstore.chunks(order)
    order = [i for i in order if i in found]
    return CorpusSample(found, order)


def ict_queries(sample: CorpusSample, per_chunk: int, seed: int) -> tuple[list[Question], dict[str, str]]:
    """Up to ``per_chunk`` inverse-cloze statements per sampled chunk (chunks of fewer than three sentences give
    none). Returns the questions (``positive``: the trimmed chunk's id, ``origin``: the chunk) and the trimmed
    positives' texts by id."""
    ids = [str(i) for i in sample.order]
    return ict.make_ict_questions(sample.passages, ids, len(ids) * per_chunk, seed, per_paragraph=per_chunk)
