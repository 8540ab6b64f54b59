"""Our IVF index vs faiss's IndexIVFFlat on real sentence embeddings, in one run.

    SCRATCHML_DATA=... python benchmarks/ivf_vs_faiss.py [--nlist 1024] [--nprobe 16] [--threads 1]

Vectors: the distinct English sentences of spa.txt (about 100,000 after removing the queries),
embedded by our encoder (all-MiniLM-L6-v2 weights, 384 dimensions, L2-normalized) and cached in
``--cache``. Queries: 1,000 other sentences of the same kind, held out. Both indexes get the same
vectors, nlist and nprobe, and score by inner product (faiss: an IndexFlatIP quantizer,
METRIC_INNER_PRODUCT). The truth is exact search (our matrix-product search, checked against
NumPy in the tests). Speed: one batch of all queries, best of ``--repeats``, with the same number of
threads on both sides. Last line: JSON with n_vectors, recall_ours, recall_faiss (recall@10 against
exact search), qps_ours, qps_faiss, qps_ratio (ours / faiss).
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

QUERIES = 1000
K = 10


def sentences(n_queries: int, seed: int = 0) -> tuple[list[str], list[str]]:
    from scratchml.translate.corpus import load_pairs

    unique = sorted({en for en, _ in load_pairs()})
    rng = np.random.default_rng(seed)
    held = set(rng.choice(len(unique), n_queries, replace=False).tolist())
    return [s for i, s in enumerate(unique) if i not in held], [unique[i] for i in sorted(held)]


def embeddings(texts: list[str], cache: Path) -> np.ndarray:
    if cache.exists():
        vectors = np.load(cache, allow_pickle=False)
        if len(vectors) == len(texts):
            return vectors
    from scratchml.retrieve import Encoder

    vectors = Encoder.load().encode(texts, batch_size=256, progress=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / truth.shape[1] for f, t in zip(found, truth)]))


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="BLAS / OpenMP threads of both libraries")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=Path("runs/bench/tatoeba_en_minilm.npy"))
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before NumPy's BLAS and faiss start
    import faiss
    from threadpoolctl import threadpool_limits

    from scratchml.retrieve import ExactIndex, IVFIndex

    faiss.omp_set_num_threads(args.threads)
    corpus, queries = sentences(QUERIES)
    both = embeddings(corpus + queries, args.cache.with_suffix(f".{len(corpus) + len(queries)}.npy"))
    x, q = both[:len(corpus)], both[len(corpus):]
    print(f"{len(x)} vectors of {x.shape[1]} dimensions, {len(q)} queries; nlist {args.nlist}, "
          f"nprobe {args.nprobe}, {args.threads} thread(s)", flush=True)
    with threadpool_limits(args.threads):
        _, truth = ExactIndex(x).search(q, K)
        t = time.perf_counter()
        ours = IVFIndex.build(x, args.nlist)
        ours_build = time.perf_counter() - t
        t = time.perf_counter()
        ref = faiss.IndexIVFFlat(faiss.IndexFlatIP(x.shape[1]), x.shape[1], args.nlist, faiss.METRIC_INNER_PRODUCT)
        ref.train(x)
        ref.add(x)
        ref.nprobe = args.nprobe
        ref_build = time.perf_counter() - t
        ours_s, (_, ours_ids) = best_time(lambda: ours.search(q, K, args.nprobe), args.repeats)
        ref_s, (_, ref_ids) = best_time(lambda: ref.search(q, K), args.repeats)
    result = {"benchmark": "ivf_vs_faiss", "n_vectors": len(x), "dim": int(x.shape[1]), "queries": len(q),
              "nlist": args.nlist, "nprobe": args.nprobe, "threads": args.threads,
              "recall_ours": round(recall(ours_ids, truth), 4), "recall_faiss": round(recall(ref_ids, truth), 4),
              "qps_ours": round(len(q) / ours_s, 1), "qps_faiss": round(len(q) / ref_s, 1),
              "qps_ratio": round(ref_s / ours_s, 3),
              "build_seconds": {"ours": round(ours_build, 2), "faiss": round(ref_build, 2)}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
