"""BM25: every score equal to bm25s (method "lucene") and to the formula evaluated term by term,
rankings best first, the edge cases of queries, and nDCG@10 on SciFact."""

import math

import bm25s
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scratchml.errors import ScratchMLError
from scratchml.retrieve import bm25 as bm25_module
from scratchml.retrieve.analysis import Analyzer
from scratchml.retrieve.bm25 import BM25

WORDS = ["cell", "gene", "virus", "tumor", "dna", "rna", "mouse", "drug"]
PLAIN = Analyzer(stopwords=(), stem=False)  # the tokens are the words themselves


def reference_scores(docs: list[list[str]], query: list[str], k1: float, b: float) -> list[float]:
    """The Lucene BM25 formula, one document and one query term at a time (Kamphuis et al. 2020)."""
    N, avgdl = len(docs), sum(map(len, docs)) / len(docs)
    scores = []
    for doc in docs:
        score = 0.0
        for term in query:  # a repeated query term counts each time
            tf, df = doc.count(term), sum(term in d for d in docs)
            if tf:
                idf = math.log(1 + (N - df + 0.5) / (df + 0.5))
                score += idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl))
        scores.append(score)
    return scores


corpora = st.lists(st.lists(st.sampled_from(WORDS), max_size=15), min_size=1, max_size=12).filter(
    lambda docs: any(docs))
queries = st.lists(st.lists(st.sampled_from([*WORDS, "absent"]), min_size=1, max_size=5), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(corpora, queries, st.floats(0.0, 3.0), st.floats(0.0, 1.0))
def test_scores_equal_bm25s_and_the_formula(docs, query_tokens, k1, b):
    ours = BM25.build([" ".join(d) for d in docs], [str(i) for i in range(len(docs))], PLAIN, k1=k1, b=b)
    ref = bm25s.BM25(method="lucene", k1=k1, b=b)
    ref.index(docs, show_progress=False)
    got = ours.scores([" ".join(q) for q in query_tokens])  # (Q, N)
    for q, row in zip(query_tokens, got):
        np.testing.assert_allclose(row, ref.get_scores(q), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(row, reference_scores(docs, q, k1, b), rtol=1e-5, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(corpora, queries, st.integers(1, 15))
def test_search_returns_the_best_matching_documents_best_first(docs, query_tokens, k):
    ours = BM25.build([" ".join(d) for d in docs], [f"doc{i}" for i in range(len(docs))], PLAIN)
    for q, hits in zip(query_tokens, ours.search_batch([" ".join(q) for q in query_tokens], k)):
        expected = reference_scores(docs, q, bm25_module.K1, bm25_module.B)
        best = sorted((s for s in expected if s > 0), reverse=True)[:k]
        assert [s for _, s in hits] == pytest.approx(best, rel=1e-5)
        for doc, score in hits:  # each hit is that document's own score
            assert score == pytest.approx(expected[int(doc[3:])], rel=1e-5)
        assert hits == ours.search(" ".join(q), k)


def test_ties_keep_document_order():
    ours = BM25.build(["cats purr", "dogs bark", "cats and dogs", "cats purr"], ["a", "b", "c", "d"])
    assert [doc for doc, _ in ours.search("cat", k=10)] == ["a", "c", "d"]


def test_queries_that_match_nothing_give_no_results():
    ours = BM25.build(["the cell divides", "a virus"], ["a", "b"])
    empty, stopwords, unknown, punctuation, virus = ours.search_batch(["", "the and of", "zebra!", "...", "virus"])
    assert empty == stopwords == unknown == punctuation == []
    assert [doc for doc, _ in virus] == ["b"]


def test_k_larger_than_the_collection_and_bad_k():
    ours = BM25.build(["cell", "cell gene", "gene"], ["a", "b", "c"])
    assert [doc for doc, _ in ours.search("cell", k=100)] == ["a", "b"]
    with pytest.raises(ScratchMLError, match="k must be at least 1"):
        ours.search("cell", k=0)


def test_chunks_give_the_same_results(monkeypatch):
    texts = [" ".join(WORDS[i % 8: i % 8 + 1 + i % 5]) for i in range(40)]
    ours = BM25.build(texts, [str(i) for i in range(40)], PLAIN)
    qs = [" ".join(WORDS[i:i + 2]) for i in range(8)]
    whole = ours.search_batch(qs, k=7)
    monkeypatch.setattr(bm25_module, "SCORES_PER_CHUNK", 3 * 40)  # 3 queries per chunk
    assert ours.search_batch(qs, k=7) == whole


@pytest.fixture(scope="module")
def scifact():
    from scratchml.retrieve import load_corpus, load_qrels, load_queries
    texts, ids = zip(*[(d.contents, d.id) for d in load_corpus()])
    return BM25.build(texts, ids), texts, load_queries("test"), load_qrels("test")


@pytest.mark.dataset("scifact")
def test_scifact_ndcg_at_10(scifact):
    from scratchml.retrieve.metrics import ndcg_at_k
    ours, _, queries, qrels = scifact
    assert ours.index.num_docs == 5183 and len(queries) == len(qrels) == 300
    run = {q: dict(hits) for q, hits in zip(queries, ours.search_batch(list(queries.values()), k=10))}
    assert ndcg_at_k(qrels, run, 10) >= 0.67  # BEIR's paper: 0.665 (Elasticsearch); Anserini: 0.679


@pytest.mark.dataset("scifact")
def test_scifact_top_scores_equal_bm25s(scifact):
    ours, texts, queries, _ = scifact
    analyze, query_texts = ours.index.analyzer, list(queries.values())
    ref = bm25s.BM25(method="lucene", k1=ours.k1, b=ours.b)
    ref.index([analyze(t) for t in texts], show_progress=False)
    _, ref_scores = ref.retrieve([analyze(q) for q in query_texts], k=10, show_progress=False, n_threads=1)
    for hits, expected in zip(ours.search_batch(query_texts, k=10), ref_scores):
        np.testing.assert_allclose([s for _, s in hits], expected[:len(hits)], rtol=1e-5)
        assert not expected[len(hits):].any(), "bm25s pads with score 0 where we stop"
