"""Principal component analysis: the few directions along which a set of vectors varies most.

The covariance matrix Σ = (1/n) Σᵢ (xᵢ − μ)(xᵢ − μ)ᵀ of the vectors is symmetric, so it has
orthonormal eigenvectors; the eigenvalue of each is the variance of the data along it. Keeping the
r eigenvectors of largest eigenvalue as the columns of W (d, r) and mapping x ↦ Wᵀ(x − μ) keeps as
much of the variance as any r-dimensional linear map can (Pearson 1901; Hotelling 1933). Distances
between the mapped points are the original distances without the dropped directions, which carry
the least variance.

Why a datastore wants it: every search reads its candidate keys from memory, so the cost of kNN
retrieval is proportional to the key width. He et al. (2021, "Efficient Nearest Neighbor Language
Models") reduce kNN-LM's keys with PCA and keep its perplexity comparable at a fraction of the cost:
the directions of least variance contribute little to which keys are nearest.
"""

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class PCA:
    mean: np.ndarray        # (d,) float32, μ
    components: np.ndarray  # (d, r) float32, W: unit eigenvectors of Σ, largest variance first
    explained: float        # the fraction of the total variance that the r directions keep

    @classmethod
    def fit(cls, x: np.ndarray, r: int) -> "PCA":
        """The top ``r`` principal directions of the rows of x (n, d)."""
        x = np.asarray(x, dtype=np.float64)
        n, d = x.shape
        if not 1 <= r <= d or n < 2:
            raise ValueError(f"PCA needs 1 <= r <= d and at least 2 points; got r={r} for {n} points of {d}")
        mean = x.mean(0)
        centred = x - mean
        variances, vectors = np.linalg.eigh(centred.T @ centred / n)  # ascending eigenvalues
        top = np.argsort(variances)[::-1][:r]
        explained = float(variances[top].sum() / max(variances.sum(), 1e-30))
        return cls(mean.astype(np.float32), np.ascontiguousarray(vectors[:, top], dtype=np.float32), explained)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x (n, d) → its coordinates along the principal directions (n, r), float32.

        The product runs on torch's threads, not NumPy's BLAS: a datastore projects its queries
        between a model's torch operations, and a second thread pool spinning on the same cores
        slows both down (twice as slow, measured on 2 cores)."""
        centred = torch.from_numpy(np.asarray(x, dtype=np.float32) - self.mean)
        return (centred @ torch.from_numpy(self.components)).numpy()
