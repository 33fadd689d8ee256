import logging
import time
from typing import Callable, Sequence

from ingest import chunker
from ingest.chunker import ChunkingPlan, chunk_document, sentence_spans
from ingest.models import Document, Section


def test_sentences_split_on_chinese_and_english_punctuation():
    text = "第一句。第二句！Third one? Fourth; fifth"
    pieces = [text[s:e].strip() for s, e in sentence_spans(text)]
    assert pieces == ["第一句。", "第二句！", "Third one?", "Fourth;", "fifth"]


def test_chunks_fit_budget_keep_offsets_and_overlap(embedder):
    sentences = [f"Sentence number {i} talks about retrieval and chunking in some detail." for i in range(60)]
    text = " ".join(sentences)
    document = Document("/x.txt", "/x.txt", "", [Section(text, page=3)])
    chunks = chunk_document(document, ChunkingPlan(64, 16), embedder.count_tokens)
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.start:chunk.end] == chunk.text
        assert embedder.count_tokens([chunk.text])[0] <= 64
        assert chunk.page == 3
    # consecutive chunks share at least one whole sentence, and together cover the whole text
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:]))
    assert chunks[0].start == 0 and chunks[-1].end == len(text)


def test_text_without_spaces_or_punctuation_is_cut_to_budget(embedder):
    text = "检索增强生成" * 300  # one endless "sentence" of Chinese characters
    document = Document("/y.txt", "/y.txt", "标题", [Section(text)])
    chunks = chunk_document(document, ChunkingPlan(100, 10), embedder.count_tokens)
    title_tokens = embedder.count_tokens(["标题"])[0] + 1
    assert len(chunks) > 1
    assert "".join(c.text for c in chunks) == text  # windows tile the text, nothing lost
    assert max(embedder.count_tokens([c.text])[0] for c in chunks) <= 100 - title_tokens


def test_a_run_of_full_stops_is_matched_once_not_from_every_dot():
    # The pattern used to retry the run from each of its dots: 64 KB took minutes, 20 KB some 20 s.
    text = "." * 20_000 + "x"
    started = time.perf_counter()
    spans = sentence_spans(text)
    assert time.perf_counter() - started < 1.0
    assert spans == [(0, len(text))]
    tricky = "Wait... what?! He said 'no.' Then..x. End"
    pieces = [tricky[s:e].strip() for s, e in sentence_spans(tricky)]
    assert pieces == ["Wait...", "what?!", "He said 'no.'", "Then..x.", "End"]


def _counting(embedder, allowance: int) -> tuple[Callable[[Sequence[str]], list[int]], dict[str, int]]:
    """The embedder's counter, with a tally of calls and characters; it fails the test as soon as it has
    counted more than ``allowance`` characters, so a quadratic chunker stops at its first windows."""
    used = {"calls": 0, "chars": 0}

    def count(texts: Sequence[str]) -> list[int]:
        used["calls"] += 1
        used["chars"] += sum(map(len, texts))
        assert used["chars"] <= allowance, f"counted {used['chars']} characters, more than {allowance}"
        return embedder.count_tokens(texts)

    return count, used


def test_one_huge_sentence_costs_counting_linear_in_its_length(embedder):
    # Counting, not time, is what grew (each window counted the whole rest: 28 MB counted for 256 KB, about
    # ten minutes for 1 MB), so the test bounds it per character, which machine load cannot disturb.
    plan = ChunkingPlan(min(256, embedder.max_tokens), 32)
    for size in (256 * 1024, 1024 * 1024):
        words = ["word"] * (size // 5)  # "word" is one token, so every window but the last holds a full budget
        text = " ".join(words)
        count, used = _counting(embedder, allowance=3 * len(text))
        chunks = chunk_document(Document("/huge.txt", "/huge.txt", "", [Section(text)]), plan, count)
        assert len(chunks) == -(-len(words) // plan.max_tokens)
        assert used["calls"] <= 3 * len(chunks)
    sizes = embedder.count_tokens([c.text for c in chunks])
    assert all(size == plan.max_tokens for size in sizes[:-1]) and sizes[-1] <= plan.max_tokens
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert all(a.end < b.start and not text[a.end:b.start].strip() for a, b in zip(chunks, chunks[1:]))


def test_a_long_sentence_that_fits_stays_whole(embedder):
    # Sentences over 16 K characters are not counted whole first; the window cutter must still keep one that
    # fits (MiniLM reads a word of more than 100 characters as one unknown token).
    text = "x" * 70_000
    document = Document("/x.txt", "/x.txt", "", [Section(text)])
    chunks = chunk_document(document, ChunkingPlan(64, 8), embedder.count_tokens)
    assert [(c.start, c.end) for c in chunks] == [(0, len(text))]


def test_cutting_a_long_sentence_reports_progress_only_when_slow(embedder, caplog, monkeypatch):
    text = " ".join(["word"] * 2_000)
    document = Document("/long.txt", "/long.txt", "", [Section(text)])
    with caplog.at_level(logging.INFO, logger="ingest.chunker"):
        chunk_document(document, ChunkingPlan(64, 8), embedder.count_tokens)
        assert not caplog.records  # quick work stays quiet
        monkeypatch.setattr(chunker, "PROGRESS_EVERY_S", 0.0)
        chunk_document(document, ChunkingPlan(64, 8), embedder.count_tokens)
    assert "/long.txt: cutting a sentence of 9999 characters into windows" in caplog.records[0].getMessage()
    assert "cut the sentence into 32 windows" in caplog.records[-1].getMessage()
