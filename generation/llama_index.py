"""deeprag's answers inside llama-index: one call builds a llama-index query engine over a deeprag index that
answers through the server ``deeprag serve`` runs (any OpenAI-compatible one) with deeprag's cited prompt.

``query_engine`` is llama-index's own ``RetrieverQueryEngine``: ``DeepragRetriever`` (retrieval/llama_index.py)
finds the passages, llama-index's ``OpenAILike`` talks to the server, and ``CitedAnswer``, a response
synthesizer, writes the prompt deeprag's chat writes (generation/prompt.py: numbered passages, the citation
rule, English or Chinese after the question), fitted into the server's context with the server's own token
counts (vLLM's ``/tokenize``) as ``deeprag ask`` fits it. An answer's ``[n]`` is ``response.source_nodes[n-1]``.

Offline and without side effects: llama-index falls back to process-wide defaults that need the internet
(``Settings.llm`` is OpenAI's; its tokenizer is tiktoken, which downloads its vocabulary when TIKTOKEN_CACHE_DIR
points anywhere but llama-index's bundled copy). Here the LLM, the synthesizer and its prompt helpers are passed
explicitly, so no default is resolved, and the caller's ``Settings`` are left as they were.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Iterable, Sequence

from generation.citations import parse_citations
from generation.llm import ContextOverflow, LLMClient
from generation.prompt import (
    REMINDER_EN, REMINDER_ZH, SYSTEM_EN, SYSTEM_ZH, Passage, estimate_tokens, fit_passages, is_chinese,
)
from ground.config import Config, LLMConfig, load_config
from ingest.embedder import Embedder
from ingest.llama_index_documents import llama_index_missing
from retrieval.llama_index import DeepragRetriever

try:
    from llama_index.core.base.llms.types import ChatMessage, MessageRole
    from llama_index.core.base.response.schema import RESPONSE_TYPE
    from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW
    from llama_index.core.indices.prompt_helper import ChatPromptHelper, PromptHelper
    from llama_index.core.postprocessor.types import BaseNodePostprocessor
    from llama_index.core.prompts import BasePromptTemplate, ChatPromptTemplate, PromptType
    from llama_index.core.prompts.mixin import PromptDictType
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.response_synthesizers import BaseSynthesizer
    from llama_index.core.schema import NodeWithScore
    from llama_index.core.types import RESPONSE_TEXT_TYPE
except ImportError as exc:  # the optional extra is not installed
    raise llama_index_missing("deeprag's llama-index query engine") from exc

try:
    from llama_index.llms.openai_like import OpenAILike
except ImportError as exc:
    raise llama_index_missing("deeprag's llama-index query engine (llama-index-llms-openai-like)") from exc

log = logging.getLogger(__name__)

# The labels generation.prompt.build_messages writes around the passages and the question (English, Chinese);
# tests/test_llama_index.py checks that this template renders exactly build_messages' messages.
_LABELS = {False: ("Passages:", "Question: "), True: ("段落：", "问题：")}


def _chinese(variables: dict[str, Any]) -> bool:
    return is_chinese(str(variables.get("query_str", "")))


def cited_prompt() -> ChatPromptTemplate:
    """deeprag's cited answer prompt as a llama-index template over ``context_str`` (the numbered passages)
    and ``query_str``; the instructions follow the question's language, as deeprag's own prompt does."""
    return ChatPromptTemplate(
        message_templates=[
            ChatMessage(role=MessageRole.SYSTEM, content="{system}"),
            ChatMessage(role=MessageRole.USER,
                        content="{heading}\n\n{context_str}\n\n{asked}{query_str}\n\n{reminder}"),
        ],
        prompt_type=PromptType.QUESTION_ANSWER,
        function_mappings={
            "system": lambda **v: SYSTEM_ZH if _chinese(v) else SYSTEM_EN,
            "heading": lambda **v: _LABELS[_chinese(v)][0],
            "asked": lambda **v: _LABELS[_chinese(v)][1],
            "reminder": lambda **v: REMINDER_ZH if _chinese(v) else REMINDER_EN,
        },
    )


def served_llm(settings: LLMConfig, client: LLMClient | None = None) -> OpenAILike:
    """llama-index's OpenAILike for the server deeprag's ``[llm]`` settings name, with the model the server
    serves when ``llm.model`` is empty and the context length it reports. Asks the server once (its model
    list), so a server that is down or serves another model fails here with deeprag's one-line LLMError."""
    model = (client or LLMClient(settings)).model
    return OpenAILike(
        model=model.name,
        api_base=settings.base_url,
        api_key=settings.api_key or "EMPTY",
        is_chat_model=True,
        is_function_calling_model=False,
        context_window=model.max_model_len or DEFAULT_CONTEXT_WINDOW,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
    )


