"""One citation pattern for the whole application: what the pipeline counts, the eval strips and the UI links."""

from app.ui.citations import citing_sentences, link_citations
from eval.metrics import exact_match
from generation.citations import numbers_in, parse_citations, strip_citations


def test_parse_citations_forms_order_and_range():
    text = "MLA compresses the cache [2]. It was used in V2 [1, 3] and [2][4]; see 【5】 and [6-7]. Not [9] or [0]."
    assert parse_citations(text, passage_count=7) == [2, 1, 3, 4, 5, 6, 7]


def test_parse_citations_ignores_numbers_without_brackets_and_out_of_range():
    assert parse_citations("In 2024 there were 3 models [12].", passage_count=5) == []


def test_numbers_in_expands_ranges_and_lists():
    assert numbers_in("1-3, 5") == [1, 2, 3, 5]
    assert numbers_in("2，1、2") == [2, 1]
    assert numbers_in("4-2") == [4]  # a backwards range is read as its first number


def test_citations_do_not_cost_exact_match():
    assert exact_match(strip_citations("Wilhelm Conrad Röntgen [1]."), ["Wilhelm Conrad Röntgen"]) == 1.0
    assert exact_match(strip_citations("北京【2】"), ["北京"]) == 1.0
    assert strip_citations("in 1901 [1, 3][2-4]").split() == ["in", "1901"]


def test_ui_links_every_form_the_pipeline_counts_including_ranges():
    answer = "Latent vectors are cached [1-3]. Experts are routed [2, 4]."
    linked = link_citations(answer, passage_count=4, turn=7)
    for number in (1, 2, 3, 4):
        assert f"(#t7-source-{number})" in linked
    assert "[1-3]" not in linked
    assert citing_sentences(answer, 3) == ["Latent vectors are cached ."]
    assert citing_sentences(answer, 4) == ["Experts are routed ."]


def test_ui_leaves_out_of_range_citations_as_text():
    assert link_citations("See [9].", passage_count=3, turn=1) == "See [9]."
