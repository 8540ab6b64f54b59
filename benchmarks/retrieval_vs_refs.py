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

Dense section (all-MiniLM-L6-v2's weights, batches of 32, texts cut to 256 tokens on both sides):
- ours: ``scratchml.retrieve.Encoder`` (float32), exact search by ``ExactIndex``;
- sentence-transformers' ``SentenceTransformer.encode`` on the same folder, searched the same way.
Both encode the 5,183 abstracts in turns of 1,024, so that a busy spell of this shared machine falls
on both; ``encode_ratio`` is ours / theirs in passages per second (higher: ours faster).

Hybrid section: our BM25 and our dense top 100 fused by reciprocal rank (k = 60), and by a convex
combination of min-max scores whose dense weight is the best of 0.0, 0.1 .. 1.0 on SciFact's
*training* claims, then applied once to the test claims.

Fine-tuned section (``--finetuned DIR``, a model folder from ``scratchml rag finetune``): the same
dense and hybrid runs with that encoder; without the flag its keys are null.

Quality: nDCG@10, Recall@100 and MRR@10 of each run, by ``scratchml.retrieve.metrics`` (equal to
pytrec_eval's in the tests). The last stdout line is one JSON object: the keys of every section.

Usage: ``SCRATCHML_DATA=... python benchmarks/retrieval_vs_refs.py [--repeats 5] [--finetuned DIR]``
"""

import argparse
import json
import os
import time

import bm25s
import numpy as np
import Stemmer
from rank_bm25 import BM25Okapi

from scratchml.retrieve import (
    BM25,
    Encoder,
    ExactIndex,
    convex_combination,
    evaluate,
    load_corpus,
    load_qrels,
    load_queries,
    minilm_dir,
    reciprocal_rank_fusion,
)
from scratchml.retrieve.bm25 import K1, B

TOP_K = 100  # Recall@100 needs the top 100
BATCH, MAX_LENGTH, TURN = 32, 256, 1024  # encoding: texts per batch, tokens per text, texts per turn
WEIGHTS = [w / 10 for w in range(11)]  # dense weights tried on the training claims


def scored(qrels, query_ids, doc_ids, hits) -> dict[str, float]:
    """nDCG@10, Recall@100 and MRR@10 of ``hits`` (per query: (document rows, scores))."""
    run = {q: {doc_ids[r]: float(s) for r, s in zip(rows, scores)} for q, (rows, scores) in zip(query_ids, hits)}
    return {name: round(value, 4) for name, value in evaluate(qrels, run).items()}


def top_k(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) of the TOP_K best documents of one query's (N,) scores."""
    top = np.argsort(-scores, kind="stable")[:TOP_K]
    return top, scores[top]


def lexical(data: dict, args) -> dict:
    repeats = args.repeats
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


def rankings(hits_rows, scores, doc_ids) -> list[dict[str, float]]:
    """Per query: document id -> score, from (Q, k) rows and scores."""
    return [{doc_ids[r]: float(s) for r, s in zip(rows, row_scores)} for rows, row_scores in zip(hits_rows, scores)]


def dense_rankings(vectors: np.ndarray, queries: np.ndarray, doc_ids: list[str]) -> list[dict[str, float]]:
    scores, rows = ExactIndex(vectors).search(queries, TOP_K)  # (Q, k) each
    return rankings(rows, scores, doc_ids)


def bm25_rankings(bm25: BM25, texts: list[str]) -> list[dict[str, float]]:
    return [dict(hits) for hits in bm25.search_batch(texts, TOP_K)]


def quality(qrels, query_ids, runs: list[dict[str, float]]) -> dict[str, float]:
    return {name: round(value, 4) for name, value in evaluate(qrels, dict(zip(query_ids, runs))).items()}


def hybrid_runs(data: dict, encoder: Encoder, corpus_vectors: np.ndarray) -> dict:
    """RRF and the convex combination (its weight chosen on the training claims) of BM25 and ``encoder``."""
    doc_ids = [d.id for d in data["docs"]]
    bm25 = BM25.build([d.contents for d in data["docs"]], doc_ids, k1=K1, b=B)
    out = {}
    for split in ("train", "test"):
        queries, qrels = data[f"{split}_queries"], data[f"{split}_qrels"]
        texts = list(queries.values())
        lexical_run = bm25_rankings(bm25, texts)
        dense_run = dense_rankings(corpus_vectors, encoder.encode(texts, batch_size=BATCH), doc_ids)
        out[split] = (list(queries), qrels, lexical_run, dense_run)
    ids, qrels, lexical_run, dense_run = out["train"]
    by_weight = {w: quality(qrels, ids, [convex_combination(d, s, w) for d, s in zip(dense_run, lexical_run)])
                 ["ndcg@10"] for w in WEIGHTS}
    weight = max(WEIGHTS, key=lambda w: (by_weight[w], -abs(w - 0.5)))  # ties: the more even mix
    ids, qrels, lexical_run, dense_run = out["test"]
    rrf = quality(qrels, ids, [reciprocal_rank_fusion([d, s]) for d, s in zip(dense_run, lexical_run)])
    convex = quality(qrels, ids, [convex_combination(d, s, weight) for d, s in zip(dense_run, lexical_run)])
    print("convex weights on the training claims (nDCG@10): "
          + ", ".join(f"{w:.1f}: {v:.4f}" for w, v in by_weight.items()), flush=True)
    return {"rrf": rrf, "convex": convex, "convex_weight": weight, "convex_train_ndcg10": by_weight}


def encode_side_by_side(texts: list[str], ours: Encoder, reference) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Both encoders over ``texts`` in alternating turns; (our vectors, theirs, our seconds, theirs)."""
    mine, theirs, seconds = [], [], {"ours": 0.0, "st": 0.0}
    for start in range(0, len(texts), TURN):
        part = texts[start:start + TURN]
        t = time.perf_counter()
        mine.append(ours.encode(part, batch_size=BATCH, max_length=MAX_LENGTH))
        seconds["ours"] += time.perf_counter() - t
        t = time.perf_counter()
        theirs.append(reference.encode(part, batch_size=BATCH, convert_to_numpy=True, normalize_embeddings=True))
        seconds["st"] += time.perf_counter() - t
        print(f"  encoded {start + len(part)}/{len(texts)}: ours {seconds['ours']:.0f} s, "
              f"sentence-transformers {seconds['st']:.0f} s", flush=True)
    return np.concatenate(mine), np.concatenate(theirs).astype(np.float32), seconds["ours"], seconds["st"]


def dense(data: dict, args) -> dict:
    from sentence_transformers import SentenceTransformer

    folder = minilm_dir()
    ours, reference = Encoder.load(folder), SentenceTransformer(str(folder), device="cpu")
    reference.max_seq_length = MAX_LENGTH
    texts, doc_ids = [d.contents for d in data["docs"]], [d.id for d in data["docs"]]
    query_ids, query_texts, qrels = list(data["queries"]), list(data["queries"].values()), data["qrels"]
    mine, theirs, our_s, their_s = encode_side_by_side(texts, ours, reference)
    cos = (mine * theirs).sum(1)
    q_mine = ours.encode(query_texts, batch_size=BATCH)
    q_theirs = reference.encode(query_texts, batch_size=BATCH, convert_to_numpy=True, normalize_embeddings=True)
    ours_q = quality(qrels, query_ids, dense_rankings(mine, q_mine, doc_ids))
    st_q = quality(qrels, query_ids, dense_rankings(theirs.astype(np.float32), q_theirs.astype(np.float32), doc_ids))
    rate = {"ours": len(texts) / our_s, "st": len(texts) / their_s}
    print(f"dense: ours nDCG@10 {ours_q['ndcg@10']:.4f}, sentence-transformers {st_q['ndcg@10']:.4f}; passages/s "
          f"ours {rate['ours']:.1f}, sentence-transformers {rate['st']:.1f}; cosine min {cos.min():.6f}", flush=True)
    hybrid = hybrid_runs(data, ours, mine)
    print(f"hybrid: RRF nDCG@10 {hybrid['rrf']['ndcg@10']:.4f}, convex (w = {hybrid['convex_weight']}) "
          f"{hybrid['convex']['ndcg@10']:.4f}", flush=True)
    return {
        "dense_ndcg10": ours_q["ndcg@10"], "st_ndcg10": st_q["ndcg@10"],
        "dense_passages_per_s": round(rate["ours"], 1), "st_passages_per_s": round(rate["st"], 1),
        "encode_ratio": round(rate["ours"] / rate["st"], 3), "dense_st_cosine_min": round(float(cos.min()), 6),
        "dense_quality": {"ours": ours_q, "sentence_transformers": st_q},
        "hybrid_ndcg10": hybrid["rrf"]["ndcg@10"], "hybrid_convex_ndcg10": hybrid["convex"]["ndcg@10"],
        "hybrid_convex_weight": hybrid["convex_weight"], "hybrid_quality": {"rrf": hybrid["rrf"],
                                                                             "convex": hybrid["convex"]},
        "hybrid_convex_train_ndcg10": hybrid["convex_train_ndcg10"],
    }


def finetuned(data: dict, args) -> dict:
    if not args.finetuned:
        print("fine-tuned: no --finetuned DIR given (make one with scratchml rag finetune); keys left null")
        return {"finetuned_ndcg10": None, "finetuned_hybrid_ndcg10": None, "finetuned_model": None}
    encoder = Encoder.load(args.finetuned)
    doc_ids = [d.id for d in data["docs"]]
    vectors = encoder.encode([d.contents for d in data["docs"]], batch_size=BATCH, max_length=MAX_LENGTH)
    q = quality(data["qrels"], list(data["queries"]),
                dense_rankings(vectors, encoder.encode(list(data["queries"].values()), batch_size=BATCH), doc_ids))
    hybrid = hybrid_runs(data, encoder, vectors)
    print(f"fine-tuned: dense nDCG@10 {q['ndcg@10']:.4f}, hybrid RRF {hybrid['rrf']['ndcg@10']:.4f}, convex "
          f"(w = {hybrid['convex_weight']}) {hybrid['convex']['ndcg@10']:.4f}", flush=True)
    return {"finetuned_ndcg10": q["ndcg@10"], "finetuned_quality": q, "finetuned_model": str(args.finetuned),
            "finetuned_hybrid_ndcg10": hybrid["rrf"]["ndcg@10"],
            "finetuned_hybrid_convex_ndcg10": hybrid["convex"]["ndcg@10"],
            "finetuned_hybrid_convex_weight": hybrid["convex_weight"]}


# Each section takes the loaded data and the arguments and returns its keys of the JSON line.
SECTIONS = {"lexical": lexical, "dense": dense, "finetuned": finetuned}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per system; the best counts")
    ap.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    ap.add_argument("--finetuned", metavar="DIR", help="a fine-tuned encoder's folder (scratchml rag finetune's "
                    "OUT/model)")
    args = ap.parse_args()
    load_before = os.getloadavg()
    data = {"docs": load_corpus(), "queries": load_queries("test"), "qrels": load_qrels("test"),
            "train_queries": load_queries("train"), "train_qrels": load_qrels("train")}
    data["train_queries"] = {q: t for q, t in data["train_queries"].items() if q in data["train_qrels"]}
    data["test_queries"], data["test_qrels"] = data["queries"], data["qrels"]
    print(f"SciFact: {len(data['docs'])} documents, {len(data['queries'])} test queries; "
          f"load average {load_before}", flush=True)
    result = {"benchmark": "retrieval_vs_refs", "dataset": "scifact/test", "queries": len(data["queries"]),
              "top_k": TOP_K}
    for name in args.sections:
        result.update(SECTIONS[name](data, args))
    result.update({"repeats": args.repeats, "cpus": os.cpu_count(),
                   "load_average_before": [round(x, 2) for x in load_before],
                   "load_average_after": [round(x, 2) for x in os.getloadavg()]})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
