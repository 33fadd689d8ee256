"""Scores for retrieval runs and for answers.

Retrieval: pytrec_eval (trec_eval's own C code) with the measures and cut-offs BEIR reports. Answers: the
SQuAD v1.1 answer normalisation, exact match and token F1 (maximum over all gold aliases), and the DPR
"top-k accuracy" (does a retrieved passage contain a gold answer).

The answer functions are hand-written because the reference implementations are scripts, not libraries
(SQuAD's ``evaluate-v1.1.py``, DPR's ``has_answer``, CMRC 2018's ``cmrc2018_evaluate.py``); they are short and
extended in one documented way: CJK characters count as one token each (as the MLQA/CMRC scripts do), so
Chinese answers get a useful F1. Chinese gold answers are scored with CMRC 2018's own EM and F1
(``cmrc_em``/``cmrc_f1``), which ``answer_em``/``answer_f1`` pick by the gold answers' language.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import pytrec_eval

Qrels = Mapping[str, Mapping[str, int]]  # query id → doc id → relevance grade
Run = Mapping[str, Mapping[str, float]]  # query id → doc id → score (higher is better)

CUTOFFS = (1, 5, 10, 20, 100)

# Our metric name → (pytrec_eval measure to ask for, key it reports under).
_MEASURES = {
    "ndcg@10": ("ndcg_cut.10", "ndcg_cut_10"),
    "map@100": ("map_cut.100", "map_cut_100"),
    **{f"recall@{k}": (f"recall.{k}", f"recall_{k}") for k in CUTOFFS},
}


@dataclass
class RetrievalScores:
    """Mean scores over the queries that have at least one relevant document, and the per-query values."""

    means: dict[str, float]
    per_query: dict[str, dict[str, float]]
    queries_scored: int
    queries_without_relevant: list[str] = field(default_factory=list)


def score_run(qrels: Qrels, run: Run, ignore_identical_ids: bool = False) -> RetrievalScores:
    """nDCG@10, Recall@{1,5,10,20,100}, MRR@10 and MAP@100, as BEIR computes them with pytrec_eval.

    - Ties in score are broken as trec_eval breaks them (doc id, descending). Callers that want their own
      order scored should pass scores derived from ranks.
    - ``ignore_identical_ids`` drops a retrieved document whose id equals the query id (BEIR's option, for
      sets like ArguAna and Quora where the query is itself in the corpus).
    - A query without any relevant judgement has no defined score (its ideal DCG is 0); it is left out of the
      means and listed in ``queries_without_relevant``. (BEIR counts such queries as 0; SciFact and
      nq-oracle have none.) A query with judgements that is missing from the run scores 0 on everything.
    """
    relevant = {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items() if any(g > 0 for g in docs.values())}
    without = sorted(q for q in qrels if q not in relevant)
    cleaned = {
        q: {d: float(s) for d, s in run.get(q, {}).items() if not (ignore_identical_ids and d == q)}
        for q in relevant
    }
    measures = {spec for spec, _ in _MEASURES.values()}
    evaluator = pytrec_eval.RelevanceEvaluator(relevant, measures)
    raw = evaluator.evaluate({q: docs for q, docs in cleaned.items() if docs})
    # MRR@10: trec_eval's recip_rank has no cut-off, so it is computed on each query's top 10 (trec_eval order).
    top10 = {q: dict(_trec_order(docs)[:10]) for q, docs in cleaned.items() if docs}
    rr = pytrec_eval.RelevanceEvaluator(relevant, {"recip_rank"}).evaluate(top10)
    per_query: dict[str, dict[str, float]] = {}
    for q in relevant:
        values = {name: raw.get(q, {}).get(key, 0.0) for name, (_, key) in _MEASURES.items()}
        values["mrr@10"] = rr.get(q, {}).get("recip_rank", 0.0)
        per_query[q] = values
    names = list(_MEASURES) + ["mrr@10"]
    means = {n: (sum(v[n] for v in per_query.values()) / len(per_query) if per_query else 0.0) for n in names}
    return RetrievalScores(means, per_query, len(per_query), without)


def _trec_order(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """trec_eval's ranking: score descending, then doc id descending."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


