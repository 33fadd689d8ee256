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
from generation.followup import needs_rewrite
from generation.grounding import CheckedSentence, CitationChecker, abstain_message, should_abstain
from generation.llm import ContextOverflow, LLMClient, LLMError, Message, Usage
from generation.prompt import (
    Passage, best_window, build_messages, build_rewrite_messages, estimate_tokens, fit_passages,
)
from ground.config import GroundingConfig, PromptConfig, RetrievalConfig
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
    # Every retrieved passage; the first ``passages_sent`` are the prompt's passages [1..n] in prompt order
    # (best last when PromptConfig.order says so), the rest did not fit.
    hits: list[SearchHit]
    passages_sent: int
    model: str
    messages: list[Message] = field(default_factory=list)  # exactly what the LLM was sent
    sent_texts: list[str] = field(default_factory=list)  # each sent passage's text as sent (window, trimmed)
    # Milliseconds: rewrite, retrieve (embed + search + fuse + fetch), rerank, first_token (from the question
    # to the first answer token, as a user waits for it), generate (first to last token), total.
    timings_ms: dict[str, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    # True when no passage was relevant enough: ``text`` is the abstain message and the LLM was not asked.
    abstained: bool = False
    # The citation check of a cited answer, sentence by sentence (empty when not checked).
    checked: list[CheckedSentence] = field(default_factory=list)

    @property
    def grounded(self) -> bool | None:
        """Whether any sentence is supported by a passage; None when the answer was not checked."""
        if not self.checked:
            return None
        return any(c.status in ("supported", "repointed") for c in self.checked)

    def as_dict(self) -> dict:
        return {
            "question": self.question,
            "query": self.query,
            "answer": self.text,
            "model": self.model,
            "citations": [vars(c) for c in self.citations],
            "sources": [hit.as_dict() for hit in self.hits],
            "passages_sent": self.passages_sent,
            "sent_texts": self.sent_texts,
            "abstained": self.abstained,
            "grounded": self.grounded,
            "sentences": [c.as_dict() for c in self.checked],
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
    session or evaluation can share one searcher and still use its own top-k, mode, fusion and reranking.
    Without a searcher it answers closed-book: the same prompt style with no passage block (the baseline that
    shows what retrieval adds)."""

    def __init__(
        self, searcher: Searcher | None, llm: LLMClient, retrieval: RetrievalConfig | None = None,
        prompt: PromptConfig | None = None, grounding: GroundingConfig | None = None,
    ):
        self.searcher = searcher
        self.llm = llm
        self.retrieval = retrieval or (searcher.settings if searcher is not None else RetrievalConfig())
        self.prompt = prompt or PromptConfig()
        self.grounding = grounding or GroundingConfig()
        self._checker = CitationChecker(self.grounding.support_threshold)

    def ask(self, question: str, history: Sequence[Message] = ()) -> Answer:
        """Blocking: the finished answer."""
        for event in self.stream(question, history):
            if isinstance(event, Finished):
                return event.answer
        raise AssertionError("stream() ended without a Finished event")

    def stream(self, question: str, history: Sequence[Message] = ()) -> Iterator[Event]:
        """Yield `Retrieved`, then `TokenDelta`s, then `Finished`.

        ``history`` is the conversation so far as chat messages (user/assistant); with it, a question that points
        back into the conversation (generation/followup.py) is first rewritten into a standalone query so
        retrieval does not depend on earlier turns; a standalone one is searched as asked, saving an LLM call.
        """
        started = time.perf_counter()
        timings: dict[str, float] = {}
        query, rewrite_error = question, None
        if history and needs_rewrite(question):
            try:
                query = self._rewrite(question, history)
            except LLMError as exc:
                # The LLM failed before retrieval could start: still search with the question as asked, so the
                # caller can show the sources beside the one-line reason, then stop with that reason.
                log.warning("could not rewrite the follow-up (%s); searching with the question as asked", exc)
                rewrite_error = exc
            timings["rewrite"] = _ms(started)
        hits: list[SearchHit] = []
        abstain = False
        if self.searcher is not None:
            result = self.searcher.search(query, self.retrieval)
            search_ms = dict(result.timings_ms)
            timings["rerank"] = search_ms.pop("rerank", 0.0)
            timings["retrieve"] = sum(search_ms.values())
            hits = result.hits
            abstain = should_abstain(hits, self.grounding, result.reranker, result.embedder)
        yield Retrieved(query, query != question, hits, dict(timings))
        if abstain:
            timings["total"] = _ms(started)
            yield Finished(Answer(question, query, abstain_message(question), [], hits, 0, self.llm.config.model,
                                  timings_ms=timings, abstained=True))
            return
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
        sent = hits[:len(passages)]
        if self.prompt.order == "best_last":
            # Trimming cut the weakest passage; only now is the order turned, so the best sits next to the question.
            passages, sent = passages[::-1], sent[::-1]
        hits = sent + hits[len(sent):]
        messages = build_messages(query, passages, self.prompt.style)
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
        sent_texts = [p.text for p in passages]
        checked = (self._checker.check(text, sent_texts)
                   if self.prompt.style == "cited" and self.grounding.check_citations and passages else [])
        numbers = parse_citations(text, len(passages))
        numbers += [n for c in checked for n in c.supported_by if n not in numbers]  # re-pointed citations
        citations = [Citation.of(n, hits[n - 1]) for n in numbers]
        yield Finished(Answer(question, query, text, citations, hits, len(passages), self.llm.model.name,
                              messages, sent_texts, timings, usage, checked=checked))

    def fit_passages(self, query: str, hits: Sequence[SearchHit]) -> list[Passage]:
        """The hits as prompt passages, trimmed (never the question) to the server's context minus room for
        the answer; raises ContextOverflow when the question alone does not fit."""
        passages = [Passage(h.chunk.title, self._passage_text(query, h.chunk.text)) for h in hits]
        max_len = self.llm.model.max_model_len
        if max_len is None:
            return passages
        budget = max_len - self.llm.config.max_tokens

        def count(messages: list[Message]) -> int:
            exact = self.llm.count_prompt_tokens(messages)
            return exact if exact is not None else estimate_tokens(messages)

        fitted = fit_passages(query, passages, budget, count, self.prompt.style)
        if passages and not fitted:
            needed = count(build_messages(query, [], self.prompt.style))
            raise ContextOverflow(
                f"the question alone needs {needed} tokens, but the server's max-model-len {max_len} minus "
                f"llm.max_tokens {self.llm.config.max_tokens} leaves {budget}; shorten the question, lower "
                "llm.max_tokens, or serve with a larger --max-model-len"
            )
        if len(fitted) < len(passages) or (fitted and fitted[-1] != passages[len(fitted) - 1]):
            log.info("trimmed passages to fit max-model-len %d: %d of %d sent", max_len, len(fitted), len(passages))
        return fitted


    def _passage_text(self, query: str, text: str) -> str:
        if self.prompt.passage_text == "window":
            return best_window(text, query, self.prompt.window_sentences)
        return text


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
