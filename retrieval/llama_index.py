"""deeprag inside llama-index: the index as a llama-index retriever, the cross-encoder as a node postprocessor.

llama-index brings the engines (query engines, chat engines, agents) and the readers; deeprag brings the index
(kill-safe and incremental, dense + BM25 fused, reranked offline by its own cross-encoder). ``DeepragRetriever``
runs deeprag's whole search (``Searcher``) per query and hands back ``NodeWithScore``s whose ``TextNode`` keeps
what a deeprag hit knows: the chunk id as node id, its source, title, page, character offsets and every stage's
score. ``DeepragReranker`` puts deeprag's cross-encoder behind llama-index's postprocessor interface, so it
reranks nodes from any retriever.

Node content: llama-index renders a node for an LLM or an embedder as its metadata plus its text; here only the
title takes part (``{title}\\n{text}``, what deeprag's embedder, BM25 and reranker see), so sources, offsets and
scores never leak into prompts. llama-index is an optional extra and is imported here only: without it, importing
this module raises ``LlamaIndexMissing`` with the install command.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ground.config import Config, Mode, RetrievalConfig, load_config, updated
from ground.errors import DeepragError
from ingest.embedder import Embedder
from ingest.llama_index_documents import llama_index_missing
from retrieval.hits import SearchHit
from retrieval.reranker import CrossEncoderReranker, RerankerUnavailable, load_reranker
from retrieval.searcher import Searcher

try:
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.bridge.pydantic import Field, PrivateAttr
    from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
    from llama_index.core.postprocessor.types import BaseNodePostprocessor
    from llama_index.core.schema import (
        MetadataMode, NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode,
    )
except ImportError as exc:  # the optional extra is not installed
    raise llama_index_missing("deeprag's llama-index integration") from exc

log = logging.getLogger(__name__)
dispatcher = get_dispatcher(__name__)

# The metadata key a node's LLM/embedding rendering keeps; every other key is for the caller, not the model.
RENDERED_KEY = "title"


def hit_to_node(hit: SearchHit) -> NodeWithScore:
    """A deeprag hit as a llama-index node: id = chunk id, text = chunk text, metadata = where it came from and
    every stage's score (None for a stage that did not run), offsets also as llama-index's own char indexes."""
    chunk = hit.chunk
    metadata: dict[str, Any] = {
        "source": chunk.source,
        "doc_id": chunk.doc_id,
        "title": chunk.title,
        "page": chunk.page,
        "start": chunk.start,
        "end": chunk.end,
        "score": hit.score,
        "dense_score": hit.dense_score,
        "bm25_score": hit.bm25_score,
        "fused_score": hit.fused_score,
        "rerank_score": hit.rerank_score,
    }
    hidden = [key for key in metadata if key != RENDERED_KEY]
    node = TextNode(
        id_=str(chunk.chunk_id),
        text=chunk.text,
        metadata=metadata,
        start_char_idx=chunk.start,
        end_char_idx=chunk.end,
        excluded_embed_metadata_keys=hidden,
        excluded_llm_metadata_keys=hidden,
        metadata_template="{value}",
        text_template="{metadata_str}\n{content}",
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=chunk.source)},
    )
    return NodeWithScore(node=node, score=hit.score)


class DeepragRetriever(BaseRetriever):
    """A deeprag index directory as a llama-index retriever: deeprag's search (dense + BM25, fusion, rerank)
    per query, ``similarity_top_k`` nodes back, best first.

    Every setting not given comes from deeprag's configuration (``config``, default ``load_config()``: defaults,
    ``deeprag.toml``, ``DEEPRAG_*`` variables): the index directory, ``retrieval.k`` for ``similarity_top_k``,
    ``retrieval.mode`` (hybrid | dense | bm25), ``retrieval.rerank`` and the rest of the retrieval, embedding and
    index sections. Values are checked like any setting (a ConfigError names the bad one). The index is opened
    here (IndexMissing if there is none); each query first picks up what an ingestion committed since.
    """

    def __init__(
        self,
        index_dir: Path | str | None = None,
        similarity_top_k: int | None = None,
        mode: Mode | None = None,
        rerank: bool | None = None,
        config: Config | None = None,
        *,
        embedder: Embedder | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        config = config or load_config()
        directory = Path(index_dir) if index_dir is not None else config.index_dir
        self.settings: RetrievalConfig = updated(
            config.retrieval, {"k": similarity_top_k, "mode": mode, "rerank": rerank})
        self.searcher = Searcher(directory, self.settings, config.index, config.embedding, embedder)
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @property
    def similarity_top_k(self) -> int:
        return self.settings.k

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        self.searcher.refresh()
        result = self.searcher.search(query_bundle.query_str, self.settings)
        log.debug("deeprag search %r: %d hits, stages %s ms", result.query, len(result.hits),
                  {stage: round(ms, 1) for stage, ms in result.timings_ms.items()})
        return [hit_to_node(hit) for hit in result.hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """The search is CPU-bound and blocking (FAISS, BM25, the models): run it off the event loop."""
        return await asyncio.to_thread(self._retrieve, query_bundle)


class DeepragReranker(BaseNodePostprocessor):
    """deeprag's cross-encoder as a llama-index node postprocessor: scores each (query, node) pair, sets the
    node's score to the cross-encoder's, and returns the ``top_n`` best first. Works on nodes from any retriever
    (a node is scored as llama-index renders it for embedding; a deeprag node as title + text, like deeprag's
    own reranking).

    ``model``: the reranker deeprag ships (``deeprag-reranker-minilm-l6``, offline) by default, or any
    sentence-transformers CrossEncoder name or folder. ``top_n``, the device and the precision default to
    deeprag's configuration (``retrieval.k``, ``embedding.device``, ``retrieval.reranker_precision``). The model
    is loaded once per process and setting (shared with deeprag's own search); one that cannot be loaded raises
    RerankerUnavailable here rather than leaving nodes unranked.
    """

    model: str = Field(description="CrossEncoder: a shipped deeprag model, a folder or a hub name.")
    top_n: int = Field(ge=1, description="How many nodes to return, best first.")
    device: str = Field(default="cpu", description="torch device the cross-encoder runs on.")
    precision: str = Field(default="auto", description="auto | float32 | bfloat16 | float16.")
    _scorer: CrossEncoderReranker = PrivateAttr()

    def __init__(
        self,
        top_n: int | None = None,
        model: str | None = None,
        *,
        device: str | None = None,
        precision: str | None = None,
        config: Config | None = None,
    ) -> None:
        config = config or load_config()
        retrieval = config.retrieval
        # retrieval.reranker_model = "" turns deeprag's own reranking off; a reranker asked for here still
        # gets the shipped model.
        model = model or retrieval.reranker_model or RetrievalConfig().reranker_model
        device = device or config.embedding.device
        precision = precision or retrieval.reranker_precision
        super().__init__(top_n=retrieval.k if top_n is None else top_n, model=model, device=device,
                         precision=precision)
        scorer = load_reranker(model, device, precision)
        if scorer is None:
            raise RerankerUnavailable(
                f"reranker '{model}' cannot be loaded (the warning above says why); pass model= a local "
                "CrossEncoder folder or deeprag's shipped 'deeprag-reranker-minilm-l6', or connect to the "
                "internet for hub models")
        self._scorer = scorer

    @classmethod
    def class_name(cls) -> str:
        return "DeepragReranker"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise DeepragError("DeepragReranker needs the query: call postprocess_nodes(nodes, query_str=...)")
        if not nodes:
            return []
        dispatcher.event(ReRankStartEvent(query=query_bundle, nodes=nodes, top_n=self.top_n, model_name=self.model))
        with self.callback_manager.event(
            CBEventType.RERANKING,
            payload={EventPayload.NODES: nodes, EventPayload.MODEL_NAME: self.model,
                     EventPayload.QUERY_STR: query_bundle.query_str, EventPayload.TOP_K: self.top_n},
        ) as event:
            texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
            scores = self._scorer.score(query_bundle.query_str, texts)
            ranked = sorted((NodeWithScore(node=n.node, score=s) for n, s in zip(nodes, scores)),
                            key=lambda n: -n.get_score())[: self.top_n]
            event.on_end(payload={EventPayload.NODES: ranked})
        dispatcher.event(ReRankEndEvent(nodes=ranked))
        return ranked
