"""Is an answer grounded? Two checks around generation: whether to answer at all, and which citations hold.

- **Abstain** (before the LLM): when no retrieved passage's *absolute* relevance reaches a floor, the
  documents do not cover the question and deeprag says so instead of letting the model invent an answer. Only
  scores with a fixed scale qualify: the reranker's probability, else the dense cosine similarity, each with the
  floor calibrated for its model. The fused and mixed scores are standardised per query (the best hit of every
  query looks equally good), and BM25 scores grow with the corpus, so neither can tell "no relevant passage"
  from "a relevant one".
- **Citation check** (after the LLM): each sentence of the answer is compared with the passages it cites by
  lexical support (the share of the sentence's content terms found in the passage; its threshold calibrated on
  ARES-NQ, see README "Faithfulness"). A sentence its passage does not support is re-pointed to a passage that
  does, or marked unsupported. A citation written after the full stop ("…专家。[2]") belongs to the sentence
  before it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, Sequence

from generation.citations import CITATION, numbers_in
from generation.prompt import is_chinese
from ground.config import GroundingConfig
from ingest.lexical_index import Tokenizer
from retrieval.hits import SearchHit

Status = Literal["supported", "repointed", "unsupported", "uncited", "no_claim"]

ABSTAIN_EN = "The documents don't cover this. The closest passages are shown below, marked as low relevance."
ABSTAIN_ZH = "文档中没有涉及这个问题的内容。下面列出最接近的段落，均标为低相关。"
# Words that make a sentence about the answer rather than a claim ("The passage that supports this is [2].",
# "This information can be found in Passage [3]." — cpu-small's usual ending; stems, as the tokenizer gives them).
_META_WORDS = frozenset(
    "passag support answer cite citat document sourc inform provid mention state accord base found can".split()
)
_SENTENCE = re.compile(r"[^.!?。！？\n]+(?:[.!?。！？]+|\n|$)")
_LEADING_CITATIONS = re.compile(rf"^(?:\s*{CITATION.pattern})+")


# The floors `deeprag eval abstain` fitted (README "Answers: abstaining…": nq-oracle questions over their pool
# against TriviaQA dev questions over the same pool; fitted on even rows, rates reported on odd rows). A floor
# belongs to one model's score scale, so "auto" applies these to these models only.
CALIBRATED_RERANK_FLOORS = {"deeprag-reranker-minilm-l6": 0.4725}
CALIBRATED_DENSE_FLOORS = {"all-MiniLM-L6-v2": 0.4707}


def relevance(hits: Sequence[SearchHit]) -> tuple[str, float] | None:
    """The best hit's score on a fixed scale and its kind: ("rerank", probability), else ("dense", cosine);
    None when only BM25 ran."""
    reranked = [h.rerank_score for h in hits if h.rerank_score is not None]
    if reranked:
        return "rerank", max(reranked)
    dense = [h.dense_score for h in hits if h.dense_score is not None]
    return ("dense", max(dense)) if dense else None


def floor_for(setting: float | str, model: str | None, calibrated: Mapping[str, float]) -> float | None:
    """The floor a setting means for ``model`` (None: no floor): "auto" is the calibrated floor of that model
    (by name or folder name), none for a model never calibrated; "off" is none."""
    if setting == "off" or not model:
        return None
    if setting == "auto":
        return calibrated.get(Path(model).name)
    return float(setting)


def should_abstain(hits: Sequence[SearchHit], settings: GroundingConfig, reranker: str | None,
                   embedder: str | None) -> bool:
    """Whether no passage is relevant enough to answer from (always, for an empty index).

    Each hit is judged on the first score it has that has a floor: its reranker probability (a passage in a
    language the reranker does not read has none; a reranker never calibrated has no "auto" floor), else its
    dense cosine. deeprag abstains when some hit was judged and none reached its floor; with nothing to judge
    (BM25 alone, models never calibrated) it answers."""
    if not hits:
        return True
    rerank_floor = floor_for(settings.min_rerank_score, reranker, CALIBRATED_RERANK_FLOORS)
    dense_floor = floor_for(settings.min_dense_score, embedder, CALIBRATED_DENSE_FLOORS)
    judged = False
    for hit in hits:
        if hit.rerank_score is not None and rerank_floor is not None:
            score, floor = hit.rerank_score, rerank_floor
        elif hit.dense_score is not None and dense_floor is not None:
            score, floor = hit.dense_score, dense_floor
        else:
            continue
        if score >= floor:
            return False
        judged = True
    return judged


def abstain_message(question: str) -> str:
    return ABSTAIN_ZH if is_chinese(question) else ABSTAIN_EN


@dataclass(frozen=True)
class CheckedSentence:
    text: str  # as written, citation markers included
    start: int  # character span in the answer
    end: int
    cited: tuple[int, ...]  # passage numbers as the model wrote them (for an uncited claim: a filler's after it)
    supported_by: tuple[int, ...]  # after the check: the passages that support it (re-pointed where needed)
    status: Status
    support: float | None  # the best lexical support among supported_by (else among the cited passages)

    def as_dict(self) -> dict:
        return {"text": self.text, "start": self.start, "end": self.end, "cited": list(self.cited),
                "supported_by": list(self.supported_by), "status": self.status,
                "support": None if self.support is None else round(self.support, 3)}


@functools.lru_cache(maxsize=1)
def _tokenizer() -> Tokenizer:
    return Tokenizer()  # BM25's own reading of words: stems, stop words out, CJK as bigrams


def lexical_support(text: str, passages: Sequence[str]) -> float | None:
    """Share of ``text``'s content terms found in the passages (1.0 = every term is grounded); None when it
    has none (nothing to check: "the [2]", or filler about the answer itself)."""
    terms = [t for t in _tokenizer()(CITATION.sub(" ", text)) if t not in _META_WORDS]
    if not terms:
        return None
    available = set(_tokenizer()(" ".join(passages)))
    return sum(term in available for term in terms) / len(terms)


class CitationChecker:
    """Checks an answer's sentences against the numbered passages it was written from."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def support(self, sentence: str, passage: str) -> float | None:
        return lexical_support(sentence, [passage])

    def check(self, answer: str, passages: Sequence[str]) -> list[CheckedSentence]:
        claims = split_claims(answer)
        all_scores = [{n: self.support(text, passages[n - 1]) for n in range(1, len(passages) + 1)}
                      for text, *_ in claims]
        fillers = [all(score is None for score in scores.values()) for scores in all_scores]
        citations = with_filler_citations([cited for *_, cited in claims], fillers)
        checked = []
        for (text, start, end, _), cited, scores, filler in zip(claims, citations, all_scores, fillers):
            if filler:
                checked.append(CheckedSentence(text, start, end, cited, (), "no_claim", None))
                continue
            valid = [n for n in cited if n in scores]
            holding = tuple(n for n in valid if (scores[n] or 0.0) >= self.threshold)
            best_other = max(scores, key=lambda n: scores[n] or 0.0)
            if holding:
                status, by = "supported", holding
            elif (scores[best_other] or 0.0) >= self.threshold:
                status, by = ("repointed" if valid else "uncited"), (best_other,)
            else:
                status, by = ("unsupported" if valid else "uncited"), ()
            shown = max((scores[n] or 0.0 for n in (by or valid or (best_other,))), default=None)
            checked.append(CheckedSentence(text, start, end, cited, by, status, shown))
        return checked