def rank_scores(doc_ids: Sequence[str]) -> dict[str, float]:
    """Scores that make pytrec_eval rank ``doc_ids`` in exactly the given order (first = best).

    Retrieval scores tie often (two documents at the same rank in different lists get the same RRF score);
    scoring the order the system actually returns keeps the metrics equal to what a user sees."""
    return {doc_id: float(len(doc_ids) - rank) for rank, doc_id in enumerate(doc_ids)}


def documents_from_chunks(chunk_doc_ids: Iterable[str], limit: int | None = None) -> list[str]:
    """Collapse a ranked list of chunks to a ranked list of documents: each document takes the rank of its
    first (best) chunk, which equals max-score aggregation for any score that decreases down the list."""
    seen: dict[str, None] = {}
    for doc_id in chunk_doc_ids:
        if doc_id not in seen:
            seen[doc_id] = None
            if limit is not None and len(seen) >= limit:
                break
    return list(seen)


# -- answers ----------------------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CJK_CHAR = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff])")


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower case, drop punctuation, drop English articles, squeeze whitespace.

    Punctuation is every Unicode punctuation character (category P*), not only ASCII, so "北京。" and
    "北京" compare equal; ASCII symbols that SQuAD strips (``$``, ``+`` …) are stripped too."""
    text = text.lower()
    text = "".join(" " if _is_punct(ch) else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _is_punct(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def answer_tokens(text: str) -> list[str]:
    """Normalised tokens: whitespace words, with every CJK character its own token."""
    return _CJK_CHAR.sub(r" \1 ", normalize_answer(text)).split()


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold alias."""
    predicted = " ".join(answer_tokens(prediction))
    return float(any(predicted == " ".join(answer_tokens(a)) for a in answers))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD token F1, the maximum over the gold aliases."""
    return max((_f1(answer_tokens(prediction), answer_tokens(a)) for a in answers), default=0.0)


def _f1(predicted: list[str], gold: list[str]) -> float:
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def has_answer(passage: str, answers: Sequence[str]) -> bool:
    """DPR's test: some gold alias occurs in the passage as a whole run of normalised tokens."""
    tokens = answer_tokens(passage)
    for answer in answers:
        needle = answer_tokens(answer)
        if needle and any(tokens[i:i + len(needle)] == needle for i in range(len(tokens) - len(needle) + 1)):
            return True
    return False


def answer_recall(passages: Sequence[str], answers: Sequence[str], k: int) -> float:
    """1.0 when any of the first ``k`` passages contains an answer (DPR top-k accuracy for one question)."""
    return float(any(has_answer(p, answers) for p in passages[:k]))


# -- CMRC 2018 (Chinese) ---------------------------------------------------------------------------------
# As the official cmrc2018_evaluate.py (v5, github.com/ymcui/cmrc2018, squad-style-data/) computes them:
# text lower-cased and stripped; its punctuation list removed; every CJK character (U+4E00–U+9FA5) one segment,
# runs of other characters split into words by NLTK's word_tokenize (here: the Treebank rules below, which
# agree with NLTK's tokenizer on the answers of the CMRC trial set, see tests); F1 from the longest common *substring* of
# the two segment lists (``find_lcs``: contiguous, not a subsequence), EM on the punctuation-stripped strings
# (inner whitespace kept, as the script keeps it); both the maximum over the gold answers.

