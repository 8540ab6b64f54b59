"""Training data for fine-tuning a dense retriever: (query, relevant passage) pairs, a validation
split, BM25 hard negatives, and batches in which no passage is a false negative.

- Pairs: one per judged (query, relevant document), so a query with two relevant abstracts gives two.
- Validation: a query goes to the validation part when a hash of its id falls below ``fraction``
  (SHA-256, so the split is the same on every machine and in every run, and a query's pairs never
  straddle the two parts).
- Hard negatives (Karpukhin et al. 2020, DPR, section 3.2): for each training query, the highest-ranked
  BM25 document among the first ``depth`` that the judges did not mark relevant. It may still be
  relevant but unjudged; in SciFact, whose judges looked at few abstracts per claim, that happens.
- Batches: shuffled anew each epoch from (seed, epoch) alone, so a resumed run sees the same ones;
  no query or passage twice in a batch (as sentence-transformers' NoDuplicatesBatchSampler), and
  ``ignore_mask`` removes any remaining column that is relevant to a row's query.
"""

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from scratchml.retrieve.bm25 import BM25

Qrels = dict[str, dict[str, int]]


@dataclass(frozen=True)
class RetrievalData:
    """A collection with judged queries: document id -> text, query id -> text, and the qrels."""
    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: Qrels
    name: str = "custom data"


@dataclass(frozen=True)
class Pair:
    query_id: str
    doc_id: str                    # the positive
    negative_id: str | None = None  # the hard negative, when there is one

    def keys(self) -> set[tuple[str, str]]:
        return {("query", self.query_id), ("doc", self.doc_id)} | \
            ({("doc", self.negative_id)} if self.negative_id else set())


def scifact_train() -> RetrievalData:
    """SciFact's training claims and their judgments (the test claims are never read here), and the
    5,183 abstracts as title + " " + abstract."""
    from scratchml.retrieve.scifact import load_corpus, load_qrels, load_queries
    return RetrievalData({d.id: d.contents for d in load_corpus()}, load_queries("train"), load_qrels("train"),
                         "BEIR SciFact, training claims (qrels/train.tsv)")


def in_validation(query_id: str, fraction: float) -> bool:
    """Whether ``query_id`` is held out: the first 8 bytes of its SHA-256, as a fraction of 2**64."""
    digest = hashlib.sha256(query_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2 ** 64


def split_qrels(qrels: Qrels, fraction: float) -> tuple[Qrels, Qrels]:
    """(training qrels, validation qrels): about ``fraction`` of the queries are held out."""
    valid = {q: docs for q, docs in qrels.items() if in_validation(q, fraction)}
    return {q: docs for q, docs in qrels.items() if q not in valid}, valid


def bm25_negatives(data: RetrievalData, query_ids: list[str], depth: int = 10) -> dict[str, str]:
    """query id -> its hard negative: the best BM25 document of the top ``depth`` not judged relevant."""
    doc_ids = list(data.corpus)
    bm25 = BM25.build((data.corpus[d] for d in doc_ids), doc_ids)
    negatives = {}
    for q, hits in zip(query_ids, bm25.search_batch([data.queries[q] for q in query_ids], depth)):
        relevant = data.qrels.get(q, {})
        negative = next((doc for doc, _ in hits if relevant.get(doc, 0) <= 0), None)
        if negative is not None:
            negatives[q] = negative
    return negatives


def training_pairs(data: RetrievalData, qrels: Qrels, negatives: dict[str, str] | None = None) -> list[Pair]:
    """A pair per relevant (query, document) of ``qrels``, in the order of ``data.queries``. With
    ``negatives``, a query that has none (BM25 found only relevant documents) is left out."""
    pairs = []
    for q in data.queries:
        if negatives is not None and q not in negatives:
            continue
        for doc, relevance in sorted(qrels.get(q, {}).items()):
            if relevance > 0 and doc in data.corpus:
                pairs.append(Pair(q, doc, negatives[q] if negatives is not None else None))
    return pairs


def batches(pairs: list[Pair], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Epoch ``epoch``'s batches, lists of indices into ``pairs``. Each is filled with the first pairs
    of a shuffled order whose query and passages it does not hold yet; the pairs put off wait for the
    next batch. A last batch of one pair (no in-batch negative) is dropped."""
    order = np.random.default_rng([seed, epoch]).permutation(len(pairs)).tolist()
    out = []
    while order:
        batch, seen, later = [], set(), []
        for i in order:
            keys = pairs[i].keys()
            if len(batch) < batch_size and not keys & seen:
                batch.append(i)
                seen |= keys
            else:
                later.append(i)
        out.append(batch)
        order = later
    return [b for b in out if len(b) >= 2]


def ignore_mask(batch: list[Pair], qrels: Qrels) -> torch.Tensor:
    """(B, N) bool, True where column j's passage is relevant to row i's query but is not its target
    (column i): the loss must not push it away. Columns: the B positives, then the B hard negatives
    when the pairs have them."""
    columns = [p.doc_id for p in batch] + [p.negative_id for p in batch if p.negative_id is not None]
    mask = torch.tensor([[qrels.get(p.query_id, {}).get(doc, 0) > 0 for doc in columns] for p in batch])
    mask.fill_diagonal_(False)
    return mask
