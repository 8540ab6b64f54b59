"""The inverted index: for every term, the documents that contain it and how often.

A book's index maps a word to the pages it is on; an inverted index maps a term to its *postings*,
the (document, term frequency) pairs of the documents that contain it (Manning et al., *Introduction
to Information Retrieval*, 2008, ch. 1). A query then touches only the postings of its own terms,
not every document.

All postings live in three flat NumPy arrays, the CSR ("compressed sparse row") layout of a sparse
term x document matrix:

    vocab       {"cell": 0, "run": 1, ...}          term -> term id t
    indptr      (V+1,) int64   postings of term t are the slice indptr[t]:indptr[t+1]
    doc_rows    (P,)   int32   the document of each posting, ascending within a term
    tfs         (P,)   int32   how often the term occurs in that document
    doc_lengths (N,)   int32   terms per document (after analysis)

so the document frequency of t (how many documents contain it) is ``indptr[t+1] - indptr[t]``.
Documents are numbered 0..N-1 in the order given (their *rows*); ``doc_ids`` maps a row back to the
collection's own id.

On disk an index is one ``.npz`` file (store.py): the four arrays, and a JSON header holding the
format, its version, the vocabulary, the document ids and the analyzer's settings.
"""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.retrieve.analysis import Analyzer
from scratchml.retrieve.store import load_npz, save_npz

FORMAT, VERSION = "scratchml.retrieve.InvertedIndex", 1
ARRAYS = ("indptr", "doc_rows", "tfs", "doc_lengths")


@dataclass
class InvertedIndex:
    vocab: dict[str, int]     # term -> term id, ids 0..V-1
    doc_ids: list[str]        # row -> the document's own id
    indptr: np.ndarray        # (V+1,) int64
    doc_rows: np.ndarray      # (P,) int32
    tfs: np.ndarray           # (P,) int32
    doc_lengths: np.ndarray   # (N,) int32
    analyzer: Analyzer

    @classmethod
    def build(cls, texts: Iterable[str], doc_ids: Sequence[str], analyzer: Analyzer | None = None) -> "InvertedIndex":
        """Index ``texts`` (one per document, in the order of ``doc_ids``)."""
        analyzer = analyzer or Analyzer()
        vocab: dict[str, int] = {}
        terms, rows, tfs, lengths = [], [], [], []  # one entry per (document, distinct term)
        for row, text in enumerate(texts):
            counts = Counter(analyzer(text))
            terms += [vocab.setdefault(term, len(vocab)) for term in counts]
            rows += [row] * len(counts)
            tfs += counts.values()
            lengths.append(counts.total())
        if len(lengths) != len(doc_ids):
            raise ScratchMLError(f"{len(lengths)} texts but {len(doc_ids)} document ids")
        # Group the postings by term; a stable sort keeps each term's documents in ascending order.
        terms = np.array(terms, dtype=np.int64)
        order = np.argsort(terms, kind="stable")
        df = np.bincount(terms, minlength=len(vocab))  # (V,) documents per term
        return cls(vocab=vocab, doc_ids=list(doc_ids),
                   indptr=np.concatenate([[0], np.cumsum(df)]).astype(np.int64),
                   doc_rows=np.array(rows, dtype=np.int32)[order],
                   tfs=np.array(tfs, dtype=np.int32)[order],
                   doc_lengths=np.array(lengths, dtype=np.int32), analyzer=analyzer)

    @property
    def num_docs(self) -> int:
        return len(self.doc_ids)

    def doc_freqs(self) -> np.ndarray:
        """(V,) int64: how many documents contain each term."""
        return np.diff(self.indptr)

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(document rows, term frequencies) of one term; both empty for a term not in the index."""
        t = self.vocab.get(term)
        if t is None:
            return self.doc_rows[:0], self.tfs[:0]
        lo, hi = self.indptr[t], self.indptr[t + 1]
        return self.doc_rows[lo:hi], self.tfs[lo:hi]

    def save(self, path: str | Path) -> None:
        """Write the index to ``path`` (an ``.npz`` file) atomically (store.py)."""
        terms = sorted(self.vocab, key=self.vocab.__getitem__)  # term ids are positions in this list
        header = {"format": FORMAT, "version": VERSION, "terms": terms, "doc_ids": self.doc_ids,
                  "analyzer": self.analyzer.config()}
        save_npz(path, header, {name: getattr(self, name) for name in ARRAYS})

    @classmethod
    def load(cls, path: str | Path) -> "InvertedIndex":
        """Read an index written by ``save``."""
        path = Path(path)
        meta, arrays = load_npz(path, FORMAT, VERSION)
        try:
            index = cls(vocab={term: t for t, term in enumerate(meta["terms"])}, doc_ids=meta["doc_ids"],
                        analyzer=Analyzer(**meta["analyzer"]), **{name: arrays[name] for name in ARRAYS})
        except (KeyError, TypeError) as e:  # an array or a setting is missing, or has the wrong type
            raise ScratchMLError(f"{path}: index file is incomplete ({type(e).__name__}: {e})") from None
        index._check(path)
        return index

    def _check(self, path: Path) -> None:
        """The arrays must agree with each other, or a search would index out of bounds."""
        V, N, P = len(self.vocab), len(self.doc_ids), self.doc_rows.size
        ok = (all(getattr(self, name).dtype.kind in "iu" for name in ARRAYS)
              and self.indptr.shape == (V + 1,) and self.doc_rows.shape == self.tfs.shape == (P,)
              and self.doc_lengths.shape == (N,)
              and self.indptr[0] == 0 and self.indptr[-1] == P and np.all(np.diff(self.indptr) >= 0)
              and (P == 0 or 0 <= self.doc_rows.min() <= self.doc_rows.max() < N))
        if not ok:
            raise ScratchMLError(f"{path}: index file is inconsistent (arrays of the wrong size or type); rebuild it")
