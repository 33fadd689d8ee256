"""Inverse-cloze questions: one sentence of a training paragraph as the query, the rest of it as the positive.

Why: every human-written query in the training sources is a Wikipedia *question*, and a reranker trained on
them alone learns "question ↔ answer paragraph" and loses on SciFact, whose queries are *statements* (claims)
checked against abstracts (notes/issue6.md). The inverse cloze task (Lee et al. 2019, ORQA) turns the same
paragraphs into statement ↔ context pairs: with the statement removed, the model has to recognise where it
belongs from topic, entities and paraphrase, which is what claim → evidence matching needs. Only the training
paragraphs are used, so nothing of an evaluation set leaks in.

Positives are one sentence shorter than whole paragraphs, so an ICT question's mined negatives are trimmed the
same way (``trim_like_a_positive``): otherwise "shorter wins" is a shortcut the model learns, and on SciFact
it then favours short chunks (recipe v2 did: its scores fell with chunk length, notes/issue6.md).

A trimmed passage's id says how to rebuild it (``ict-<paragraph id>#<dropped sentence index>``, or ``#`` when
the paragraph is kept whole), so a pack stores each paragraph once however many statements are cut from it.
"""

from __future__ import annotations

import random
import re

from ingest.language import count_units
from retrieval.reranker_training.sources import Question, passage_text

# A sentence ends at . ! or ? followed by space and a capital, digit or opening quote/bracket; Wikipedia prose
# is regular enough that this misses only abbreviations like "U.S. Army", which merely join two sentences.
# Chinese and Japanese sentences end at 。！？ with no space after (`deeprag adapt` cuts statements from them).
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|(?<=[。！？])\s*")
MIN_WORDS, MAX_WORDS = 6, 40
CJK = ("zh", "ja", "ko")
PREFIX = "ict-"


def is_ict_passage(passage_id: str) -> bool:
    return passage_id.startswith(PREFIX)


def origin_of(passage_id: str) -> str:
    """The pooled paragraph a trimmed passage was cut from."""
    return passage_id.removeprefix(PREFIX).rpartition("#")[0]


def rebuild_passage(passages: dict[str, str], passage_id: str) -> str:
    """The text of a trimmed passage: its paragraph with one sentence dropped (or whole, for ``#``)."""
    paragraph_id, _, dropped = passage_id.removeprefix(PREFIX).rpartition("#")
    title, sentences = split_paragraph(passages[paragraph_id])
    if dropped:
        sentences = sentences[: int(dropped)] + sentences[int(dropped) + 1:]
    return passage_text(title, " ".join(sentences))


def split_paragraph(text: str) -> tuple[str, list[str]]:
    title, separator, body = text.partition("\n")
    if not separator:
        title, body = "", text
    return title, [sentence for sentence in SENTENCE_END.split(body.strip()) if sentence]


def droppable(sentences: list[str]) -> list[int]:
    """Indexes of the sentences long enough to be a statement and short enough to be one claim; none when the
    paragraph is too short to lose a sentence and still say what it is about."""
    if len(sentences) < 3:
        return []
    return [i for i, s in enumerate(sentences) if MIN_WORDS <= words(s) <= MAX_WORDS]


def words(sentence: str) -> int:
    """Its length in words: spaces split English; Chinese, Japanese and Korean characters count as half a word
    each (a word there is about two characters), so one threshold serves both."""
    units = count_units(sentence)
    cjk = sum(units.get(code, 0) for code in CJK)
    return len(sentence.split()) if not cjk else (cjk + 1) // 2 + units.get("en", 0)


def trim_like_a_positive(passages: dict[str, str], pid: str, rng: random.Random, keep_probability: float = 0.1) -> str:
    """The id of paragraph ``pid`` with one usable sentence dropped, as a positive would be (whole with
    ``keep_probability``, or when it is too short to lose one)."""
    usable = droppable(split_paragraph(passages[pid])[1])
    if not usable or rng.random() < keep_probability:
        return f"{PREFIX}{pid}#"
    return f"{PREFIX}{pid}#{rng.choice(usable)}"


def make_ict_questions(
    passages: dict[str, str], pool_ids: list[str], count: int, seed: int,
    per_paragraph: int = 1, keep_probability: float = 0.1,
) -> tuple[list[Question], dict[str, str]]:
    """Up to ``count`` ICT questions, at most ``per_paragraph`` from each paragraph (paragraphs drawn at random).

    Each positive is the paragraph without the chosen sentence, except with ``keep_probability`` (ORQA's 10 %),
    so that the model also learns that containing the statement counts. Returns (questions, positives by id);
    each question's ``origin`` names its source paragraph, which mining must never offer as a negative and
    which keeps all statements of one paragraph on the same side of the held-out split.
    """
    rng = random.Random(seed)
    order = pool_ids[:]
    rng.shuffle(order)
    questions: list[Question] = []
    positives: dict[str, str] = {}
    for pid in order:
        if len(questions) >= count:
            break
        _, sentences = split_paragraph(passages[pid])
        usable = droppable(sentences)
        for chosen in rng.sample(usable, min(per_paragraph, len(usable), count - len(questions))):
            kept_whole = rng.random() < keep_probability
            positive_id = f"{PREFIX}{pid}#{'' if kept_whole else chosen}"
            positives[positive_id] = rebuild_passage(passages, positive_id)
            questions.append(Question(f"ict-q-{pid}-{chosen}", sentences[chosen], positive_id, "ict", origin=pid))
    return questions, positives
