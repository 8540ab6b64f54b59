"""The citation of a search result: the one sentence of a passage that best answers the query.

A passage of 150 words is a lot to read to see why it came up; showing its best sentence lets the
reader judge a result at a glance, and quote it. The best sentence is the one the ranking's own
notion of similarity prefers:

- lexical (BM25 results): the sentence whose distinct query terms have the largest total idf, that
  is BM25 with k1 = 0 (each term counts once, whatever its frequency) and no length normalization,
  the idf taken from the whole collection. A sentence that shares the query's rare word beats one
  that shares only common words; on a tie the earlier sentence wins.
- dense (dense and hybrid results): the sentence whose embedding has the largest cosine with the
  query's embedding, so a paraphrase that shares no word with the query can still be chosen.
"""

import math

import numpy as np

from scratchml.retrieve.documents import sentence_spans
from scratchml.retrieve.index import InvertedIndex


def sentences(text: str) -> list[str]:
    """The sentences of a passage, each on one line (runs of whitespace become one space)."""
    return [" ".join(text[a:b].split()) for a, b in sentence_spans(text)] or [" ".join(text.split())]


def idf(index: InvertedIndex, term: str) -> float:
    """BM25's inverse document frequency of ``term`` in the collection (0 for a term it lacks)."""
    t = index.vocab.get(term)
    if t is None:
        return 0.0
    df = int(index.indptr[t + 1] - index.indptr[t])
    return math.log1p((index.num_docs - df + 0.5) / (df + 0.5))


def cite_lexical(texts: list[str], query: str, index: InvertedIndex) -> list[str]:
    """For each passage text, its sentence with the largest idf sum of the query terms it contains."""
    analyze = index.analyzer
    weight = {term: idf(index, term) for term in set(analyze(query))}
    out = []
    for text in texts:
        candidates = sentences(text)
        scores = [sum(weight.get(term, 0.0) for term in set(analyze(s))) for s in candidates]
        out.append(candidates[int(np.argmax(scores))])  # argmax: the first of equal scores
    return out


def cite_dense(texts: list[str], query_vector: np.ndarray, encoder) -> list[str]:
    """For each passage text, its sentence nearest to the query's unit vector ``query_vector`` (d,);
    the sentences of all the passages are encoded in one batch."""
    candidates = [sentences(text) for text in texts]
    flat = [s for group in candidates for s in group]
    if not flat:
        return []
    cosines = encoder.encode(flat) @ query_vector                        # (sentences,)
    out, start = [], 0
    for group in candidates:
        out.append(group[int(np.argmax(cosines[start:start + len(group)]))])
        start += len(group)
    return out
