"""Retrieval on BEIR SciFact (300 test claims, 5,183 abstracts): ours vs the reference libraries, in one run.

Lexical section (BM25, k1 = 0.9, b = 0.4, documents = title + " " + abstract):
- ours: ``scratchml.retrieve.BM25`` with its analyzer (``\\w+`` tokens, Lucene's stopwords,
  Snowball English stems);
- bm25s (method "lucene", its numpy backend, one thread) as its users run it: ``bm25s.tokenize``
  with its "en" stopwords (Lucene's list) and the same PyStemmer stemmer, whose token pattern
  ``\\w\\w+`` drops one-character tokens; and, as a check, bm25s fed our own tokens, which must
  give our scores and so our figures;
- rank_bm25's BM25Okapi on our tokens (the Robertson idf with a floor, and a (k1 + 1) factor).

Speed: batch queries per second from query strings to the top 100 (tokenizing included), the same
task on both sides (bm25s, without one-character tokens, adds up somewhat fewer postings); ours and
bm25s alternate, and each keeps its best of ``--repeats`` (this machine is shared, see the load
averages). rank_bm25 scores one query at a time, timed once.

Quality: nDCG@10, Recall@100 and MRR@10 of each run, by ``scratchml.retrieve.metrics`` (equal to
pytrec_eval's in the tests). The last stdout line is one JSON object: the keys of every section.

Usage: ``SCRATCHML_DATA=... python benchmarks/retrieval_vs_refs.py [--repeats 5]``
"""

import argparse
import json
import os
import time

import bm25s
import numpy as np
import Stemmer
from rank_bm25 import BM25Okapi

from scratchml.retrieve import BM25, evaluate, load_corpus, load_qrels, load_queries
from scratchml.retrieve.bm25 import K1, B

TOP_K = 100  # Recall@100 needs the top 100


def scored(qrels, query_ids, doc_ids, hits) -> dict[str, float]:
    """nDCG@10, Recall@100 and MRR@10 of ``hits`` (per query: (document rows, scores))."""
    run = {q: {doc_ids[r]: float(s) for r, s in zip(rows, scores)} for q, (rows, scores) in zip(query_ids, hits)}
    return {name: round(value, 4) for name, value in evaluate(qrels, run).items()}


def top_k(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) of the TOP_K best documents of one query's (N,) scores."""
    top = np.argsort(-scores, kind="stable")[:TOP_K]
    return top, scores[top]


def lexical(data: dict, repeats: int) -> dict:
    docs, queries, qrels = data["docs"], data["queries"], data["qrels"]
    texts, doc_ids, query_ids = [d.contents for d in docs], [d.id for d in docs], list(queries)
    query_texts = list(queries.values())
    row = {doc: r for r, doc in enumerate(doc_ids)}

    t = time.perf_counter()
    ours = BM25.build(texts, doc_ids, k1=K1, b=B)
    ours_build = time.perf_counter() - t
    stemmer = Stemmer.Stemmer("english")
    t = time.perf_counter()
    ref = bm25s.BM25(method="lucene", k1=K1, b=B)
    ref.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    ref_build = time.perf_counter() - t
    print(f"index: ours {ours_build:.2f} s, bm25s {ref_build:.2f} s", flush=True)

    def run_ours():
        return ours.search_batch(query_texts, TOP_K)

    def run_ref():
        tokens = bm25s.tokenize(query_texts, stopwords="en", stemmer=stemmer, show_progress=False)
        return ref.retrieve(tokens, k=TOP_K, show_progress=False, n_threads=1)

    best, results = {"ours": float("inf"), "bm25s": float("inf")}, {}
    for _ in range(repeats):
        for name, fn in [("ours", run_ours), ("bm25s", run_ref)]:
            t = time.perf_counter()
            results[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t)
    ours_hits = [([row[doc] for doc, _ in hits], [s for _, s in hits]) for hits in results["ours"]]
    ref_hits = list(zip(*results["bm25s"]))  # bm25s: (documents (Q, k), scores (Q, k))
    qps = {name: len(queries) / seconds for name, seconds in best.items()}
    print(f"queries/s (best of {repeats}): ours {qps['ours']:.0f}, bm25s {qps['bm25s']:.0f}", flush=True)

    # bm25s and rank_bm25 on our own tokens: the same terms, so only the scoring differs.
    analyze = ours.index.analyzer
    doc_tokens, query_tokens = [analyze(t) for t in texts], [analyze(q) for q in query_texts]
    same = bm25s.BM25(method="lucene", k1=K1, b=B)
    same.index(doc_tokens, show_progress=False)
    same_hits = list(zip(*same.retrieve(query_tokens, k=TOP_K, show_progress=False, n_threads=1)))
    okapi = BM25Okapi(doc_tokens, k1=K1, b=B)
    t = time.perf_counter()
    okapi_scores = [okapi.get_scores(q) for q in query_tokens]
    okapi_qps = len(queries) / (time.perf_counter() - t)
    okapi_hits = [top_k(s) for s in okapi_scores]

    quality = {name: scored(qrels, query_ids, doc_ids, hits) for name, hits in
               [("bm25", ours_hits), ("bm25s", ref_hits), ("bm25s_our_tokens", same_hits), ("rank_bm25", okapi_hits)]}
    for name, q in quality.items():
        print(f"{name:>16}: nDCG@10 {q['ndcg@10']:.4f}  Recall@100 {q['recall@100']:.4f}  MRR@10 {q['mrr@10']:.4f}")
    return {
        "bm25_ndcg10": quality["bm25"]["ndcg@10"], "bm25s_ndcg10": quality["bm25s"]["ndcg@10"],
        "bm25_qps": round(qps["ours"], 1), "bm25s_qps": round(qps["bm25s"], 1),
        "bm25_qps_ratio": round(qps["ours"] / qps["bm25s"], 3),
        "bm25s_our_tokens_ndcg10": quality["bm25s_our_tokens"]["ndcg@10"],
        "rank_bm25_ndcg10": quality["rank_bm25"]["ndcg@10"], "rank_bm25_qps": round(okapi_qps, 1),
        "bm25_quality": quality, "bm25_k1": K1, "bm25_b": B,
        "bm25_index_seconds": {"ours": round(ours_build, 3), "bm25s": round(ref_build, 3)},
    }


# Each section takes the loaded data and --repeats and returns its keys of the JSON line.
SECTIONS = {"lexical": lexical}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per system; the best counts")
    ap.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    args = ap.parse_args()
    load_before = os.getloadavg()
    data = {"docs": load_corpus(), "queries": load_queries("test"), "qrels": load_qrels("test")}
    print(f"SciFact: {len(data['docs'])} documents, {len(data['queries'])} test queries; "
          f"load average {load_before}", flush=True)
    result = {"benchmark": "retrieval_vs_refs", "dataset": "scifact/test", "queries": len(data["queries"]),
              "top_k": TOP_K}
    for name in args.sections:
        result.update(SECTIONS[name](data, args.repeats))
    result.update({"repeats": args.repeats, "cpus": os.cpu_count(),
                   "load_average_before": [round(x, 2) for x in load_before],
                   "load_average_after": [round(x, 2) for x in os.getloadavg()]})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
