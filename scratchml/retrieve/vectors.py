"""Nearest-neighbour search over embeddings: exact, and approximate with an inverted file (IVF).

Both score by inner product, which for L2-normalized embeddings is the cosine similarity.

Exact search multiplies the queries (q, d) by all vectors (n, d)ᵀ and keeps the k best of each
row: O(q·n·d), one BLAS matrix product, and for n up to a few hundred thousand on a CPU as fast as
anything. ``np.argpartition`` finds the k best in O(n) without sorting the row; only those k are
sorted.

IVF (Sivic & Zisserman 2003, "Video Google"; Jégou et al. 2011, as faiss's IndexIVFFlat) avoids
looking at every vector: k-means (kmeans.py) cuts the space into ``nlist`` cells; each vector is
stored in the list of its nearest centroid; a query looks only in the lists of its ``nprobe``
nearest centroids, about nprobe/nlist of the data. A true neighbour is missed when it lies in a
cell the query does not probe, so recall rises with nprobe, and speed falls.

Searching a batch, the work is grouped by list rather than by query: all the queries that probe
list l are scored against it in one matrix product (m, d) × (d, n_l), and each keeps its k best from
that list; a final top-k over the nprobe × k candidates of each query gives the answer.
"""

from pathlib import Path

import numpy as np

from scratchml.errors import ScratchMLError
from scratchml.retrieve.kmeans import kmeans, nearest_centroid
from scratchml.retrieve.store import load_npz, save_npz

