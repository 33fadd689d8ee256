"""One chat turn as the Chat page keeps it: the question, the answer as far as it got, and its check.

A turn is filled in by the conversation's answering thread (app/ui/answering.py) while the page redraws it,
so its life is explicit in ``state``: queued (waiting for the turn before it), answering, then done, stopped
(the user pressed Stop; the partial text is kept) or failed (``problem`` says why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from app.ui.texts import t
from generation.answer import Answer
from generation.grounding import CheckedSentence
from retrieval.hits import SearchHit

TurnState = Literal["queued", "answering", "done", "stopped", "failed"]
LIVE_STATES: tuple[str, ...] = ("queued", "answering")

_TIMINGS = ("rewrite", "retrieve", "rerank", "first_token", "total")  # turn.timing.<name> in app/ui/texts.py


@dataclass
class Turn:
    number: int  # 1, 2, … within the chat
    question: str
    text: str = ""
    hits: list[SearchHit] = field(default_factory=list)  # numbered [1..] as in the prompt
    cited: list[int] = field(default_factory=list)  # passage numbers the answer cites (after the check), in order
    timings_ms: dict[str, float] = field(default_factory=dict)
    tokens: tuple[int, int] | None = None  # prompt, completion
    query: str = ""  # the standalone rewrite of a follow-up, when it differs from the question
    problem: str = ""  # one line: why there is no (complete) answer
    empty_index: bool = False
    state: TurnState = "done"
    abstained: bool = False  # no passage was relevant enough: ``text`` is the abstain message, the LLM was not asked
    checked: list[CheckedSentence] = field(default_factory=list)  # the citation check, sentence by sentence
    grounded: bool | None = None  # whether any sentence is supported; None when not checked

    @property
    def live(self) -> bool:
        """Still queued or being answered: the page follows it instead of drawing it whole."""
        return self.state in LIVE_STATES

    def finish(self, answer: Answer) -> None:
        """Take the finished answer's text, sources, timings and check; the state is the caller's to set."""
        self.text, self.hits, self.timings_ms = answer.text, answer.hits, answer.timings_ms
        self.cited = [c.number for c in answer.citations]
        self.tokens = (answer.usage.prompt_tokens, answer.usage.completion_tokens)
        self.abstained, self.checked, self.grounded = answer.abstained, list(answer.checked), answer.grounded

    def timings_line(self) -> str:
        """The small caption under an answer."""
        parts = [t(f"turn.timing.{key}", ms=f"{self.timings_ms[key]:,.0f}") for key in _TIMINGS
                 if self.timings_ms.get(key)]
        if self.tokens and self.tokens[1]:
            parts.append(t("turn.tokens", prompt=self.tokens[0], answer=self.tokens[1]))
        return " · ".join(parts)


def scores_line(hit: SearchHit) -> str:
    """Retrieval and rerank scores of a source card."""
    parts = [f"{label} {value:.3f}" for label, value in (
        ("fused", hit.fused_score), ("dense", hit.dense_score), ("bm25", hit.bm25_score), ("rerank", hit.rerank_score),
    ) if value is not None]
    return " · ".join(parts) or f"score {hit.score:.3f}"
