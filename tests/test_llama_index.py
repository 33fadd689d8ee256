"""deeprag inside llama-index, with the real llama-index-core: the retriever over a real index, the reranker over
nodes from llama-index's own retriever, documents from SimpleDirectoryReader ingested incrementally and deleted,
`deeprag ingest` reading a type only llama-index reads, and a query engine answering through the real vLLM test
server (tiny-deepseek-v3: gibberish text, so the test checks the path, the prompt and the sources, not quality).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import llama_index.core
import pytest
from llama_index.core import Document, SimpleDirectoryReader, SummaryIndex
from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.llm import LLMChatStartEvent
from llama_index.core.node_parser import TokenTextSplitter
from llama_index.core.schema import MetadataMode, TextNode
from llm_fixtures import sample_index, vllm_url  # noqa: F401 (fixtures)

from generation.prompt import REMINDER_EN, SYSTEM_EN, Passage, build_messages
from ground.config import load_config
from ground.errors import DeepragError
from ingest.llama_index_documents import (
    KEY_PREFIX, LlamaIndexMissing, delete_documents, ingest_documents, source_id,
)
from ingest.pipeline import Ingestor
from ingest.readers import LLAMA_INDEX_INSTALL
from retrieval.llama_index import DeepragReranker, DeepragRetriever
from retrieval.searcher import Searcher
from tests.conftest import write

QUESTION = "What does multi-head latent attention compress?"
STAGE_SCORES = ("score", "dense_score", "bm25_score", "fused_score", "rerank_score")


def settings(index_dir: Path, **overrides):
    """Default settings over ``index_dir``; the shipped reranker in fp32 (no precision probe in tests)."""
    return load_config(env={}, overrides={"index_dir": str(index_dir), "retrieval.reranker_precision": "float32",
                                          **overrides})


# -- the retriever ---------------------------------------------------------------------------------------


def test_retriever_returns_deeprags_hits_as_nodes_with_their_metadata(sample_index, embedder):  # noqa: F811
    config = settings(sample_index)
    retriever = DeepragRetriever(sample_index, similarity_top_k=3, config=config, embedder=embedder)
    nodes = retriever.retrieve(QUESTION)
    hits = Searcher.for_config(config, embedder).search(QUESTION, k=3).hits

    assert [n.node.node_id for n in nodes] == [str(h.chunk.chunk_id) for h in hits]
    assert nodes[0].node.metadata["source"].endswith("multi-head-latent-attention.md")
    for node, hit in zip(nodes, hits):
        chunk, metadata = hit.chunk, node.node.metadata
        assert isinstance(node.node, TextNode) and node.node.text == chunk.text
        assert node.score == pytest.approx(hit.score)
        assert (metadata["source"], metadata["title"], metadata["page"]) == (chunk.source, chunk.title, chunk.page)
        assert (metadata["start"], metadata["end"]) == (chunk.start, chunk.end)
        assert (node.node.start_char_idx, node.node.end_char_idx) == (chunk.start, chunk.end)
        for stage in STAGE_SCORES:  # hybrid + rerank: every stage ran, and each score is the hit's
            assert metadata[stage] == pytest.approx(getattr(hit, stage)), stage
        # What an LLM or embedder sees of the node is what deeprag indexes: title and text, no paths or scores.
        assert node.node.get_content(MetadataMode.LLM) == chunk.indexed_text()
        assert node.node.get_content(MetadataMode.EMBED) == chunk.indexed_text()


def test_async_retrieval_and_settings_from_the_arguments(sample_index, embedder):  # noqa: F811
    retriever = DeepragRetriever(sample_index, similarity_top_k=2, mode="bm25", rerank=False,
                                 config=settings(sample_index), embedder=embedder)
    nodes = asyncio.run(retriever.aretrieve(QUESTION))
    assert [n.node.node_id for n in nodes] == [n.node.node_id for n in retriever.retrieve(QUESTION)]
    assert len(nodes) == 2 and retriever.similarity_top_k == 2
    metadata = nodes[0].node.metadata
    assert metadata["bm25_score"] is not None and metadata["dense_score"] is None and metadata["rerank_score"] is None
    with pytest.raises(DeepragError, match="retrieval.k"):
        DeepragRetriever(sample_index, similarity_top_k=0, config=settings(sample_index), embedder=embedder)


# -- the reranker ----------------------------------------------------------------------------------------


def test_reranker_reorders_nodes_from_a_llama_index_retriever():
    relevant = TextNode(id_="mla", text="Multi-head latent attention compresses the keys and values into one small "
                                        "latent vector per token, which shrinks the KV cache.")
    distractors = [
        TextNode(id_="moe", text="A mixture-of-experts layer routes each token to a few of many expert networks."),
        TextNode(id_="serve", text="vLLM serves models over an OpenAI-compatible API and batches requests."),
    ]
    # llama-index's own retriever, offline: a summary index returns every node, in the order it was built.
    # (Its default transformations would load tiktoken; with nodes given they are never used.)
    index = SummaryIndex(distractors + [relevant], transformations=[TokenTextSplitter(tokenizer=str.split)])
    retrieved = index.as_retriever().retrieve(QUESTION)
    assert [n.node.node_id for n in retrieved][-1] == "mla"

    reranker = DeepragReranker(top_n=2, config=settings(Path("unused")))
    assert reranker.model == "deeprag-reranker-minilm-l6"
    ranked = reranker.postprocess_nodes(retrieved, query_str=QUESTION)
    assert [n.node.node_id for n in ranked][0] == "mla" and len(ranked) == 2
    assert ranked[0].score > ranked[1].score
    assert ranked[0].score == pytest.approx(reranker._scorer.score(QUESTION, [relevant.get_content()])[0])
    with pytest.raises(DeepragError, match="needs the query"):
        reranker.postprocess_nodes(retrieved)


def test_reranker_refuses_a_model_it_cannot_load(tmp_path):
    with pytest.raises(DeepragError, match="cannot be loaded"):
        DeepragReranker(model=str(tmp_path / "no-such-model"), config=settings(tmp_path))


# -- ingesting llama-index documents ---------------------------------------------------------------------


def test_documents_from_simple_directory_reader_ingest_incrementally_and_delete(tmp_path, embedder):
    docs = tmp_path / "docs"
    table = write(docs / "people.csv", "name,field\nAda Lovelace,analytical engine programs\n"
                                       "Grace Hopper,the first compiler\n")
    write(docs / "notes.txt", "Multi-head latent attention compresses keys and values into a latent vector.")
    config = settings(tmp_path / "index", **{"retrieval.rerank": False})

    first = ingest_documents(SimpleDirectoryReader(str(docs)).load_data(), config=config, embedder=embedder)
    assert (first.added, first.unchanged) == (2, 0) and first.chunks_embedded >= 2 and not first.skipped

    # A second read draws new random doc ids; the sources (file paths) and texts are the same: nothing embedded.
    again = ingest_documents(SimpleDirectoryReader(str(docs)).load_data(), config=config, embedder=embedder)
    assert (again.added, again.updated, again.unchanged, again.chunks_embedded) == (0, 0, 2, 0)

    retriever = DeepragRetriever(similarity_top_k=2, mode="bm25", config=config, embedder=embedder)
    found = retriever.retrieve("who wrote the first compiler?")
    assert found[0].node.metadata["source"] == str(table) and "Grace Hopper" in found[0].node.text
    assert found[0].node.metadata["title"] == "people"

    write(table, "name,field\nGrace Hopper,COBOL and the first compiler\n")
    changed = ingest_documents(SimpleDirectoryReader(str(docs)).load_data(), config=config, embedder=embedder)
    assert (changed.updated, changed.unchanged) == (1, 1) and changed.chunks_embedded >= 1

    table_documents = SimpleDirectoryReader(input_files=[str(table)]).load_data()
    assert source_id(table_documents[0]) == str(table)
    assert delete_documents(table_documents, config=config) >= 1
    assert all(n.node.metadata["source"] != str(table) for n in retriever.retrieve("who wrote the first compiler?"))
    with pytest.raises(DeepragError, match="not in the index"):
        delete_documents([str(table)], config=config)


def test_documents_without_a_file_keep_their_doc_id_and_survive_prune(tmp_path, embedder):
    config = settings(tmp_path / "index")
    faq = Document(text="The reranker ships inside the package, so it works offline.", doc_id="faq-1",
                   metadata={"title": "FAQ"})
    assert ingest_documents([faq], config=config, embedder=embedder).added == 1
    key = f"{KEY_PREFIX}faq-1"
    assert source_id(faq) == key

    # `deeprag ingest --prune` drops indexed files that are gone; an id that is no path is no file.
    Ingestor.for_config(config, embedder).run([write(tmp_path / "other.txt", "Another file.")], prune=True)
    hits = Searcher.for_config(config, embedder).search("does the reranker work offline?", k=2, rerank=False).hits
    assert [(h.chunk.source, h.chunk.title) for h in hits if h.chunk.source == key] == [(key, "FAQ")]
    assert delete_documents([key], config=config) == 1


# -- `deeprag ingest` reading what only llama-index reads ------------------------------------------------


def test_ingest_reads_csv_through_llama_index_and_says_how_to_get_it(tmp_path, embedder, monkeypatch):
    folder = tmp_path / "docs"
    table = write(folder / "planets.csv", "planet,moons\nMars,Phobos and Deimos\nJupiter,95 known moons\n")
    config = settings(tmp_path / "index")
    summary = Ingestor.for_config(config, embedder).run([folder])
    assert summary.added == 1 and not summary.skipped
    chunks = Searcher.for_config(config, embedder).snapshot.docstore.chunks_of(str(table))
    assert chunks and "Mars, Phobos and Deimos" in chunks[0].text and chunks[0].title == "planets"

    import ingest.readers

    monkeypatch.setattr(ingest.readers, "llama_index_available", lambda: False)  # as without the extra
    bare = settings(tmp_path / "index-without")
    summary = Ingestor.for_config(bare, embedder).run([folder, table])
    assert summary.added == 0 and [s.path for s in summary.skipped] == [str(table)]  # the folder walk skips it
    assert LLAMA_INDEX_INSTALL in summary.skipped[0].reason


def test_a_missing_extra_is_one_typed_error_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_index.core.base.base_retriever", None)  # import fails as if absent
    monkeypatch.delitem(sys.modules, "retrieval.llama_index")
    with pytest.raises(LlamaIndexMissing, match=r"pip install -e \.\[llama-index\]"):
        importlib.import_module("retrieval.llama_index")


# -- the query engine ------------------------------------------------------------------------------------


@pytest.mark.parametrize("question", [QUESTION, "多头潜在注意力压缩了什么？"])
def test_the_template_renders_deeprags_own_prompt(question):
    from generation.llama_index import cited_prompt

    passages = [Passage("MLA", "Keys and values share a latent."), Passage("", "Untitled passage.")]
    context = "\n\n".join(f"[{n}] {p.title}\n{p.text}".strip() for n, p in enumerate(passages, 1))
    rendered = cited_prompt().format_messages(context_str=context, query_str=question)
    assert [{"role": m.role.value, "content": m.content} for m in rendered] == build_messages(question, passages)


class _ChatMessages(BaseEventHandler):
    """Keeps the messages of each chat request llama-index sends (its instrumentation, not a mock)."""

    sent: list = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "ChatMessages"

    def handle(self, event, **kwargs) -> None:
        if isinstance(event, LLMChatStartEvent):
            self.sent.append(event.messages)


def test_query_engine_answers_through_vllm_with_cited_prompt_offline(
    sample_index, vllm_url, embedder, tmp_path, monkeypatch  # noqa: F811
):
    from generation.llama_index import query_engine

    # Offline proof: llama-index's default tokenizer (tiktoken) would download its vocabulary into this empty
    # cache (the machine has no route out, so that fails), and would be set as the global tokenizer.
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.setattr(llama_index.core, "global_tokenizer", None)
    handler = _ChatMessages()
    root = get_dispatcher()
    monkeypatch.setattr(root, "event_handlers", [*root.event_handlers, handler])

    config = settings(sample_index, **{"retrieval.rerank": False, "llm.base_url": vllm_url,
                                       "llm.max_tokens": 16, "llm.temperature": 0.0})
    engine = query_engine(sample_index, config, similarity_top_k=3, embedder=embedder)
    response = engine.query(QUESTION)

    assert str(response).strip()
    assert len(response.source_nodes) == 3
    first = response.source_nodes[0].node
    assert first.metadata["source"].endswith("multi-head-latent-attention.md") and first.node_id.isdigit()
    assert all(n.node.metadata["bm25_score"] is not None for n in response.source_nodes)
    system, user = handler.sent[-1]
    assert system.content == SYSTEM_EN
    assert user.content.startswith(f"Passages:\n\n[1] {first.metadata['title']}\n")
    assert user.content.endswith(f"Question: {QUESTION}\n\n{REMINDER_EN}")

    answered = asyncio.run(query_engine(sample_index, config, similarity_top_k=2, embedder=embedder).aquery(QUESTION))
    assert str(answered).strip() and len(answered.source_nodes) == 2 and len(handler.sent) == 2

    assert llama_index.core.global_tokenizer is None and not any(cache.iterdir())