def with_filler_citations(cited: Sequence[tuple[int, ...]], fillers: Sequence[bool]) -> list[tuple[int, ...]]:
    """Each sentence's citations, where claims the model left uncited take those of the filler sentence that
    follows them ("Penguins live in the Antarctic. They eat krill. The passage is [2]."): the model named the
    passage for what it had just said. A claim with citations of its own ends the run a filler can reach."""
    result = list(cited)
    waiting: list[int] = []
    for i, (numbers, filler) in enumerate(zip(cited, fillers)):
        if not filler:
            waiting = [] if numbers else waiting + [i]
        elif numbers:
            for j in waiting:
                result[j] = numbers
            waiting = []
    return result


def split_claims(answer: str) -> list[tuple[str, int, int, tuple[int, ...]]]:
    """The answer's sentences with the passage numbers each cites. Citation markers that open a sentence
    (written after the previous full stop) are moved to the sentence before."""
    pieces = [(m.group(), m.start(), m.end()) for m in _SENTENCE.finditer(answer) if m.group().strip()]
    claims: list[list] = []
    for text, start, end in pieces:
        leading = _LEADING_CITATIONS.match(text)
        if leading and claims:
            moved = leading.group()
            claims[-1][0] += moved
            claims[-1][2] = start + len(moved)
            text, start = text[len(moved):], start + len(moved)
            if not text.strip():
                continue
        claims.append([text, start, end])
    result = []
    for text, start, end in claims:
        numbers: list[int] = []
        for match in CITATION.finditer(text):
            numbers.extend(n for n in numbers_in(match.group(1)) if n not in numbers)
        stripped = len(text) - len(text.lstrip())
        result.append((text.strip(), start + stripped, start + stripped + len(text.strip()), tuple(numbers)))
    return result
