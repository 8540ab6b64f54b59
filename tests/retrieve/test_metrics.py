"""nDCG@k, Recall@k and MRR@k equal pytrec_eval (trec_eval's own code, what BEIR reports with) on
random runs and binary or graded judgments, ties included; and one example worked by hand."""

import math

import pytest
import pytrec_eval
from hypothesis import given, settings, strategies as st

from scratchml.retrieve.metrics import evaluate, mrr_at_k, ndcg_at_k, recall_at_k

DOCS = [f"d{i}" for i in range(30)]


def judgments(max_relevance: int):
    """{query: {doc: relevance}} for 1-6 queries, each judging 1-8 documents."""
    per_query = st.dictionaries(st.sampled_from(DOCS), st.integers(0, max_relevance), min_size=1, max_size=8)
    return st.dictionaries(st.sampled_from([f"q{i}" for i in range(8)]), per_query, min_size=1, max_size=6)


def runs(tied: bool):
    """{query: {doc: score}} for some of the queries (and one the qrels may lack); ``tied``: scores
    from a few values, so many are equal."""
    scores = st.integers(0, 3 if tied else 10**6).map(float)
    per_query = st.dictionaries(st.sampled_from(DOCS), scores, max_size=25)
    return st.dictionaries(st.sampled_from([f"q{i}" for i in range(9)]), per_query, max_size=9)


def reference(qrels, run, measure: str) -> float:
    """pytrec_eval's per-query values, averaged over every query of the qrels (0 for a query the
    run lacks, as trec_eval -c does)."""
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {measure}).evaluate(run)
    name = measure.replace(".", "_")
    return sum(per_query[q][name] for q in qrels if q in per_query) / len(qrels)


def top(run, k):
    """The run cut to each query's k best, in trec_eval's order (MRR@k is recip_rank of that)."""
    return {q: dict(sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)[:k])
            for q, docs in run.items()}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([1, 3]).flatmap(judgments), st.booleans().flatmap(runs), st.integers(1, 12))
def test_equal_to_pytrec_eval(qrels, run, k):
    assert ndcg_at_k(qrels, run, k) == pytest.approx(reference(qrels, run, f"ndcg_cut.{k}"), abs=1e-9)
    assert recall_at_k(qrels, run, k) == pytest.approx(reference(qrels, run, f"recall.{k}"), abs=1e-9)
    assert mrr_at_k(qrels, run, k) == pytest.approx(reference(qrels, top(run, k), "recip_rank"), abs=1e-9)


def test_worked_example():
    qrels = {"q1": {"a": 2, "b": 1, "c": 0}, "q2": {"d": 1}}
    run = {"q1": {"x": 0.9, "b": 0.8, "a": 0.7, "c": 0.6}}  # q2: nothing retrieved
    dcg = 0 / math.log2(2) + 1 / math.log2(3) + 2 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(qrels, run, 10) == pytest.approx((dcg / idcg + 0) / 2)
    assert recall_at_k(qrels, run, 2) == pytest.approx((1 / 2 + 0) / 2)
    assert mrr_at_k(qrels, run, 10) == pytest.approx((1 / 2 + 0) / 2)
    assert mrr_at_k(qrels, run, 1) == 0.0
    assert evaluate(qrels, run) == {"ndcg@10": ndcg_at_k(qrels, run, 10), "recall@100": recall_at_k(qrels, run, 100),
                                    "mrr@10": mrr_at_k(qrels, run, 10)}


def test_empty_qrels():
    assert ndcg_at_k({}, {"q": {"a": 1.0}}) == 0.0
