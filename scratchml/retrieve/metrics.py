"""Ranking metrics: how good is the ranked list a retriever returned for each query?

Inputs use the TREC layout that pytrec_eval, ranx and BEIR share:

    qrels = {query_id: {doc_id: relevance}}   human judgments; relevance > 0 means relevant,
                                              and a larger number means more relevant (graded)
    run   = {query_id: {doc_id: score}}       what a retriever returned; higher score = ranked higher

A run is ranked by score, best first; equal scores are ordered by document id in *reverse* string
order, as trec_eval (and so pytrec_eval, which BEIR reports with) breaks ties. Each metric is computed
per query and averaged over every query of the qrels; a query the run has nothing for scores 0
(trec_eval's ``-c``), so a retriever cannot gain by skipping hard queries.

- nDCG@k (Järvelin & Kekäläinen, "Cumulated gain-based evaluation of IR techniques", TOIS 2002):

      DCG@k  = sum over ranks i = 1..k of  rel_i / log2(i + 1)
      nDCG@k = DCG@k / IDCG@k

  gain = the judged relevance (0 for an unjudged document), discounted by the log of the rank;
  IDCG@k is the DCG@k of the best possible ranking, the judged documents sorted by relevance.
- Recall@k: the fraction of a query's relevant documents found in the top k.
- MRR@k (mean reciprocal rank): 1 / rank of the first relevant document in the top k, 0 if none.
"""

import math

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


def ranking(scores: dict[str, float]) -> list[str]:
    """Document ids of one query's results, best first (ties: reverse id order, like trec_eval)."""
    return sorted(scores, key=lambda doc: (scores[doc], doc), reverse=True)


def ndcg_at_k(qrels: Qrels, run: Run, k: int = 10) -> float:
    return _mean(qrels, run, k, _ndcg)


def recall_at_k(qrels: Qrels, run: Run, k: int = 100) -> float:
    return _mean(qrels, run, k, _recall)


def mrr_at_k(qrels: Qrels, run: Run, k: int = 10) -> float:
    return _mean(qrels, run, k, _reciprocal_rank)


def evaluate(qrels: Qrels, run: Run) -> dict[str, float]:
    """The three figures BEIR-style retrieval papers report."""
    return {"ndcg@10": ndcg_at_k(qrels, run, 10), "recall@100": recall_at_k(qrels, run, 100),
            "mrr@10": mrr_at_k(qrels, run, 10)}


def _mean(qrels: Qrels, run: Run, k: int, metric) -> float:
    if not qrels:
        return 0.0
    return sum(metric(judged, ranking(run.get(q, {}))[:k], k) for q, judged in qrels.items()) / len(qrels)


def _ndcg(judged: dict[str, int], top: list[str], k: int) -> float:
    dcg = sum(max(judged.get(doc, 0), 0) / math.log2(i + 2) for i, doc in enumerate(top))  # i + 2: ranks from 1
    ideal = sorted((rel for rel in judged.values() if rel > 0), reverse=True)[:k]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def _recall(judged: dict[str, int], top: list[str], k: int) -> float:
    relevant = {doc for doc, rel in judged.items() if rel > 0}
    return len(relevant.intersection(top)) / len(relevant) if relevant else 0.0


def _reciprocal_rank(judged: dict[str, int], top: list[str], k: int) -> float:
    return next((1 / rank for rank, doc in enumerate(top, 1) if judged.get(doc, 0) > 0), 0.0)
