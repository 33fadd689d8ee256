"""Inverse-cloze questions: one sentence of a training paragraph as the query, the rest of it as the positive.

Why: every human-written query in the training sources is a Wikipedia *question*, and a reranker trained on
them alone learns "question ↔ answer paragraph" and loses on SciFact, whose queries are *statements* (claims)
checked against abstracts (notes/issue6.md). The inverse cloze task (Lee et al. 2019, ORQA) turns the same
paragraphs into statement ↔ context pairs: with the statement removed, the model has to recognise where it
belongs from topic, entities and paraphrase, which is what claim → evidence matching needs. Only the training
paragraphs are used, so nothing of an evaluation set leaks in.
"""

from __future__ import annotations

import random
import re

from retrieval.reranker_training.sources import Question, passage_text

# A sentence ends at . ! or ? followed by space and a capital, digit or opening quote/bracket; Wikipedia prose
# is regular enough that this misses only abbreviations like "U.S. Army", which merely join two sentences.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
MIN_WORDS, MAX_WORDS = 6, 40


def make_ict_questions(
    passages: dict[str, str], pool_ids: list[str], count: int, seed: int, keep_probability: float = 0.1,
) -> tuple[list[Question], dict[str, str]]:
    """Up to ``count`` ICT questions (one per paragraph, paragraphs drawn at random) and their positives.

    The positive is a new passage ``ict-<paragraph id>``: the paragraph without the chosen sentence, except
    with ``keep_probability`` (ORQA's 10 %), so that the model also learns that containing the statement counts.
    Returns (questions, new passages); each question's ``origin`` names its source paragraph, which mining must
    never offer as a negative.
    """
    rng = random.Random(seed)
    order = pool_ids[:]
    rng.shuffle(order)
    questions: list[Question] = []
    positives: dict[str, str] = {}
    for pid in order:
        if len(questions) >= count:
            break
        title, separator, body = passages[pid].partition("\n")
        if not separator:
            title, body = "", passages[pid]
        sentences = SENTENCE_END.split(body.strip())
        usable = [i for i, s in enumerate(sentences) if MIN_WORDS <= len(s.split()) <= MAX_WORDS]
        if len(sentences) < 3 or not usable:
            continue  # too short to lose a sentence and still say what the paragraph is about
        chosen = rng.choice(usable)
        rest = sentences if rng.random() < keep_probability else sentences[:chosen] + sentences[chosen + 1:]
        positive_id = f"ict-{pid}"
        positives[positive_id] = passage_text(title, " ".join(rest))
        questions.append(Question(f"ict-q-{pid}", sentences[chosen], positive_id, "ict", origin=pid))
    return questions, positives
