"""k-means clustering (Lloyd 1982), the coarse quantizer of an IVF index.

Each of ``k`` centroids is the mean of the points nearest to it. Lloyd's algorithm alternates the
two halves of that definition until it holds: assign every point to its nearest centroid, then move
every centroid to the mean of its points. Each round cannot increase the sum of squared distances,
so it converges, to a local optimum that depends on the start.

- Start: ``k`` distinct points drawn at random (what faiss does; k-means++ of Arthur & Vassilvitskii
  2007 spreads the start better but costs k passes over the data, and an IVF index needs only
  roughly even cells, not the best ones).
- Distances: ||x - c||² = ||x||² - 2 x·c + ||c||², so the nearest centroid of a block of points is
  one matrix product away; ||x||² is the same for every centroid and drops out of the argmin.
- An empty cluster takes over half of the largest one: its centroid moves next to the largest's,
  slightly perturbed, and the two split its points in the next round (faiss does the same).
- Training on a sample of at most ``max_points_per_centroid`` × k points is as good for the index
  and much faster (faiss's default, 256).
"""

import numpy as np

BLOCK = 16_384  # points per matrix product: bounds the (BLOCK, k) distance matrix


def nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of x (n, d): the index of its nearest centroid (k, d) and the squared distance."""
    c_sq = (centroids * centroids).sum(1)  # (k,)
    assign = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), BLOCK):
        block = x[start:start + BLOCK]
        d = c_sq[None, :] - 2.0 * (block @ centroids.T)  # (b, k): ||x-c||² without the constant ||x||²
        a = d.argmin(1)
        assign[start:start + BLOCK] = a
        dist[start:start + BLOCK] = d[np.arange(len(block)), a] + (block * block).sum(1)
    return assign, np.maximum(dist, 0.0)


def cluster_sums(x: np.ndarray, assign: np.ndarray, k: int) -> np.ndarray:
    """The sum of the rows of x (n, d) in each of k clusters, (k, d): the points
    sorted by cluster, then one ``np.add.reduceat`` over the runs (far faster than ``np.add.at``)."""
    order = np.argsort(assign, kind="stable")
    sorted_assign = assign[order]
    starts = np.flatnonzero(np.r_[True, sorted_assign[1:] != sorted_assign[:-1]])
    sums = np.zeros((k, x.shape[1]), dtype=np.float32)
    sums[sorted_assign[starts]] = np.add.reduceat(x[order], starts, axis=0)
    return sums


def kmeans(x: np.ndarray, k: int, iterations: int = 20, seed: int = 0,
           max_points_per_centroid: int = 256) -> np.ndarray:
    """Centroids (k, d) float32 of the rows of x (n, d), n >= k."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    if not 1 <= k <= n:
        raise ValueError(f"k-means needs 1 <= k <= points; got k={k} for {n} points")
    rng = np.random.default_rng(seed)
    if n > k * max_points_per_centroid:
        x = x[np.sort(rng.choice(n, k * max_points_per_centroid, replace=False))]
    centroids = x[rng.choice(len(x), k, replace=False)].copy()
    for _ in range(iterations):
        assign, _ = nearest_centroid(x, centroids)
        counts = np.bincount(assign, minlength=k)
        full = counts > 0
        centroids[full] = cluster_sums(x, assign, k)[full] / counts[full, None]
        for empty in np.flatnonzero(~full):  # split the largest cluster
            largest = counts.argmax()
            noise = rng.normal(scale=1e-4, size=d).astype(np.float32)
            centroids[empty] = centroids[largest] + noise
            centroids[largest] -= noise
            counts[empty] = counts[largest] // 2
            counts[largest] -= counts[empty]
    return centroids
