"""BM25: rank documents by how many query terms they contain, how rare those terms are, and how
often each occurs relative to the document's length.

The score of document d for query q, as Lucene and Anserini compute it (Robertson & Zaragoza, "The
Probabilistic Relevance Framework: BM25 and Beyond", 2009; the Lucene variant as written out by
Kamphuis, de Vries, Boytsov & Lin, "Which BM25 Do You Mean? A Large-Scale Reproducibility Study of
Scoring Variants", ECIR 2020):

    score(q, d) = sum over terms t of q of   idf(t) * tf(t,d) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))

    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

- idf: a term found in few of the N documents (small df) says more than one found in most;
  the "1 +" keeps it positive even for a term in every document.
- tf saturation: the second occurrence of a term adds less than the first, and k1 sets how fast
  the curve flattens (k1 = 0 counts presence only).
- length normalization: a long document contains more words by chance; b = 1 divides tf fully
  by the relative length |d| / avgdl, b = 0 ignores length.
A term repeated in the query counts once per repetition, as in Lucene. Robertson's original form
also multiplies tf by (k1 + 1), and rank_bm25 does; Lucene dropped that factor, which scales every
score alike and so changes no ranking.

k1 = 0.9, b = 0.4 are Anserini's defaults for its BEIR baselines (Lin et al., "Pyserini", SIGIR 2021).

Nothing in the fraction depends on the query, so each posting's contribution is computed once when
the model is built (``weights``, aligned with the index's postings). A search is then a sum: gather
the postings of the query's terms and add their weights into one score per document.
"""

from collections.abc import Iterable, Sequence

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.retrieve.analysis import Analyzer
from scratchml.retrieve.index import InvertedIndex

K1, B = 0.9, 0.4
SCORES_PER_CHUNK = 1 << 18  # queries x documents scored at once: 2 MB of float64 stays in the CPU cache


class BM25:
    """A BM25 ranker over an ``InvertedIndex``.

    >>> bm25 = BM25.build(["cats purr", "dogs bark", "cats and dogs"], ["a", "b", "c"])
    >>> [doc for doc, score in bm25.search("cat")]
    ['a', 'c']
    """

    def __init__(self, index: InvertedIndex, k1: float = K1, b: float = B):
        self.index, self.k1, self.b = index, k1, b
        N, df = index.num_docs, index.doc_freqs()                   # df: (V,)
        idf = np.log1p((N - df + 0.5) / (df + 0.5))                 # (V,) ln(1 + ...)
        term_of_posting = np.repeat(np.arange(len(df)), df)         # (P,)
        tf = index.tfs.astype(np.float64)                           # (P,)
        dl = index.doc_lengths[index.doc_rows]                      # (P,) |d| of each posting's document
        avgdl = index.doc_lengths.sum() / max(N, 1)
        # (P,) float32: the score a posting adds to its document when the query has its term
        self.weights = (idf[term_of_posting] * tf / (tf + k1 * (1 - b + b * dl / avgdl))).astype(np.float32)
        self._doc_ids = np.array(index.doc_ids, dtype=object)       # (N,) row -> id, indexable by arrays

    @classmethod
    def build(cls, texts: Iterable[str], doc_ids: Sequence[str], analyzer: Analyzer | None = None,
              k1: float = K1, b: float = B) -> "BM25":
        """Index ``texts`` (one per document, in the order of ``doc_ids``) and rank with BM25."""
        return cls(InvertedIndex.build(texts, doc_ids, analyzer), k1, b)

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` best (document id, score) pairs, best first; only documents that share a term
        with the query, so a query of stopwords or unknown words gives an empty list."""
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: Sequence[str], k: int = 10) -> list[list[tuple[str, float]]]:
        """``search`` for many queries at once: a few NumPy calls per chunk of queries (``scores``)."""
        if k < 1:
            raise ScratchMLError(f"k must be at least 1, got {k}")
        per_chunk = max(1, SCORES_PER_CHUNK // max(self.index.num_docs, 1))
        results = []
        for start in range(0, len(queries), per_chunk):
            results += self._search_chunk(queries[start:start + per_chunk], k)
        return results

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """(len(queries), N) float64: the BM25 score of every document for every query."""
        terms, query_of = self._query_terms(queries)                # (T,), (T,)
        N = self.index.num_docs
        # Gather the postings of every query term: term t's postings are the slice
        # indptr[t]:indptr[t+1], and ``positions`` lists all those slices back to back.
        starts = self.index.indptr[terms]                           # (T,)
        lengths = self.index.indptr[terms + 1] - starts             # (T,)
        first = np.cumsum(lengths) - lengths                        # (T,) where each slice begins in positions
        positions = np.arange(lengths.sum()) + np.repeat(starts - first, lengths)  # (G,) G gathered postings
        # One flat bincount adds every posting's weight into its (query, document) cell.
        cells = np.repeat(query_of * N, lengths) + self.index.doc_rows[positions]  # (G,)
        return np.bincount(cells, self.weights[positions], minlength=len(queries) * N).reshape(len(queries), N)

    def _query_terms(self, queries: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(term id, query number) of each indexed term of each query. A term the query repeats is
        listed, and so added, once per repetition; a term the index lacks scores 0 and is skipped."""
        vocab, terms, query_of = self.index.vocab, [], []
        for q, text in enumerate(queries):
            ids = [vocab[term] for term in self.index.analyzer(text) if term in vocab]
            terms += ids
            query_of += [q] * len(ids)
        return np.array(terms, dtype=np.int64), np.array(query_of, dtype=np.int64)

    def _search_chunk(self, queries: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        scores = self.scores(queries)                               # (Q, N)
        k = min(k, scores.shape[1])
        if k < scores.shape[1]:
            # argpartition puts the k smallest of -scores first, unordered, in O(N); only those k are
            # then sorted. (Asking for the k largest of +scores, kth = N - k, measured twice as slow
            # on SciFact, where half the documents tie at score 0.)
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]    # (Q, k) document rows
        else:
            top = np.broadcast_to(np.arange(k), (len(queries), k))
        # Best first; equal scores in document order (which of several documents tied at the k-th
        # score make the cut is argpartition's choice).
        top = np.sort(top, axis=1)
        top_scores = np.take_along_axis(scores, top, axis=1)        # (Q, k)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top, top_scores = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)
        matched = (top_scores > 0).sum(axis=1).tolist()             # (Q,) documents with a query term
        return [list(zip(ids[:n], row_scores[:n]))
                for ids, row_scores, n in zip(self._doc_ids[top].tolist(), top_scores.tolist(), matched)]
