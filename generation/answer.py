"""The answer pipeline shared by the CLI and the UI: (rewrite) → retrieve → fit prompt → generate → cite.

`AnswerPipeline.stream()` yields one event per stage so a caller can show the sources as soon as retrieval is
done and the answer as it is written; `ask()` is the same thing, blocking. If generation fails after retrieval
worked, the raised `LLMError` carries the retrieved hits (``exc.hits``) so the sources can still be shown.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence, Union

from generation.citations import parse_citations
from generation.llm import ContextOverflow, LLMClient, LLMError, Message, Usage
from generation.prompt import Passage, build_messages, build_rewrite_messages, estimate_tokens, fit_passages
from ground.config import RetrievalConfig
from retrieval.hits import SearchHit
from retrieval.searcher import Searcher

log = logging.getLogger(__name__)

# A standalone query is one short question; more than this is the model rambling, so keep the original.
MAX_REWRITE_TOKENS = 64


@dataclass
class Citation:
    """A passage number the answer cites, resolved to where that passage came from."""

    number: int
    chunk_id: int | None
    source: str
    title: str
    page: int | None
    start: int
    end: int
    text: str

    @staticmethod
    def of(number: int, hit: SearchHit) -> "Citation":
        c = hit.chunk
        return Citation(number, c.chunk_id, c.source, c.title, c.page, c.start, c.end, c.text)


@dataclass
class Answer:
    question: str
    query: str  # what was searched: the question, or its standalone rewrite in a conversation
    text: str
    citations: list[Citation]
    hits: list[SearchHit]  # every retrieved passage, numbered [1..] in this order in the prompt
    passages_sent: int  # how many of the hits fitted into the prompt
    model: str
    # Milliseconds: rewrite, retrieve (embed + search + fuse + fetch), rerank, first_token (from the question
    # to the first answer token, as a user waits for it), generate (first to last token), total.
    timings_ms: dict[str, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)

    def as_dict(self) -> dict:
        return {
            "question": self.question,
            "query": self.query,
            "answer": self.text,
            "model": self.model,
            "citations": [vars(c) for c in self.citations],
            "sources": [hit.as_dict() for hit in self.hits],
            "passages_sent": self.passages_sent,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "usage": {"prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens},
        }


@dataclass
class Retrieved:
    query: str
    rewritten: bool
    hits: list[SearchHit]
    timings_ms: dict[str, float]


@dataclass
class TokenDelta:
    text: str


@dataclass
class Finished:
    answer: Answer


Event = Union[Retrieved, TokenDelta, Finished]


class AnswerPipeline:
    """Answers questions from an index with an LLM. Holds the searcher and client; reuse it across questions.

    ``retrieval`` (default: the searcher's own settings) is what this pipeline searches with, so each chat
    session or evaluation can share one searcher and still use its own top-k, mode, fusion and reranking."""

    def __init__(self, searcher: Searcher, llm: LLMClient, retrieval: RetrievalConfig | None = None):
        self.searcher = searcher
        self.llm = llm
        self.retrieval = retrieval or searcher.settings

    def ask(self, question: str, history: Sequence[Message] = ()) -> Answer:
        """Blocking: the finished answer."""
        for event in self.stream(question, history):
            if isinstance(event, Finished):
                return event.answer
        raise AssertionError("stream() ended without a Finished event")

    def stream(self, question: str, history: Sequence[Message] = ()) -> Iterator[Event]:
        """Yield `Retrieved`, then `TokenDelta`s, then `Finished`.

        ``history`` is the conversation so far as chat messages (user/assistant); with it, the question is first
        rewritten into a standalone query so retrieval does not depend on earlier turns.
        """
        started = time.perf_counter()
        timings: dict[str, float] = {}
        query, rewrite_error = question, None
        if history:
            try:
                query = self._rewrite(question, history)
            except LLMError as exc:
                # The LLM failed before retrieval could start: still search with the question as asked, so the
                # caller can show the sources beside the one-line reason, then stop with that reason.
                log.warning("could not rewrite the follow-up (%s); searching with the question as asked", exc)
                rewrite_error = exc
            timings["rewrite"] = _ms(started)
        result = self.searcher.search(query, self.retrieval)
        search_ms = dict(result.timings_ms)
        timings["rerank"] = search_ms.pop("rerank", 0.0)
        timings["retrieve"] = sum(search_ms.values())
        hits = result.hits
        yield Retrieved(query, query != question, hits, dict(timings))
        try:
            if rewrite_error is not None:
                raise rewrite_error
            yield from self._generate(question, query, hits, timings, started)
        except LLMError as exc:
            exc.hits = tuple(hits)
            raise

    def _rewrite(self, question: str, history: Sequence[Message]) -> str:
        text, _ = self.llm.complete(build_rewrite_messages(history, question), max_tokens=MAX_REWRITE_TOKENS)
        rewritten = " ".join(text.split()).strip("\"'")
        if not rewritten:
            log.warning("the LLM returned no rewrite; searching with the question as asked")
            return question
        log.info("rewrote follow-up %r as %r", question, rewritten)
        return rewritten

    def _generate(
        self, question: str, query: str, hits: list[SearchHit], timings: dict[str, float], started: float
    ) -> Iterator[Event]:
        passages = self.fit_passages(query, hits)
        messages = build_messages(query, passages)
        parts: list[str] = []
        usage = Usage()
        first: float | None = None
        for piece in self.llm.stream(messages):
            if isinstance(piece, Usage):
                usage = piece
                continue
            if first is None:
                first = time.perf_counter()
                timings["first_token"] = _ms(started)
            parts.append(piece)
            yield TokenDelta(piece)
        text = "".join(parts).strip()
        if first is not None:
            timings["generate"] = _ms(first)
        timings["total"] = _ms(started)
        citations = [Citation.of(n, hits[n - 1]) for n in parse_citations(text, len(passages))]
        yield Finished(Answer(question, query, text, citations, hits, len(passages), self.llm.model.name,
                              timings, usage))

    def fit_passages(self, query: str, hits: Sequence[SearchHit]) -> list[Passage]:
        """The hits as prompt passages, trimmed (never the question) to the server's context minus room for
        the answer; raises ContextOverflow when the question alone does not fit."""
        passages = [Passage(h.chunk.title, h.chunk.text) for h in hits]
        max_len = self.llm.model.max_model_len
        if max_len is None:
            return passages
        budget = max_len - self.llm.config.max_tokens

        def count(messages: list[Message]) -> int:
            exact = self.llm.count_prompt_tokens(messages)
            return exact if exact is not None else estimate_tokens(messages)

        fitted = fit_passages(query, passages, budget, count)
        if passages and not fitted:
            needed = count(build_messages(query, []))
            raise ContextOverflow(
                f"the question alone needs {needed} tokens, but the server's max-model-len {max_len} minus "
                f"llm.max_tokens {self.llm.config.max_tokens} leaves {budget}; shorten the question, lower "
                "llm.max_tokens, or serve with a larger --max-model-len"
            )
        if len(fitted) < len(passages) or (fitted and fitted[-1] != passages[len(fitted) - 1]):
            log.info("trimmed passages to fit max-model-len %d: %d of %d sent", max_len, len(fitted), len(passages))
        return fitted


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
