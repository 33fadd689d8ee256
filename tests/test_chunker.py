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