def _estimated_tokens(text: str) -> list[int]:
    """generation.prompt.estimate_tokens' rule (one token per 3 UTF-8 bytes, deliberately high) as the
    tokenizer llama-index's prompt helpers require: given to them so they never load tiktoken."""
    return [0] * (len(text.encode("utf-8")) // 3 + 1)


class CitedAnswer(BaseSynthesizer):
    """A llama-index response synthesizer that answers as deeprag's chat does: the nodes, in order, become the
    numbered passages [1], [2], ... of one prompt, fitted to the server's context by trimming from the last
    (never the question), and the LLM is asked once. Streams when ``streaming``."""

    def __init__(
        self,
        llm: OpenAILike,
        client: LLMClient,
        max_tokens: int,
        *,
        text_qa_template: BasePromptTemplate | None = None,
        streaming: bool = False,
    ) -> None:
        window = llm.metadata.context_window
        super().__init__(
            llm=llm,
            prompt_helper=PromptHelper(window, max_tokens, tokenizer=_estimated_tokens),
            chat_prompt_helper=ChatPromptHelper(window, max_tokens, tokenizer=_estimated_tokens),
            streaming=streaming,
        )
        self._client = client
        self._max_tokens = max_tokens
        self._text_qa_template = text_qa_template or cited_prompt()

    def _get_prompts(self) -> PromptDictType:
        return {"text_qa_template": self._text_qa_template}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        if "text_qa_template" in prompts:
            self._text_qa_template = prompts["text_qa_template"]

    def get_response(self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any) -> RESPONSE_TEXT_TYPE:
        context = self.context(query_str, text_chunks)
        if self._streaming:
            return self._llm.stream(self._text_qa_template, context_str=context, query_str=query_str, **response_kwargs)
        answer = self._llm.predict(self._text_qa_template, context_str=context, query_str=query_str, **response_kwargs)
        return answer or self._empty_response

    async def aget_response(
        self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any
    ) -> RESPONSE_TEXT_TYPE:
        context = await asyncio.to_thread(self.context, query_str, text_chunks)  # /tokenize calls block
        if self._streaming:
            return await self._llm.astream(self._text_qa_template, context_str=context, query_str=query_str,
                                           **response_kwargs)
        answer = await self._llm.apredict(self._text_qa_template, context_str=context, query_str=query_str,
                                          **response_kwargs)
        return answer or self._empty_response

    def context(self, query: str, text_chunks: Sequence[str]) -> str:
        """The numbered passage block, fitted. Each node's text (a deeprag node renders as title, line break,
        text) becomes a passage titled by its first line, so a block reads ``[n] title\\ntext`` as in deeprag's
        prompt and trimming shortens the text, never the title."""
        passages = [Passage(head, tail) if sep else Passage("", chunk)
                    for chunk in text_chunks for head, sep, tail in [chunk.partition("\n")]]
        fitted = self._fit(query, passages)
        return "\n\n".join(f"[{number}] {p.title}\n{p.text}".strip() for number, p in enumerate(fitted, 1))

    def _fit(self, query: str, passages: list[Passage]) -> list[Passage]:
        """What AnswerPipeline.fit_passages does for `deeprag ask`: the server's context minus room for the
        answer, counted by the server (an estimate where it has no /tokenize)."""
        max_len = self._client.model.max_model_len
        if max_len is None:
            return passages
        budget = max_len - self._max_tokens

        def count(messages: list[dict[str, str]]) -> int:
            exact = self._client.count_prompt_tokens(messages)
            return exact if exact is not None else estimate_tokens(messages)

        fitted = fit_passages(query, passages, budget, count)
        if passages and not fitted:
            raise ContextOverflow(
                f"the question alone does not fit the server's max-model-len {max_len} minus llm.max_tokens "
                f"{self._max_tokens}; shorten the question, lower llm.max_tokens, or serve with a larger "
                "--max-model-len")
        if len(fitted) < len(passages) or (fitted and fitted[-1] != passages[len(fitted) - 1]):
            log.info("trimmed passages to fit max-model-len %d: %d of %d sent", max_len, len(fitted), len(passages))
        return fitted


def query_engine(
    index_dir: Path | str | None = None,
    config: Config | None = None,
    *,
    similarity_top_k: int | None = None,
    node_postprocessors: Iterable[BaseNodePostprocessor] = (),
    streaming: bool = False,
    embedder: Embedder | None = None,
) -> RetrieverQueryEngine:
    """A llama-index query engine over the deeprag index at ``index_dir``, answering through the server of
    deeprag's ``[llm]`` settings with deeprag's cited prompt. Everything not given comes from ``config``
    (default ``load_config()``): the index directory, retrieval (``similarity_top_k`` defaults to
    ``retrieval.k``; deeprag's search already reranks when ``retrieval.rerank``), the server, model and
    ``llm.max_tokens``. ``node_postprocessors`` run between retrieval and the prompt, as in any llama-index
    engine. ``engine.query(q)`` returns llama-index's Response: its text cites ``[n]`` = ``source_nodes[n-1]``
    (``cited_nodes`` resolves them)."""
    config = config or load_config()
    retriever = DeepragRetriever(index_dir, similarity_top_k, config=config, embedder=embedder)
    client = LLMClient(config.llm)
    synthesizer = CitedAnswer(served_llm(config.llm, client), client, config.llm.max_tokens, streaming=streaming)
    return RetrieverQueryEngine(retriever, response_synthesizer=synthesizer,
                                node_postprocessors=list(node_postprocessors))


def cited_nodes(response: RESPONSE_TYPE) -> list[NodeWithScore]:
    """The source nodes an answer cites, in order of first citation (a finished, non-streaming response)."""
    sources = list(response.source_nodes)
    return [sources[number - 1] for number in parse_citations(str(response), len(sources))]
