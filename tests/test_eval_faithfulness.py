"""Faithfulness checks: the deterministic score by hand, the judge's handling of replies that do not parse,
and the agreement numbers.

The judge is driven by a scripted client here: a real server cannot be made to return a chosen sequence of
broken and valid replies, which is exactly what the retry logic must be tested against."""

import pytest

from eval.faithfulness import LLMJudge, agreement, lexical_support, parse_claims

PASSAGE = "The first Nobel Prize in Physics was awarded in 1901 to Wilhelm Conrad Röntgen of Germany."


def test_lexical_support_counts_grounded_content_words():
    assert lexical_support("Wilhelm Conrad Röntgen [1]", [PASSAGE]) == 1.0
    # content terms: röntgen, 1901, franc (stemmed) → 2 of 3 grounded; "in" and "the" are stop words.
    assert lexical_support("Röntgen in 1901 in the France", [PASSAGE]) == pytest.approx(2 / 3)
    assert lexical_support("Awards were given", [PASSAGE]) == pytest.approx(1 / 3)  # award ✓, given ✗, were: stop word
    assert lexical_support("the [2]", [PASSAGE]) is None
    assert lexical_support("北京", ["首都是北京。"]) == 1.0


class Scripted:
    """Returns the given replies in order, then repeats the last one."""

    def __init__(self, *replies: str):
        self.replies = list(replies)
        self.calls = 0

    def complete(self, messages, max_tokens=None):
        reply = self.replies[min(self.calls, len(self.replies) - 1)]
        self.calls += 1
        return reply, None


VALID = '{"claims": [{"claim": "Röntgen won", "supported": true}, {"claim": "in 1950", "supported": false}]}'


def test_judge_scores_supported_over_claims():
    verdict = LLMJudge(Scripted(VALID)).judge("who?", "Röntgen won in 1950", [PASSAGE])
    assert verdict.score == 0.5 and not verdict.unparsed and verdict.attempts == 1


def test_judge_retries_a_reply_that_does_not_parse():
    client = Scripted("Sure! Here are the claims: Röntgen won (yes)", "```json\n" + VALID + "\n```")
    verdict = LLMJudge(client, retries=2).judge("who?", "Röntgen won in 1950", [PASSAGE])
    assert verdict.score == 0.5 and verdict.attempts == 2 and client.calls == 2


def test_judge_that_never_parses_is_recorded_as_unparsed():
    client = Scripted('{"claims": [{"claim": "x", "supported": "maybe"}]}')
    verdict = LLMJudge(client, retries=2).judge("who?", "answer", [PASSAGE])
    assert verdict.unparsed and verdict.score is None
    assert client.calls == 3 and verdict.attempts == 3
    assert "maybe" in verdict.as_dict()["raw"]


def test_parse_claims_edge_cases():
    assert parse_claims('{"claims": []}') == []
    assert parse_claims("no json at all") is None
    assert parse_claims('{"claims": "none"}') is None
    assert parse_claims('{"claims": [{"claim": "a", "supported": true}') is None  # cut off by max_tokens


def test_agreement_by_hand():
    # Even rows (0.9 ✓, 0.8 ✓) choose threshold 0.8; odd rows (0.1 ✗, 0.2 ✗) are then both right.
    result = agreement("m", [0.9, 0.1, 0.8, 0.2], [True, False, True, False])
    assert result.threshold == 0.8 and result.accuracy == 1.0 and result.auroc == 1.0


def test_agreement_counts_a_missing_score_as_unfaithful():
    result = agreement("m", [None, 0.9, 0.7, None], [True, True, False, False], unparsed=2)
    assert result.scored == 2 and result.unparsed == 2
    # filled scores 0, 0.9, 0.7, 0 → positives {0, 0.9}, negatives {0.7, 0}: pairs (0.9>0.7, 0.9>0, 0<0.7,
    # 0=0 → ½) → AUROC (1 + 1 + 0 + 0.5) / 4.
    assert result.auroc == pytest.approx(2.5 / 4)