VERSION = 1


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest of each row of scores (q, n), best first: (values (q, k'), columns (q, k')),
    k' = min(k, n)."""
    k = min(k, scores.shape[1])
    if k == 0:
        return np.empty((len(scores), 0), scores.dtype), np.empty((len(scores), 0), np.int64)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else \
        np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    vals = np.take_along_axis(scores, part, 1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(vals, order, 1), np.take_along_axis(part, order, 1)


def _as_matrix(x, d: int | None = None) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or (d is not None and x.shape[1] != d):
        raise ScratchMLError(f"expected vectors of shape (n, {d or 'd'}), got {x.shape}")
    return x


class ExactIndex:
    """All vectors, searched by one matrix product per block of queries."""

    BLOCK = 1024  # queries per product: bounds the (BLOCK, n) score matrix

    def __init__(self, vectors: np.ndarray):
        self.vectors = _as_matrix(vectors)  # (n, d)

    def __len__(self) -> int:
        return len(self.vectors)

    def save(self, path: str | Path) -> None:
        save_npz(path, {"format": "scratchml.retrieve.ExactIndex", "version": VERSION}, {"vectors": self.vectors})

    @classmethod
    def load(cls, path: str | Path) -> "ExactIndex":
        _, arrays = load_npz(path, "scratchml.retrieve.ExactIndex", VERSION, "vector index")
        if "vectors" not in arrays or arrays["vectors"].ndim != 2:
            raise ScratchMLError(f"{path}: vector index file is incomplete; rebuild it")
        return cls(arrays["vectors"])

    def search(self, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(scores (q, k), ids (q, k)) of the k vectors with the largest inner product, best first."""
        queries = _as_matrix(queries, self.vectors.shape[1])
        out = [top_k(queries[s:s + self.BLOCK] @ self.vectors.T, k) for s in range(0, len(queries), self.BLOCK)]
        if not out:
            return np.empty((0, min(k, len(self))), np.float32), np.empty((0, min(k, len(self))), np.int64)
        return np.concatenate([s for s, _ in out]), np.concatenate([i for _, i in out])


class IVFIndex:
    """Inverted lists of vectors, one per k-means cell; the lists are stored back to back
    (``vectors`` sorted by cell, ``offsets[l]:offsets[l+1]`` is list l, ``ids`` their row numbers)."""

    def __init__(self, centroids: np.ndarray, vectors: np.ndarray, ids: np.ndarray, offsets: np.ndarray):
        self.centroids, self.vectors = centroids, vectors  # (nlist, d), (n, d)
        self.ids, self.offsets = ids, offsets              # (n,), (nlist + 1,)

    @classmethod
    def build(cls, vectors: np.ndarray, nlist: int, iterations: int = 20, seed: int = 0) -> "IVFIndex":
        """Train the cells on the vectors (n >= nlist) and file every vector in its cell."""
        vectors = _as_matrix(vectors)
        if len(vectors) < nlist:
            raise ScratchMLError(f"an IVF index of {nlist} lists needs at least {nlist} vectors, got {len(vectors)}")
        centroids = kmeans(vectors, nlist, iterations=iterations, seed=seed)
        return cls(centroids, np.empty((0, vectors.shape[1]), np.float32), np.empty(0, np.int64),
                   np.zeros(nlist + 1, np.int64)).add(vectors)

    @property
    def nlist(self) -> int:
        return len(self.centroids)

    def __len__(self) -> int:
        return len(self.ids)

    def save(self, path: str | Path) -> None:
        save_npz(path, {"format": "scratchml.retrieve.IVFIndex", "version": VERSION},
                 {"centroids": self.centroids, "vectors": self.vectors, "ids": self.ids, "offsets": self.offsets})

    @classmethod
    def load(cls, path: str | Path) -> "IVFIndex":
        _, a = load_npz(path, "scratchml.retrieve.IVFIndex", VERSION, "vector index")
        try:
            index = cls(a["centroids"], a["vectors"], a["ids"], a["offsets"])
            n, nlist = len(index.ids), len(index.centroids)
            ok = (index.vectors.shape == (n, index.centroids.shape[1]) and index.offsets.shape == (nlist + 1,)
                  and index.offsets[0] == 0 and index.offsets[-1] == n and (np.diff(index.offsets) >= 0).all())
        except (KeyError, IndexError, ValueError):
            ok = False
        if not ok:
            raise ScratchMLError(f"{path}: vector index file is incomplete or inconsistent; rebuild it")
        return index

    def add(self, vectors: np.ndarray) -> "IVFIndex":
        """File more vectors (their ids continue the count); the cells stay as trained."""
        vectors = _as_matrix(vectors, self.centroids.shape[1])
        cell, _ = nearest_centroid(vectors, self.centroids)
        old_cell = np.repeat(np.arange(self.nlist), np.diff(self.offsets))
        all_cell = np.concatenate([old_cell, cell])
        order = np.argsort(all_cell, kind="stable")  # by cell; within a cell, by id
        self.vectors = np.concatenate([self.vectors, vectors])[order]
        self.ids = np.concatenate([self.ids, len(self.ids) + np.arange(len(vectors))])[order]
        self.offsets = np.r_[0, np.cumsum(np.bincount(all_cell, minlength=self.nlist))]
        return self

    def search(self, queries: np.ndarray, k: int = 10, nprobe: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """(scores (q, k), ids (q, k)) of the best k vectors in the ``nprobe`` cells nearest to each
        query, best first; a query that finds fewer than k gets -inf scores and id -1 at the end."""
        queries = _as_matrix(queries, self.centroids.shape[1])
        nprobe = min(nprobe, self.nlist)
        q = len(queries)
        # The cells to probe: nearest centroids in L2, as the vectors were filed.
        c_sq = (self.centroids * self.centroids).sum(1)
        _, probe = top_k(-(c_sq[None, :] - 2.0 * queries @ self.centroids.T), nprobe)  # (q, nprobe)
        cand_scores = np.full((q, nprobe, k), -np.inf, dtype=np.float32)
        cand_ids = np.full((q, nprobe, k), -1, dtype=np.int64)
        # Group the (query, probe rank) pairs by cell: one matrix product per cell.
        flat = probe.ravel()
        order = np.argsort(flat, kind="stable")
        cells, starts = np.unique(flat[order], return_index=True)
        ends = np.r_[starts[1:], len(order)]
        for cell, s, e in zip(cells.tolist(), starts.tolist(), ends.tolist()):
            lo, hi = self.offsets[cell], self.offsets[cell + 1]
            if hi == lo:
                continue
            pairs = order[s:e]
            rows, ranks = pairs // nprobe, pairs % nprobe
            vals, cols = top_k(queries[rows] @ self.vectors[lo:hi].T, k)  # (m, k')
            cand_scores[rows, ranks, :vals.shape[1]] = vals
            cand_ids[rows, ranks, :vals.shape[1]] = self.ids[lo + cols]
        vals, cols = top_k(cand_scores.reshape(q, -1), k)
        return vals, np.take_along_axis(cand_ids.reshape(q, -1), cols, 1)
