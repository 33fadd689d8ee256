"""One chat turn as the Chat page keeps it in the session and redraws it on every rerun."""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.hits import SearchHit

_TIMING_LABELS = (("rewrite", "rewrite"), ("retrieve", "retrieve"), ("rerank", "rerank"),
                  ("first_token", "first token"), ("total", "total"))


@dataclass
class Turn:
    number: int  # 1, 2, … within the session's chat
    question: str
    text: str = ""
    hits: list[SearchHit] = field(default_factory=list)  # numbered [1..] as in the prompt
    cited: list[int] = field(default_factory=list)  # passage numbers the answer cites, in order
    timings_ms: dict[str, float] = field(default_factory=dict)
    tokens: tuple[int, int] | None = None  # prompt, completion
    query: str = ""  # the standalone rewrite of a follow-up, when it differs from the question
    problem: str = ""  # one line: why there is no (complete) answer
    empty_index: bool = False

    def timings_line(self) -> str:
        """The small caption under an answer."""
        parts = [f"{label} {self.timings_ms[key]:,.0f} ms" for key, label in _TIMING_LABELS if self.timings_ms.get(key)]
        if self.tokens:
            parts.append(f"{self.tokens[0]} prompt + {self.tokens[1]} answer tokens")
        return " · ".join(parts)


def scores_line(hit: SearchHit) -> str:
    """Retrieval and rerank scores of a source card."""
    parts = [f"{label} {value:.3f}" for label, value in (
        ("fused", hit.fused_score), ("dense", hit.dense_score), ("bm25", hit.bm25_score), ("rerank", hit.rerank_score),
    ) if value is not None]
    return " · ".join(parts) or f"score {hit.score:.3f}"
