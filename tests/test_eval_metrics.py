"""Metrics against cases computed by hand (the arithmetic is in the comments)."""

import math

import pytest

from eval.metrics import (
    answer_em,
    answer_f1,
    answer_recall,
    cmrc_em,
    cmrc_f1,
    cmrc_segments,
    documents_from_chunks,
    is_chinese_answer,
    exact_match,
    has_answer,
    normalize_answer,
    rank_scores,
    score_run,
    token_f1,
)


def test_two_relevant_documents_at_ranks_two_and_four():
    qrels = {"q1": {"d1": 1, "d2": 1}}
    run = {"q1": rank_scores(["d3", "d1", "d4", "d2"])}
    scores = score_run(qrels, run).per_query["q1"]
    dcg = 1 / math.log2(3) + 1 / math.log2(5)  # gains at ranks 2 and 4
    idcg = 1 + 1 / math.log2(3)
    assert scores["ndcg@10"] == pytest.approx(dcg / idcg)  # 0.6509
    assert scores["recall@1"] == 0.0
    assert scores["recall@5"] == 1.0
    assert scores["mrr@10"] == pytest.approx(0.5)
    assert scores["map@100"] == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_graded_relevance_uses_linear_gain_like_trec_eval():
    qrels = {"q": {"a": 2, "b": 1}}
    scores = score_run(qrels, {"q": rank_scores(["b", "a"])}).per_query["q"]
    assert scores["ndcg@10"] == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))  # 0.8597


def test_ties_are_broken_by_doc_id_descending():
    # c scores highest; a and b tie, and trec_eval puts b before a: the relevant a lands at rank 3.
    scores = score_run({"q": {"a": 1}}, {"q": {"a": 1.0, "b": 1.0, "c": 2.0}}).per_query["q"]
    assert scores["mrr@10"] == pytest.approx(1 / 3)
    assert scores["ndcg@10"] == pytest.approx(1 / math.log2(4))


def test_rank_scores_keep_the_given_order_despite_ids():
    # Same documents as the tie case, but the system's own order (a first) is what gets scored.
    scores = score_run({"q": {"a": 1}}, {"q": rank_scores(["a", "b", "c"])}).per_query["q"]
    assert scores["mrr@10"] == 1.0


def test_query_without_relevant_documents_is_left_out_of_the_means():
    qrels = {"good": {"d1": 1}, "none": {"d9": 0}}
    run = {"good": rank_scores(["d1"]), "none": rank_scores(["d9"])}
    result = score_run(qrels, run)
    assert result.queries_scored == 1
    assert result.queries_without_relevant == ["none"]
    assert result.means["ndcg@10"] == 1.0


def test_query_missing_from_the_run_scores_zero():
    result = score_run({"a": {"d1": 1}, "b": {"d2": 1}}, {"a": rank_scores(["d1"])})
    assert result.per_query["b"]["ndcg@10"] == 0.0
    assert result.means["ndcg@10"] == pytest.approx(0.5)
    assert result.means["recall@100"] == pytest.approx(0.5)


def test_identical_ids_are_skipped_only_when_asked():
    qrels = {"q1": {"d1": 1}}
    run = {"q1": rank_scores(["q1", "d1"])}
    assert score_run(qrels, run).per_query["q1"]["mrr@10"] == 0.5
    assert score_run(qrels, run, ignore_identical_ids=True).per_query["q1"]["mrr@10"] == 1.0


def test_mrr_is_cut_at_ten_but_recall_at_twenty_is_not():
    ranking = [f"x{i:02d}" for i in range(10)] + ["rel"]
    scores = score_run({"q": {"rel": 1}}, {"q": rank_scores(ranking)}).per_query["q"]
    assert scores["mrr@10"] == 0.0
    assert scores["recall@10"] == 0.0
    assert scores["recall@20"] == 1.0
    assert scores["map@100"] == pytest.approx(1 / 11)


def test_chunks_collapse_to_documents_at_their_best_rank():
    assert documents_from_chunks(["A", "B", "A", "C", "B"]) == ["A", "B", "C"]
    assert documents_from_chunks(["A", "A", "B", "C"], limit=2) == ["A", "B"]


def test_squad_normalisation():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("«北京。»") == "北京"


def test_exact_match_takes_any_alias():
    assert exact_match("Bob Russell", ["Bobby Scott", "Bob Russell"]) == 1.0
    assert exact_match("an Apple", ["apple"]) == 1.0
    assert exact_match("apples", ["apple"]) == 0.0
    assert exact_match("", ["apple"]) == 0.0


def test_f1_is_the_maximum_over_aliases():
    # "the cat sat on mat" → cat sat on mat (4); "a cat on the mat" → cat on mat (3); overlap 3:
    # precision 3/4, recall 1 → F1 = 2·0.75/1.75.
    assert token_f1("the cat sat on mat", ["a cat on the mat"]) == pytest.approx(6 / 7)
    # Against "Bobby Scott" one token of two overlaps (F1 0.5); against "Scott Joplin Scott" the prediction's
    # one "scott" matches once: precision 1/2, recall 1/3 → 0.4. The maximum is 0.5.
    assert token_f1("Bobby Russell", ["Scott Joplin Scott", "Bobby Scott"]) == pytest.approx(0.5)
    assert token_f1("nothing here", ["apple"]) == 0.0
    assert token_f1("", ["apple"]) == 0.0


