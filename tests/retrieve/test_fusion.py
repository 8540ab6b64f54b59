"""Rank fusion: hand-computed cases and properties that any correct fusion has."""

import pytest
from hypothesis import given, strategies as st

from scratchml.retrieve.fusion import convex_combination, min_max, reciprocal_rank_fusion

scores = st.dictionaries(st.sampled_from("abcdefgh"), st.floats(-50, 50, allow_nan=False), min_size=1)


def order(ranking):
    return sorted(ranking, key=lambda d: (-ranking[d], d))


def test_rrf_by_hand():
    bm25 = {"a": 12.0, "b": 7.5, "c": 3.1}     # ranks a1 b2 c3
    dense = {"c": 0.91, "a": 0.80, "d": 0.42}  # ranks c1 a2 d3
    fused = reciprocal_rank_fusion([bm25, dense], k=60)
    assert fused == pytest.approx({"a": 1 / 61 + 1 / 62, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 63})
    assert order(fused) == ["a", "c", "b", "d"]


@given(st.permutations(list("abcdefgh")))
def test_rrf_of_one_ranking_keeps_its_order(docs):
    ranking = {d: float(len(docs) - i) for i, d in enumerate(docs)}  # docs best first
    assert order(reciprocal_rank_fusion([ranking])) == docs


def test_convex_combination_by_hand():
    dense = {"a": 0.9, "b": 0.5, "c": 0.7}    # normalized a 1, b 0, c 0.5
    lexical = {"b": 20.0, "d": 10.0}          # normalized b 1, d 0
    fused = convex_combination(dense, lexical, weight=0.3)
    assert fused == pytest.approx({"a": 0.3, "b": 0.7, "c": 0.15, "d": 0.0})


@given(scores, scores)
def test_convex_combination_at_the_ends_is_one_retriever(dense, lexical):
    only_dense = convex_combination(dense, lexical, weight=1.0)
    assert all(only_dense[d] == pytest.approx(v) for d, v in min_max(dense).items())
    assert all(only_dense[d] == 0.0 for d in lexical.keys() - dense.keys())
    with pytest.raises(ValueError):
        convex_combination(dense, lexical, weight=1.5)


def test_min_max_of_equal_scores_and_of_nothing():
    assert min_max({"a": 3.0, "b": 3.0}) == {"a": 1.0, "b": 1.0}
    assert min_max({}) == {}
