"""Exact and IVF vector search, and the k-means under IVF, against NumPy brute force, scikit-learn
and faiss."""

import numpy as np
import pytest

from scratchml.retrieve.kmeans import kmeans, nearest_centroid
from scratchml.retrieve.vectors import ExactIndex, IVFIndex, top_k


def clustered(n: int, d: int, clusters: int, seed: int = 0, spread: float = 0.6) -> np.ndarray:
    """Unit vectors around random centres: the shape real sentence embeddings have."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    x = centres[rng.integers(clusters, size=n)] + spread * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def brute_force(vectors, queries, k):
    scores = queries.astype(np.float64) @ vectors.T.astype(np.float64)
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, ids, 1), ids


def test_top_k_equals_a_full_sort():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(7, 50)).astype(np.float32)
    for k in (1, 5, 50, 80):
        vals, cols = top_k(scores, k)
        ref = np.argsort(-scores, axis=1)[:, :k]
        np.testing.assert_array_equal(cols, ref)
        np.testing.assert_array_equal(vals, np.take_along_axis(scores, ref, 1))


def test_exact_search_equals_brute_force():
    x, q = clustered(3000, 32, 20), clustered(300, 32, 20, seed=1)
    scores, ids = ExactIndex(x).search(q, k=10)
    ref_scores, ref_ids = brute_force(x, q, 10)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    assert (ids == ref_ids).mean() > 0.999  # ties in float32 may swap a pair


def test_kmeans_centroids_are_the_means_of_their_points_and_fit_like_sklearn():
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    x = clustered(4000, 16, 12, spread=0.3)
    centroids = kmeans(x, 12, iterations=50, seed=0, max_points_per_centroid=1000)  # no sampling
    assign, dist = nearest_centroid(x, centroids)
    for c in range(12):  # converged: each centroid is the mean of the points it holds
        np.testing.assert_allclose(centroids[c], x[assign == c].mean(0), atol=1e-3)
    ref = sklearn_cluster.KMeans(12, n_init=1, random_state=0).fit(x)
    ours = float(((x - centroids[assign]) ** 2).sum())
    np.testing.assert_allclose(dist.sum(), ours, rtol=1e-3)
    assert ours <= 1.05 * ref.inertia_, (ours, ref.inertia_)


def test_kmeans_refills_empty_clusters():
    x = np.repeat(np.eye(4, dtype=np.float32), 50, axis=0) + 1e-3  # 4 tight clusters, ask for 8
    centroids = kmeans(x, 8, iterations=10)
    assign, _ = nearest_centroid(x, centroids)
    assert len(np.unique(assign)) >= 4 and np.isfinite(centroids).all()


def test_ivf_probing_every_list_is_exact():
    x, q = clustered(2000, 24, 10), clustered(100, 24, 10, seed=2)
    ivf = IVFIndex.build(x, nlist=16)
    scores, ids = ivf.search(q, k=5, nprobe=16)
    ref_scores, _ = brute_force(x, q, 5)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    np.testing.assert_allclose((q[:, None, :] * x[ids]).sum(-1), scores, atol=1e-5)  # ids match scores


def test_ivf_add_keeps_ids_in_order_of_addition():
    x = clustered(1500, 16, 8)
    whole = IVFIndex.build(x, nlist=8, seed=3)
    split = IVFIndex(whole.centroids.copy(), np.empty((0, 16), np.float32), np.empty(0, np.int64),
                     np.zeros(9, np.int64)).add(x[:700]).add(x[700:])
    q = clustered(50, 16, 8, seed=4)
    for a, b in zip(whole.search(q, 10, nprobe=3), split.search(q, 10, nprobe=3)):
        np.testing.assert_array_equal(a, b)


def test_ivf_recall_matches_faiss_ivfflat_with_the_same_nlist_and_nprobe():
    faiss = pytest.importorskip("faiss")
    x, q = clustered(20_000, 32, 200), clustered(500, 32, 200, seed=5)
    _, truth = brute_force(x, q, 10)
    nlist, nprobe = 64, 4
    _, ours = IVFIndex.build(x, nlist).search(q, 10, nprobe)
    ref = faiss.IndexIVFFlat(faiss.IndexFlatL2(32), 32, nlist, faiss.METRIC_INNER_PRODUCT)
    ref.train(x)
    ref.add(x)
    ref.nprobe = nprobe
    _, theirs = ref.search(q, 10)

    def recall(found):
        return np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])

    assert recall(ours) >= recall(theirs) - 0.03, (recall(ours), recall(theirs))
    assert recall(ours) < 1.0  # approximate: some neighbours lie in cells not probed


def test_wrong_dimension_is_a_clear_error():
    from scratchml.errors import ScratchMLError

    with pytest.raises(ScratchMLError, match="shape"):
        ExactIndex(np.zeros((5, 8), np.float32)).search(np.zeros((2, 7), np.float32))
    with pytest.raises(ScratchMLError, match="at least 10 vectors"):
        IVFIndex.build(np.zeros((5, 8), np.float32), nlist=10)


def test_indexes_survive_a_save_and_refuse_broken_files(tmp_path):
    from scratchml.errors import ScratchMLError

    x, q = clustered(500, 8, 5), clustered(20, 8, 5, seed=6)
    cases = ((ExactIndex(x), lambda i: i.search(q, 5)), (IVFIndex.build(x, 8), lambda i: i.search(q, 5, 2)))
    for index, search in cases:
        path = tmp_path / f"{type(index).__name__}.npz"
        index.save(path)
        again = type(index).load(path)
        for a, b in zip(search(index), search(again)):
            np.testing.assert_array_equal(a, b)
        path.write_bytes(path.read_bytes()[:200])
        with pytest.raises(ScratchMLError, match="not a scratchml vector index file"):
            type(index).load(path)
    with pytest.raises(ScratchMLError, match="no such vector index file"):
        IVFIndex.load(tmp_path / "missing.npz")