def test_chinese_answers_are_scored_per_character():
    assert exact_match("北京。", ["北京"]) == 1.0
    assert exact_match("北京市", ["北京"]) == 0.0
    # 北 京 市 vs 北 京: overlap 2, precision 2/3, recall 1 → F1 0.8.
    assert token_f1("北京市", ["北京"]) == pytest.approx(0.8)
    assert token_f1("首都是北京", ["上海", "北京"]) == pytest.approx(2 * (2 / 5) / (2 / 5 + 1))


def test_has_answer_matches_whole_tokens():
    passage = "The first Nobel Prize in Physics went to Wilhelm Conrad Röntgen in 1901."
    assert has_answer(passage, ["wilhelm conrad röntgen"])
    assert has_answer(passage, ["Röntgen", "Marie Curie"])
    assert not has_answer("Conradine was a poet.", ["Conrad"])
    assert has_answer("首都是北京。", ["北京"])


def test_answer_recall_counts_only_the_first_k_passages():
    passages = ["nothing", "it happened in December 1972"]
    assert answer_recall(passages, ["December 1972"], k=1) == 0.0
    assert answer_recall(passages, ["December 1972"], k=2) == 1.0


# -- CMRC 2018 (Chinese), against the official cmrc2018_evaluate.py's logic, computed by hand -------------------

def test_cmrc_em_strips_its_punctuation_and_case_but_not_inner_spaces():
    assert cmrc_em("《北京》。", ["北京"]) == 1.0  # 《 》 。 are in the official list
    assert cmrc_em(" Beijing ", ["beijing"]) == 1.0  # lower-cased, outer whitespace stripped
    assert cmrc_em("北 京", ["北京"]) == 0.0  # the official remove_punctuation keeps inner whitespace
    assert cmrc_em("4分钟", ["四分钟", "4分钟"]) == 1.0  # any gold answer


def test_cmrc_f1_is_the_longest_common_substring_not_a_bag_of_characters():
    # gold 北京大学 (4 segments), prediction 北京的大学 (5): longest common *run* 北京 = 2 (a bag or a
    # subsequence would give 4). P = 2/5, R = 2/4, F1 = 2·0.4·0.5/0.9 = 0.4444
    assert cmrc_f1("北京的大学", ["北京大学"]) == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    # SQuAD-style token F1 with per-character tokens would count all 4 shared characters: 0.8889
    assert token_f1("北京的大学", ["北京大学"]) == pytest.approx(2 * 0.8 * 1.0 / 1.8)


def test_cmrc_f1_segments_latin_words_and_numbers_as_words():
    # gold "1990年" → ['1990', '年']; prediction "在1990年代" → ['在', '1990', '年', '代']:
    # common run 1990 年 = 2; P = 2/4, R = 2/2, F1 = 2·0.5·1/1.5 = 0.6667
    assert cmrc_segments("在1990年代") == ["在", "1990", "年", "代"]
    assert cmrc_f1("在1990年代", ["1990年"]) == pytest.approx(2 / 3)
    # English words stay whole, lower-cased: "Hewlett Foundation基金" → hewlett, foundation, 基, 金
    assert cmrc_segments("Hewlett Foundation基金") == ["hewlett", "foundation", "基", "金"]
    # max over answers; punctuation from the official list is dropped first: "（约）100米" → 约 100 米
    assert cmrc_f1("约100米", ["一百米", "（约）100米"]) == 1.0
    assert cmrc_f1("", ["北京"]) == 0.0 and cmrc_f1("上海", ["北京"]) == 0.0


def test_cmrc_segmentation_agrees_with_nltk_on_every_cmrc_trial_answer():
    """The official script splits non-CJK runs with NLTK's word_tokenize; eval.metrics reimplements its rules
    (no NLTK data needed). NLTK's tokenizer, where installed, must agree on every answer of the trial set."""
    import json
    import re

    nltk_tokenize = pytest.importorskip("nltk.tokenize").NLTKWordTokenizer().tokenize
    from eval.metrics import CMRC_PUNCTUATION
    from tests.conftest import shared_data

    def official(text):  # mixed_segmentation(text, rm_punc=True), with NLTK's tokenizer
        segments, run = [], ""
        for char in text.lower().strip():
            if char in CMRC_PUNCTUATION:
                continue
            if re.search(r"[\u4e00-\u9fa5]", char):
                segments += nltk_tokenize(run) if run else []
                run = ""
                segments.append(char)
            else:
                run += char
        return segments + (nltk_tokenize(run) if run else [])

    queries = shared_data("cmrc2018-trial") / "queries.jsonl"
    answers = [a for line in queries.read_text(encoding="utf-8").splitlines() if line.strip()
               for a in json.loads(line)["metadata"]["answers"]]
    assert len(answers) >= 1000
    extra = ["don't stop", "it's 3.5% of $1,000.", 'say "hi" now', "wait... what?!", "长度为1—2毫米", "S.G. Tallentyre写作"]
    assert [cmrc_segments(a) for a in answers + extra] == [official(a) for a in answers + extra]


def test_answer_scores_follow_the_gold_answers_language():
    assert is_chinese_answer(["4分钟"]) and not is_chinese_answer(["Paris", "1990"])
    assert answer_f1("北京的大学", ["北京大学"]) == cmrc_f1("北京的大学", ["北京大学"])
    assert answer_em("北 京", ["北京"]) == 0.0  # CMRC's EM, where SQuAD's per-character tokens would say 1
    assert answer_em("the Eiffel Tower", ["Eiffel Tower"]) == exact_match("the Eiffel Tower", ["Eiffel Tower"]) == 1.0
    assert answer_f1("Eiffel", ["Eiffel Tower"]) == token_f1("Eiffel", ["Eiffel Tower"])