CMRC_PUNCTUATION = frozenset([
    "-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=",
    "，", "。", "：", "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、",
    "「", "」", "（", "）", "－", "～", "『", "』",
])
_CMRC_CJK = re.compile(r"[\u4e00-\u9fa5]")
# NLTK's word_tokenize on what is left between CJK characters, as the Penn Treebank tokenizer's rules (Robert
# MacIntyre's sed script, which NLTK's tokenizer implements) in the order NLTK applies them: quotes become ``
# and '', punctuation and brackets are split off, a period only at the end, clitics ("n't", "'s") apart.
_TREEBANK = [
    # starting quotes
    (re.compile("([«“‘„]|[`]+)"), r" \1 "), (re.compile(r'^"'), r"``"), (re.compile(r"(``)"), r" \1 "),
    (re.compile(r'([ \(\[{<])("|\'{2})'), r"\1 `` "),
    (re.compile(r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)"), r"\1 "),
    # punctuation
    (re.compile(r'([^\.])(\.)([\]\)}>"\'' "»”’ " r"]*+)\s*$"), r"\1 \2 \3 "),
    (re.compile(r"([:,])([^\d])"), r" \1 \2"), (re.compile(r"([:,])$"), r" \1 "),
    (re.compile(r"\.{2,}"), r" \g<0> "), (re.compile(r"[;@#$%&]"), r" \g<0> "),
    (re.compile("[\u2012-\u2015]"), r" \g<0> "),
    (re.compile(r'([^\.])(\.)([\]\)}>"\']*)\s*$'), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "), (re.compile(r"([^'])' "), r"\1 ' "), (re.compile(r"[*]"), r" \g<0> "),
    # brackets, double dashes
    (re.compile(r"[\]\[\(\)\{\}\<\>]"), r" \g<0> "), (re.compile(r"--"), r" -- "),
    # ending quotes and clitics
    (re.compile("([»”’])"), r" \1 "), (re.compile(r"''"), " '' "), (re.compile(r'"'), " '' "),
    (re.compile(r"\s+"), " "),
    (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
]


def _words(text: str) -> list[str]:
    """NLTK word_tokenize, by the Treebank rules above (the official script's tokenizer of non-CJK runs)."""
    text = f" {text} "
    for pattern, replacement in _TREEBANK:
        text = pattern.sub(replacement, text)
    return text.split()


def cmrc_segments(text: str) -> list[str]:
    """``mixed_segmentation(text, rm_punc=True)`` of the official script."""
    segments: list[str] = []
    run = ""
    for char in text.lower().strip():
        if char in CMRC_PUNCTUATION:
            continue
        if _CMRC_CJK.match(char):
            segments.extend(_words(run))
            run = ""
            segments.append(char)
        else:
            run += char
    segments.extend(_words(run))
    return segments


def cmrc_normalize(text: str) -> str:
    """``remove_punctuation`` of the official script: lower case, outer whitespace stripped, its punctuation
    list removed."""
    return "".join(char for char in text.lower().strip() if char not in CMRC_PUNCTUATION)


def longest_common_substring(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest run of segments common to ``a`` and ``b`` (the official ``find_lcs``)."""
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                current[j + 1] = previous[j] + 1
                best = max(best, current[j + 1])
        previous = current
    return best


def cmrc_em(prediction: str, answers: Sequence[str]) -> float:
    """CMRC 2018 exact match: 1.0 when the normalised prediction equals a normalised gold answer."""
    predicted = cmrc_normalize(prediction)
    return float(any(predicted == cmrc_normalize(answer) for answer in answers))


def cmrc_f1(prediction: str, answers: Sequence[str]) -> float:
    """CMRC 2018 F1: longest common substring of segments over the prediction's and the answer's segment
    counts, the maximum over the gold answers (0 for an empty prediction, as the script's would be)."""
    predicted = cmrc_segments(prediction)
    best = 0.0
    for answer in answers:
        gold = cmrc_segments(answer)
        common = longest_common_substring(gold, predicted)
        if common:
            precision, recall = common / len(predicted), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def is_chinese_answer(answers: Sequence[str]) -> bool:
    """Gold answers in Chinese: any holds a CJK ideograph (then CMRC's scoring applies)."""
    return any(_CMRC_CJK.search(answer) for answer in answers)


def answer_em(prediction: str, answers: Sequence[str]) -> float:
    """Exact match by the gold answers' language: CMRC 2018's for Chinese, SQuAD's otherwise."""
    return cmrc_em(prediction, answers) if is_chinese_answer(answers) else exact_match(prediction, answers)


def answer_f1(prediction: str, answers: Sequence[str]) -> float:
    """F1 by the gold answers' language: CMRC 2018's character-level F1 for Chinese, SQuAD's token F1 otherwise."""
    return cmrc_f1(prediction, answers) if is_chinese_answer(answers) else token_f1(prediction, answers)
