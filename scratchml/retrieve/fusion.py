"""Hybrid search: one ranking from several retrievers' rankings.

BM25 and a dense encoder fail differently: BM25 misses a paraphrase that shares no word with the
query, the encoder misses a rare exact term (a gene name, a number) that it has no good vector for.
Fusing their rankings keeps what each gets right.

Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009) uses only ranks, so the retrievers'
scores need not be comparable:

    RRF(d) = sum over rankings r of  1 / (k + rank_r(d))        (rank from 1; k = 60 in the paper)

A document missing from a ranking adds nothing for it. k damps the head: with k = 60 the first
and the tenth place differ by 13 %, so agreement between rankings matters more than one first place.

A convex combination of scores uses how far ahead each document is, not just its place, but the
scores must first be put on one scale: each ranking's scores are min-max normalized to 0..1 over its
own top list (Lee 1997; Bruch, Gai & Ingber, "An Analysis of Fusion Functions for Hybrid Retrieval",
2023), then

    score(d) = w * dense(d) + (1 - w) * lexical(d)              (0 where d is missing)

The weight w is a setting to choose on training queries, never on the test queries.
"""

Ranking = dict[str, float]  # document id -> score, one query's top list


def reciprocal_rank_fusion(rankings: list[Ranking], k: float = 60.0) -> Ranking:
    """The RRF score of every document in any of the ``rankings``."""
    fused: Ranking = {}
    for ranking in rankings:
        for rank, doc in enumerate(sorted(ranking, key=ranking.__getitem__, reverse=True), start=1):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank)
    return fused


def min_max(ranking: Ranking) -> Ranking:
    """Scores scaled to 0..1 over the ranking (all 1 when they are equal)."""
    if not ranking:
        return {}
    lo, hi = min(ranking.values()), max(ranking.values())
    return {doc: (s - lo) / (hi - lo) if hi > lo else 1.0 for doc, s in ranking.items()}


def convex_combination(dense: Ranking, lexical: Ranking, weight: float = 0.5) -> Ranking:
    """weight * dense + (1 - weight) * lexical, each min-max normalized first."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the dense weight must be within 0..1, got {weight}")
    d, s = min_max(dense), min_max(lexical)
    return {doc: weight * d.get(doc, 0.0) + (1.0 - weight) * s.get(doc, 0.0) for doc in d.keys() | s.keys()}
